import cluster, { type Worker } from 'node:cluster';
import { errnoCode, errorMessage, isPsimbolsError } from '../../errors.js';
import { encodeFromWorker, parseToWorker, type FromWorker, type Init } from './messages.js';
import { PrimaryLink } from './primary-link.js';
import { startServer, type RunningServer } from '../http/start-server.js';
import { createLogger, type LogFormat } from '../observe/log.js';
import { buildState } from '../core/server-state.js';

// One worker of `serve --workers N`: it serves what its primary hands it. The primary reads and
// validates the config, holds the memory store and the failure count (cluster-link.ts), writes
// the log, and tells the worker when to reload and when to drain.

/** Log lines go to the primary, a batch at a time, and it alone writes them: none is cut by another. */
function forwardingLog(worker: Worker, format: LogFormat): { log: ReturnType<typeof createLogger>; flush(): Promise<void> } {
  let text = '';
  let timer: NodeJS.Timeout | undefined;
  // Resolves once the batch is handed to the channel (the last one before exiting is awaited).
  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    if (text === '' || !worker.isConnected()) return Promise.resolve();
    const m = encodeFromWorker({ psimbols: 'log', text });
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
      const message = parseToWorker(m);
      if (message?.psimbols !== 'init') return;
      worker.off('message', on);
      resolve(message);
    };
    worker.on('message', on);
    worker.send(encodeFromWorker({ psimbols: 'hello' }));
  });
}

/** Runs this process as a cluster worker until its primary says to drain, or goes away. */
export async function runWorker(): Promise<void> {
  const worker = cluster.worker;
  if (worker === undefined) throw new Error('runWorker outside a cluster worker');
  const send = (m: FromWorker): void => void (worker.isConnected() && worker.send(encodeFromWorker(m)));
  const init = await waitForInit(worker);
  const { log, flush } = forwardingLog(worker, init.logFormat);
  const link = new PrimaryLink(send);
  let server: RunningServer;
  try {
    server = await startServer({
      config: init.config, configPath: init.configPath, host: init.host, port: init.port, fd: init.fd, log,
      store: init.config.store === 'memory' ? link : undefined,
      failures: link, reloads: false, metrics: init.metrics ? 'worker' : undefined,
    });
  } catch (e) {
    send({ psimbols: 'failed', message: errorMessage(e), code: isPsimbolsError(e) ? e.code : undefined, errno: errnoCode(e) });
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
      const message = parseToWorker(m);
      switch (message?.psimbols) {
        case 'answers':
          return link.receive(message);
        case 'config':
          void server.processor.update(buildState(message.config));
          return;
        case 'tls':
          void server.reloadTls();
          return;
        case 'drain':
          return drain();
        default:
          return;
      }
    };
    worker.on('message', on);
    // A primary that dies leaves its workers nothing to answer to.
    worker.once('disconnect', drain);
  });
}
