import cluster from 'node:cluster';
import { fstatSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseHostPort } from '../../config/addresses.js';
import { clientConfigPath, serverConfigPath } from '../../config/paths.js';
import { advertisesLoopbackOnly, defaultServerUrl, type ServerConfig } from '../../config/server-config.js';
import { fileExists, loadClientConfig, loadServerConfig, updateServerConfig } from '../../config/store.js';
import { errnoCode, PsimbolsError } from '../../errors.js';
import { createLogger, type LogFormat, type Logger } from '../../server/observe/log.js';
import { startServer } from '../../server/http/start-server.js';
import type { ConfigFlags } from '../../server/core/reload.js';
import { redactUrl } from '../../server/admission/create-store.js';
import { dirOf, isDefaultServerPath, serverPath } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { version } from '../program.js';
import { firstRunConfig, writeLocalClient } from '../first-run.js';
import type { GlobalOptions, Io } from '../io.js';

type Options = {
  readonly host?: string;
  readonly port?: number;
  readonly config?: string;
  readonly store?: string;
  readonly logFormat?: LogFormat;
  readonly watch: boolean;
  readonly workers?: number | 'auto';
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly tlsCert?: string;
  readonly tlsKey?: string;
};

type Running = { readonly url: string; readonly metricsUrl: string | undefined; reload(): Promise<boolean>; restartWorkers?(): Promise<void>; close(): Promise<void> };

/** The config to serve: the file that exists, or on a first run at the default location a new one. */
async function configToServe(io: Io, g: GlobalOptions, o: Options, log: Logger, https: boolean): Promise<{ path: string; config: ServerConfig }> {
  const path = serverPath(io, g, o.config);
  const warn = (m: string): void => log.log('warn', m);
  if (await fileExists(path)) return { path, config: await loadServerConfig(path, warn) };
  if (!isDefaultServerPath(io, o.config)) {
    const named = o.config === undefined ? 'PSIMBOLS_SERVER_CONFIG' : '-c';
    throw new PsimbolsError('config_missing', `${path}: no such file (named by ${named}); serve creates a config on a first run only at the default location, ${serverConfigPath({}, dirOf(io, g))}: check the name`);
  }
  let created = false;
  const config = await updateServerConfig(path, (c) => c, () => {
    created = true;
    return firstRunConfig({ host: o.host, port: o.port, https });
  });
  if (created) {
    log.log('info', 'first run: created a server config with one client, "local"', { file: path });
    await writeLocalClient(dirOf(io, g), config, (level, message, file) => log.log(level, message, { file }));
  }
  return { path, config };
}

/** A port or host that cannot be used is the user's to fix: a usage error saying how. */
function listenError(e: unknown, host: string, port: number): unknown {
  switch (errnoCode(e)) {
    case 'EADDRINUSE':
      return new PsimbolsError('usage', `port ${port} is in use on ${host}: pick another with --port (or listen.port in the config)`, { cause: e });
    case 'EACCES':
      return new PsimbolsError('usage', `no permission to listen on port ${port}: pick one above 1023 with --port`, { cause: e });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new PsimbolsError('usage', `cannot listen on ${host}: not an address of this machine; pick another with --host (or listen.host in the config)`, { cause: e });
    default:
      return e;
  }
}

/**
 * Log lines are gathered and written a batch at a time: one synchronous write to a pipe per
 * request cost about a quarter of the server's time under load.
 */
function batchedWriter(stream: NodeJS.WritableStream): { write: (line: string) => void; flush: () => void } {
  let lines: string[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (lines.length === 0) return;
    stream.write(lines.join(''));
    lines = [];
    size = 0;
  };
  return {
    write: (line) => {
      lines.push(line);
      size += line.length;
      if (size >= 64 * 1024) flush();
      else timer ??= setTimeout(flush, 20);
    },
    flush,
  };
}

/** A cluster worker: its primary hands it the config and says when to stop. */
async function runAsWorker(): Promise<number> {
  // A terminal's Ctrl-C reaches every process of the group; the primary drains the workers.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore).on('SIGTERM', ignore).on('SIGHUP', ignore).on('SIGUSR2', ignore);
  const { runWorker } = await import('../../server/cluster/worker.js');
  await runWorker();
  return EXIT.ok;
}

// systemd's socket activation (sd_listen_fds): LISTEN_PID names this process and LISTEN_FDS
// counts the sockets passed from fd 3 on; psimbols serves on the first.
function inheritedSocket(): number | undefined {
  const mine = process.env.LISTEN_PID === String(process.pid) && Number(process.env.LISTEN_FDS) >= 1;
  return mine ? 3 : undefined;
}

// --tls-cert and --tls-key, both or neither, from where the command was run.
function tlsFlag(o: Options): { cert: string; key: string } | undefined {
  if (o.tlsCert === undefined && o.tlsKey === undefined) return undefined;
  if (o.tlsCert === undefined || o.tlsKey === undefined) throw new PsimbolsError('usage', `--tls-cert and --tls-key go together: add ${o.tlsCert === undefined ? '--tls-cert FILE' : '--tls-key FILE'}`);
  return { cert: resolve(o.tlsCert), key: resolve(o.tlsKey) };
}

function start(o: Options, flags: ConfigFlags, path: string, config: ServerConfig, workers: number, log: Logger, format: LogFormat, write: (text: string) => void): Promise<Running> {
  const address = o.metrics ?? (config.metrics.listen === undefined ? undefined : parseHostPort(config.metrics.listen));
  const metrics = address && { ...address, build: { version: version(), node: process.version } };
  const common = { config, flags, configPath: path, log, host: o.host, port: o.port, fd: inheritedSocket(), watch: o.watch, metrics };
  if (workers > 1) return import('../../server/cluster/primary.js').then((m) => m.startCluster({ ...common, workers, logFormat: format, write }));
  return startServer(common);
}

function waitForSignal(server: Running, log: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', stop).off('SIGTERM', stop).off('SIGHUP', hup).off('SIGUSR2', usr2);
      log.log('info', 'shutting down', { signal });
      server.close().then(resolve, resolve);
    };
    const hup = (): void => void server.reload();
    // SIGUSR2: a rolling restart of --workers, e.g. after an upgrade of psimbols in place.
    const usr2 = (): void => (server.restartWorkers ? void server.restartWorkers() : log.log('warn', 'SIGUSR2 restarts the workers of --workers; this server has none'));
    process.on('SIGINT', stop).on('SIGTERM', stop).on('SIGHUP', hup).on('SIGUSR2', usr2);
  });
}

// A first `serve --port P` wrote P into the local client's config (https with --tls-cert); a
// later `serve --port Q`, or one with TLS or without, does not change it, so `call` would knock
// at the wrong door. Say so where it can be seen: at start. Read before the start is logged, so
// that the warning follows the "listening" line at once.
async function localClientElsewhere(io: Io, g: GlobalOptions, url: string): Promise<(log: Logger) => void> {
  const file = clientConfigPath(io.env, dirOf(io, g));
  const client = await loadClientConfig(file).catch(() => undefined);
  if (client === undefined || client.client !== 'local') return () => undefined;
  const [their, ours] = [new URL(client.server), new URL(url)];
  const loopback = (u: URL): boolean => ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (!loopback(their) || !loopback(ours) || (their.port === ours.port && their.protocol === ours.protocol)) return () => undefined;
  return (log) => log.log('warn', `the local client's config points at ${client.server}, not at this server: "psimbols call" will not reach it; pass --server ${url}, or set "server" in that file`, { file });
}

// systemd names the stream it connected to journald in JOURNAL_STREAM, as device:inode; stderr
// is that stream only when they match (a redirect in the unit's ExecStart changes it).
function stderrIsJournal(io: Io): boolean {
  if (!io.env.JOURNAL_STREAM || io.stderr !== process.stderr) return false;
  try {
    const s = fstatSync(2);
    return io.env.JOURNAL_STREAM === `${s.dev}:${s.ino}`;
  } catch {
    return false;
  }
}

export async function run(io: Io, g: GlobalOptions, o: Options): Promise<number> {
  if (cluster.isWorker) return runAsWorker();
  const format: LogFormat = o.logFormat ?? (stderrIsJournal(io) ? 'journal' : io.stderr.isTTY ? 'text' : 'json');
  const out = batchedWriter(io.stderr);
  const log = createLogger(out.write, format);

  try {
    // Checked before a first run writes anything.
    const flags = { store: o.store, tls: tlsFlag(o) };
    const { path, config } = await configToServe(io, g, o, log, flags.tls !== undefined);
    const wanted = o.workers ?? config.workers;
    const workers = wanted === 'auto' ? availableParallelism() : wanted;
    const server = await start(o, flags, path, config, workers, log, format, out.write).catch((e: unknown) => Promise.reject(listenError(e, o.host ?? config.listen.host, o.port ?? config.listen.port)));
    // Handled before "listening" is said: a supervisor may signal as soon as it reads that line.
    const stopped = waitForSignal(server, log);
    const warnElsewhere = await localClientElsewhere(io, g, server.url);
    log.log('info', `listening on ${server.url}`, { config: path, clients: Object.keys(config.clients).length, store: redactUrl(o.store ?? config.store), workers: workers === 1 ? undefined : workers, metrics: server.metricsUrl });
    warnElsewhere(log);
    if (advertisesLoopbackOnly(config, o.host)) {
      log.log('warn', `listening on every address, but add-client tells new clients ${defaultServerUrl(config)}, which only this machine reaches: set "server" in the config to the URL clients should use`, { file: path });
    }
    out.flush();
    await stopped;
    log.log('info', 'stopped');
    return EXIT.ok;
  } finally {
    out.flush();
  }
}
