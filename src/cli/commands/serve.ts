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

type Options = { readonly host?: string; readonly port?: number; readonly config?: string; readonly store?: string; readonly logFormat?: LogFormat; readonly watch: boolean };

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

export async function run(io: Io, g: GlobalOptions, o: Options): Promise<number> {
  const path = serverPath(io, g, o.config);
  const format: LogFormat = o.logFormat ?? (io.stderr.isTTY ? 'text' : 'json');
  const out = batchedWriter(io.stderr);
  const log = createLogger(out.write, format);

  try {
    const loaded = (await fileExists(path)) ? await loadServerConfig(path, (m) => log.log('warn', m)) : await firstRun(path, dirOf(io, g), log, { host: o.host, port: o.port });
    const config = o.store ? { ...loaded, store: o.store } : loaded;
    const server = await startServer({ config, configPath: path, log, host: o.host, port: o.port, watch: o.watch });
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
