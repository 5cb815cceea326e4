import cluster, { type Worker } from 'node:cluster';
import type { ServerConfig } from '../../config/server-config.js';
import { errorMessage, PsimbolsError } from '../../errors.js';
import { MemoryAdmissionStore } from '../admission/memory-store.js';
import { encodeToWorker, parseFromWorker, type AdmitAnswer, type Answers, type FailAnswer, type FromWorker, type Init, type ToWorker } from './messages.js';
import { answer } from './primary-link.js';
import type { FailureLimiter } from '../admission/failure-limiter.js';
import type { Logger, LogFormat } from '../observe/log.js';
import type { MetricsServer } from '../http/metrics-server.js';
import type { BuildInfo } from '../observe/metrics.js';
import { createReloader, withFlags, withReloadable, type ConfigFlags } from '../core/reload.js';
import { buildState } from '../core/server-state.js';
import { failuresFor, sweepMsFor } from '../admission/create-store.js';
import { tlsFilesOf, tlsSource, type TlsSource } from '../http/tls.js';

// The primary of `serve --workers N` (node:cluster): it forks the workers, which share one port,
// and supervises them. It owns what must be exact across workers: with the memory store, the
// limiter and the replay store; always, the per-address failure count. A worker that dies is
// forked again after a backoff; a reload is validated here once, then handed to every worker;
// close() drains every worker before it resolves.

export type ClusterOptions = {
  readonly workers: number;
  /** The config file's settings, as read, and the flags that stand over them. */
  readonly config: ServerConfig;
  readonly flags?: ConfigFlags;
  readonly configPath: string;
  readonly host?: string;
  readonly port?: number;
  /** An inherited listening socket (systemd's socket activation) instead of host and port. */
  readonly fd?: number;
  readonly watch: boolean;
  readonly log: Logger;
  readonly logFormat: LogFormat;
  /** Where workers' log text goes: the primary is the only writer, so no line is cut by another. */
  readonly write: (text: string) => void;
  readonly metrics?: { readonly host: string; readonly port: number; readonly build?: BuildInfo };
};

export type RunningCluster = {
  readonly url: string;
  readonly port: number;
  readonly metricsUrl: string | undefined;
  reload(): Promise<boolean>;
  /** A rolling restart (SIGUSR2): each worker in turn is replaced once its successor listens. */
  restartWorkers(): Promise<void>;
  close(): Promise<void>;
};

// Workers accept connections themselves (SCHED_NONE), so the primary never holds one. In Node's
// round robin the primary accepts and hands each connection over, and one handed to a worker that
// dies is neither served nor closed: the client waits for ever, the primary keeps the socket in
// CLOSE-WAIT (nodejs/node#3551, #21746). The price: the kernel, not a rotation, spreads new
// connections, less evenly under light load.
cluster.schedulingPolicy = cluster.SCHED_NONE;

const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;
// A worker that lived this long was healthy: the next restart starts from the first backoff.
const HEALTHY_MS = 10_000;

type Admission = { readonly store: MemoryAdmissionStore | undefined; readonly failures: FailureLimiter };

function admissionFor({ store, limits }: ServerConfig): Admission {
  return { store: store === 'memory' ? new MemoryAdmissionStore({ sweepMs: sweepMsFor(limits) }) : undefined, failures: failuresFor(limits) };
}

/** Sends to a worker unless its channel is closed (it is exiting): it is then forked again anyway. */
function tell(worker: Worker, m: ToWorker): void {
  if (worker.isConnected()) worker.send(encodeToWorker(m));
}

class Supervisor {
  readonly #o: ClusterOptions;
  readonly #admission: Admission;
  readonly #started = new Map<Worker, number>();
  readonly #ready = new Set<Worker>();
  // Workers drained on purpose by a rolling restart: their exit is not a crash.
  readonly #retiring = new Set<Worker>();
  #rolling: Promise<void> | undefined;
  #config: ServerConfig;
  #backoffMs = FIRST_BACKOFF_MS;
  #stopping = false;
  restarts = 0;

  constructor(o: ClusterOptions, admission: Admission) {
    this.#o = o;
    this.#config = o.config;
    this.#admission = admission;
  }

  get workers(): Worker[] {
    return [...this.#started.keys()];
  }

  /** Forks a worker; resolves when it listens, rejects if it cannot. */
  fork(): Promise<{ url: string; port: number }> {
    const worker = cluster.fork();
    this.#started.set(worker, Date.now());
    return new Promise((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        const message = parseFromWorker(m);
        if (message !== undefined) this.#receive(worker, message, resolve, reject);
      });
      worker.once('exit', (code, signal) => {
        reject(new Error(`worker ${worker.process.pid} exited before it listened (${signal ?? `code ${code}`})`));
        this.#exited(worker, code, signal);
      });
    });
  }

  #init(): Init {
    const o = this.#o;
    // Restart-only settings stay as the primary started; clients and the window are the latest.
    return { psimbols: 'init', config: withReloadable(o.config, this.#config), configPath: o.configPath, host: o.host, port: o.port, fd: o.fd, logFormat: o.logFormat, metrics: o.metrics !== undefined };
  }

  #receive(worker: Worker, m: FromWorker, ready: (a: { url: string; port: number }) => void, failed: (e: Error) => void): void {
    switch (m.psimbols) {
      case 'asks':
        return void answer(m, this.#admission.store, this.#admission.failures).then((a) => this.#answer(worker, a));
      case 'log':
        return this.#o.write(m.text);
      case 'ready':
        this.#ready.add(worker);
        // One that was starting when the drain began gets the word now.
        if (this.#stopping) tell(worker, { psimbols: 'drain' });
        return ready({ url: m.url, port: m.port });
      case 'failed':
        return failed(m.code !== undefined ? new PsimbolsError(m.code, m.message) : Object.assign(new Error(m.message), { code: m.errno }));
      case 'hello':
        // Too late to start serving: it holds no connection yet.
        if (this.#stopping) return void worker.process.kill('SIGKILL');
        return tell(worker, this.#init());
    }
  }

  // Answers to one worker go out together once per turn of the event loop: a message costs the
  // primary more than the admissions in it.
  readonly #outbox = new Map<Worker, { admits: AdmitAnswer[]; fails: FailAnswer[] }>();

  #answer(worker: Worker, a: Answers): void {
    const pending = this.#outbox.get(worker);
    if (pending !== undefined) {
      pending.admits.push(...a.admits);
      pending.fails.push(...a.fails);
      return;
    }
    if (this.#outbox.size === 0) setImmediate(this.#send);
    this.#outbox.set(worker, { admits: [...a.admits], fails: [...a.fails] });
  }

  readonly #send = (): void => {
    for (const [worker, { admits, fails }] of this.#outbox) tell(worker, { psimbols: 'answers', admits, fails });
    this.#outbox.clear();
  };

  #exited(worker: Worker, code: number | null, signal: string | null): void {
    const lived = Date.now() - (this.#started.get(worker) ?? 0);
    this.#started.delete(worker);
    this.#ready.delete(worker);
    if (this.#stopping || this.#retiring.delete(worker)) return;
    const inMs = (this.#backoffMs = lived >= HEALTHY_MS ? FIRST_BACKOFF_MS : Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2));
    this.#o.log.log('error', 'worker exited; starting another', { pid: worker.process.pid, code: code ?? undefined, signal: signal ?? undefined, inMs });
    this.restarts++;
    setTimeout(() => {
      if (!this.#stopping) this.fork().catch(() => undefined);
    }, inMs).unref();
  }

  /** Prepares the store here, then hands the config to every worker (at start, there are none yet). */
  async apply(next: ServerConfig): Promise<void> {
    const state = buildState(next);
    await this.#admission.store?.prepare([...state.clients.keys()], state.window);
    this.#config = next;
    this.tell({ psimbols: 'config', config: next });
  }

  tell(message: ToWorker): void {
    for (const worker of this.workers) tell(worker, message);
  }

  /** Replaces the workers one at a time: each new one listens before the one it replaces drains. */
  restartAll(): Promise<void> {
    this.#rolling ??= this.#roll().finally(() => (this.#rolling = undefined));
    return this.#rolling;
  }

  async #roll(): Promise<void> {
    for (const old of this.workers) {
      if (this.#stopping) return;
      await this.fork();
      this.#retiring.add(old);
      await this.#retire(old, this.#o.config.limits.shutdownTimeoutMs);
    }
  }

  // As stop() does for all: a worker that has not exited once its drain time is over is killed,
  // so that a rolling restart always ends.
  async #retire(old: Worker, shutdownMs: number): Promise<void> {
    const exited = new Promise<void>((r) => (old.isDead() ? r() : old.once('exit', () => r())));
    tell(old, { psimbols: 'drain' });
    const timer = setTimeout(() => {
      this.#o.log.log('warn', 'a retired worker had not exited after its drain time; killed', { pid: old.process.pid });
      old.process.kill('SIGKILL');
    }, shutdownMs + 2000);
    await exited;
    clearTimeout(timer);
  }

  /** Every worker drains its connections and exits; after the drain time they are killed. */
  async stop(shutdownMs: number): Promise<void> {
    this.#stopping = true;
    const exits = this.workers.map((w) => (w.isDead() ? Promise.resolve() : new Promise<void>((r) => w.once('exit', () => r()))));
    for (const w of this.#ready) tell(w, { psimbols: 'drain' });
    const timer = setTimeout(() => this.workers.forEach((w) => w.process.kill('SIGKILL')), shutdownMs + 2000);
    await Promise.all(exits);
    clearTimeout(timer);
  }
}

async function clusterMetrics(o: ClusterOptions, admission: Admission, supervisor: Supervisor, tls: TlsSource | undefined): Promise<MetricsServer | undefined> {
  if (o.metrics === undefined) return undefined;
  const m = await import('../observe/metrics.js');
  const own = m.primaryRegistry({ replay: admission.store?.replay, limiter: admission.store?.limiter, failures: admission.failures }, () => supervisor.workers.length, () => supervisor.restarts, o.metrics.build);
  const { serveMetrics } = await import('../http/metrics-server.js');
  return serveMetrics(o.metrics.host, o.metrics.port, m.clusterExposition(own), o.config.limits, tls);
}

/** Starts the primary and its workers; resolves once every worker listens. */
export async function startCluster(given: ClusterOptions): Promise<RunningCluster> {
  // Workers serve the file with the flags over it; the reloader compares file with file.
  const o = { ...given, config: withFlags(given.config, given.flags) };
  // The primary reads the TLS files first (a bad pair stops the start here), watches them, and
  // tells the workers, which serve with them, when to read them again.
  const files = tlsFilesOf(o.config, o.configPath);
  const tls = files && (await tlsSource(files, o.log, { watch: o.watch, warn: true, changed: () => supervisor.tell({ psimbols: 'tls' }) }));
  const admission = admissionFor(o.config);
  const supervisor = new Supervisor(o, admission);
  await supervisor.apply(o.config);
  let addresses: { url: string; port: number }[];
  let metrics: MetricsServer | undefined;
  try {
    addresses = await Promise.all(Array.from({ length: o.workers }, () => supervisor.fork()));
    metrics = await clusterMetrics(o, admission, supervisor, tls);
  } catch (e) {
    tls?.close();
    await supervisor.stop(0);
    await admission.store?.close();
    throw e;
  }
  const reloader = createReloader({ config: given.config, flags: given.flags, path: o.configPath, apply: (next) => supervisor.apply(next), log: o.log, watch: o.watch });
  const reload = async (): Promise<boolean> => (await Promise.all([reloader.reload(), tls?.reload() ?? true])).every(Boolean);
  const close = async (): Promise<void> => {
    reloader.close();
    tls?.close();
    await supervisor.stop(o.config.limits.shutdownTimeoutMs);
    await metrics?.close();
    await admission.store?.close();
  };
  const [{ url, port }] = addresses as [{ url: string; port: number }];
  const restartWorkers = async (): Promise<void> => {
    o.log.log('info', 'restarting the workers one by one', { workers: o.workers });
    await supervisor.restartAll().then(
      () => o.log.log('info', 'workers restarted'),
      (e: unknown) => o.log.log('error', 'a worker did not start; the rolling restart stopped', { problem: errorMessage(e) }),
    );
  };
  return { url, port, metricsUrl: metrics?.url, reload, restartWorkers, close };
}
