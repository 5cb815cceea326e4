import { join } from 'node:path';
import { clientConfigFor, addClient } from '../../config/edits.js';
import { CLIENT_CONFIG_FILE } from '../../config/paths.js';
import { emptyServerConfig, type ServerConfig } from '../../config/server-config.js';
import { fileExists, loadServerConfig, toJsonText, updateServerConfig, writeFileAtomic } from '../../config/store.js';
import { PsimbolsError } from '../../errors.js';
import { generateKeySpec } from '../../protocol/keys.js';
import { createLogger, type LogFormat, type Logger } from '../../server/log.js';
import { startServer } from '../../server/listen.js';
import { redactUrl } from '../../server/stores.js';
import { dirOf, serverPath } from '../common.js';
import { EXIT } from '../exit-codes.js';
import type { GlobalOptions, Io } from '../io.js';

type Options = { host?: string; port?: string; config?: string; store?: string; logFormat?: LogFormat; watch?: boolean };

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new PsimbolsError('usage', `--port takes a port number from 0 to 65535, not ${JSON.stringify(value)}`);
  return n;
}

/** First run: a config with one client, `local`, whose config lands beside it as client.json. */
async function firstRun(path: string, dir: string, log: Logger, listen: { host?: string; port?: number }): Promise<ServerConfig> {
  let created = false;
  const config = await updateServerConfig(
    path,
    (c) => (created ? addClient(c, 'local', { key: generateKeySpec() }) : c),
    () => {
      created = true;
      // The local client's endpoint must be where this server really listens.
      const initial = emptyServerConfig();
      return { ...initial, listen: { host: listen.host ?? initial.listen.host, port: listen.port || initial.listen.port } };
    },
  );
  if (!created) return config;
  log.log('info', 'first run: created a server config with one client, "local"', { file: path });
  const clientFile = join(dir, CLIENT_CONFIG_FILE);
  try {
    await writeFileAtomic(clientFile, toJsonText(clientConfigFor(config, 'local')), false);
    log.log('info', 'wrote the "local" client config: psimbols call supermath factorial n=3 uses it', { file: clientFile });
  } catch (e) {
    if (!(e instanceof PsimbolsError && e.code === 'file_exists')) throw e;
    log.log('warn', 'a client config already exists and was kept; run "psimbols rotate-key local -o FILE" for the local client\'s config', { file: clientFile });
  }
  return config;
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

export async function run(io: Io, g: GlobalOptions, args: readonly unknown[]): Promise<number> {
  const o = args[0] as Options;
  const port = parsePort(o.port);
  const path = serverPath(io, g, o.config);
  const format: LogFormat = o.logFormat ?? (io.stderr.isTTY ? 'text' : 'json');
  const out = batchedWriter(io.stderr);
  const log = createLogger(out.write, format);

  try {
    let config = (await fileExists(path)) ? await loadServerConfig(path) : await firstRun(path, dirOf(io, g), log, { ...(o.host ? { host: o.host } : {}), ...(port === undefined ? {} : { port }) });
    if (o.store) {
      if (o.store !== 'memory' && !/^rediss?:\/\//.test(o.store)) throw new PsimbolsError('usage', `--store takes "memory" or a redis:// or rediss:// URL, not ${JSON.stringify(o.store)}`);
      config = { ...config, store: o.store };
    }

    const server = await startServer({
      config,
      configPath: path,
      log,
      ...(o.host ? { host: o.host } : {}),
      ...(port === undefined ? {} : { port }),
      watch: o.watch !== false,
    });
    log.log('info', `listening on ${server.url}`, { config: path, clients: server.processor.state.clients.size, store: redactUrl(config.store) });
    out.flush();

    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        process.off('SIGINT', stop).off('SIGTERM', stop).off('SIGHUP', hup);
        log.log('info', 'shutting down', { signal });
        server.close().then(resolve, resolve);
      };
      const hup = (): void => void server.reload();
      process.on('SIGINT', stop).on('SIGTERM', stop).on('SIGHUP', hup);
    });
    log.log('info', 'stopped');
    return EXIT.ok;
  } finally {
    out.flush();
  }
}
