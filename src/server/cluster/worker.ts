import cluster, { type Worker } from 'node:cluster';
import type { ServerConfig } from '../../config/server-config.js';
import { errnoCode, errorMessage, isPsimbolsError } from '../../errors.js';
import { PrimaryLink, type Answers, type Asks } from './primary-link.js';
import { startServer, type RunningServer } from '../http/start-server.js';
import { createLogger, type LogFormat } from '../observe/log.js';
import { buildState } from '../core/server-state.js';

// One worker of `serve --workers N`: it serves what its primary hands it. The primary reads and
// validates the config, holds the memory store and the failure count (cluster-link.ts), writes
// the log, and tells the worker when to reload and when to drain.

export type Init = {
  readonly psimbols: 'init';
  readonly config: ServerConfig;
  readonly configPath: string;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly logFormat: LogFormat;
  readonly metrics: boolean;
  readonly acceptsFrom: number | undefined;
};
export type ToWorker = Init | Answers | { readonly psimbols: 'config'; readonly config: ServerConfig; readonly acceptsFrom: number | undefined } | { readonly psimbols: 'drain' };
export type FromWorker =
  | Asks
  | { readonly psimbols: 'ready'; readonly url: string; readonly port: number }
  /** `code`: a PsimbolsError's code or an errno code, for the primary to rethrow as it was. */
  | { readonly psimbols: 'failed'; readonly message: string; readonly code: string | undefined; readonly ours: boolean }
  | { readonly psimbols: 'log'; readonly text: string }
  /** Sent once the worker listens for messages: anything sent to it before then would be lost. */
  | { readonly psimbols: 'hello' };

const isMessage = (m: unknown): m is { psimbols: string } => typeof m === 'object' && m !== null && typeof (m as { psimbols?: unknown }).psimbols === 'string';

/** Log lines go to the primary, a batch at a time, and it alone writes them: none is cut by another. */
function forwardingLog(worker: Worker, format: LogFormat): { log: ReturnType<typeof createLogger>; flush(): Promise<void> } {
  let text = '';
  let timer: NodeJS.Timeout | undefined;
  // Resolves once the batch is handed to the channel (the last one before exiting is awaited).
  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    if (text === '' || !worker.isConnected()) return Promise.resolve();
    const m: FromWorker = { psimbols: 'log', text };
    text = '';
    return new Promise((resolve) => worker.send(m, () => resolve()));
  };
  const write = (line: string): void => {
    text += line;
    if (text.length >= 64 * 1024) void flush();
    else timer ??= setTimeout(flush, 20);
  };
  return { log: createLogger(write, format, Date.now, worker.id), flush };
}

function waitForInit(worker: Worker): Promise<Init> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if (!isMessage(m) || m.psimbols !== 'init') return;
      worker.off('message', on);
      resolve(m as Init);
    };
    worker.on('message', on);
    worker.send({ psimbols: 'hello' } satisfies FromWorker);
  });
}

/** Runs this process as a cluster worker until its primary says to drain, or goes away. */
export async function runWorker(): Promise<void> {
  const worker = cluster.worker;
  if (worker === undefined) throw new Error('runWorker outside a cluster worker');
  const send = (m: FromWorker): void => void (worker.isConnected() && worker.send(m));
  const init = await waitForInit(worker);
  const { log, flush } = forwardingLog(worker, init.logFormat);
  const link = new PrimaryLink(send, init.acceptsFrom);
  let server: RunningServer;
  try {
    server = await startServer({
      config: init.config, configPath: init.configPath, host: init.host, port: init.port, log,
      store: init.config.store === 'memory' ? link : undefined,
      failures: link, reloads: false, metrics: init.metrics ? 'worker' : undefined,
    });
  } catch (e) {
    send({ psimbols: 'failed', message: errorMessage(e), code: errnoCode(e), ours: isPsimbolsError(e) });
    return disconnect(worker, flush);
  }
  send({ psimbols: 'ready', url: server.url, port: server.port });
  await serveUntilDrained(worker, server, link);
  await disconnect(worker, flush);
}

async function disconnect(worker: Worker, flush: () => Promise<void>): Promise<void> {
  await flush();
  if (!worker.isConnected()) return;
  await new Promise<void>((resolve) => {
    worker.once('disconnect', resolve);
    worker.disconnect();
  });
}

function serveUntilDrained(worker: Worker, server: RunningServer, link: PrimaryLink): Promise<void> {
  return new Promise((resolve) => {
    // Answers from the primary are still wanted while in-flight requests finish.
    const drain = (): void => void server.close().then(() => link.close()).then(resolve, resolve);
    const on = (m: unknown): void => {
      if (!isMessage(m)) return;
      const message = m as ToWorker;
      switch (message.psimbols) {
        case 'answers':
          return link.receive(message);
        case 'config':
          link.acceptsFrom = message.acceptsFrom;
          void server.processor.update(buildState(message.config));
          return;
        case 'drain':
          return drain();
        case 'init':
          return;
      }
    };
    worker.on('message', on);
    // A primary that dies leaves its workers nothing to answer to.
    worker.once('disconnect', drain);
  });
}
