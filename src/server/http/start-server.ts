import type { Server } from 'node:http';
import type { ServerConfig } from '../../config/server-config.js';
import type { AdmissionStore } from '../admission/admission.js';
import { MemoryAdmissionStore } from '../admission/memory-store.js';
import { assemble } from '../core/assemble.js';
import { trustedProxies } from './client-address.js';
import { FailureLimiter, type FailureCounter } from '../admission/failure-limiter.js';
import { createHandler, type Handler } from './handler.js';
import { BlockedLines } from '../observe/blocked-lines.js';
import type { Logger } from '../observe/log.js';
import type { BuildInfo, Observer } from '../observe/metrics.js';
import { httpServer, listen } from './listen.js';
import type { MetricsServer } from './metrics-server.js';
import { nodeListener } from './node-listener.js';
import { tlsFilesOf, tlsSource, type TlsSource } from './tls.js';
import type { Processor } from '../core/processor.js';
import { createReloader, withFlags, type ConfigFlags } from '../core/reload.js';
import { buildState } from '../core/server-state.js';

// Opens the port: node:http with timeouts against slow and idle clients, and a bounded graceful
// shutdown. What serves is built by assemble.ts; hot reload is reload.ts.

export type Timeouts = {
  /** Whole headers must arrive within this. */
  readonly headersMs: number;
  /** The whole request, body included. */
  readonly requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number;
  /** In-flight requests get this long to finish on shutdown. */
  readonly shutdownMs: number;
};

export type ServeOptions = {
  /** The config file's settings, as read. */
  readonly config: ServerConfig;
  /** Settings given as flags, which stand over the file's, on every reload too. */
  readonly flags?: ConfigFlags;
  /** Where the config came from: watched for changes and re-read by reload(). */
  readonly configPath?: string;
  readonly host?: string;
  readonly port?: number;
  /** An inherited listening socket (systemd's socket activation) instead of host and port. */
  readonly fd?: number;
  readonly log: Logger;
  readonly store?: AdmissionStore;
  readonly now?: () => number;
  /** Overrides the config's `limits.*TimeoutMs`. */
  readonly timeouts?: Partial<Timeouts>;
  readonly watch?: boolean;
  /** False for a cluster worker, whose primary reads the config and hands it over. */
  readonly reloads?: boolean;
  /** Where counts of failed authentications live, when not here (a cluster primary). */
  readonly failures?: FailureCounter;
  /** Serve Prometheus metrics here, or ('worker') keep them for a cluster's primary to gather. */
  readonly metrics?: { readonly host: string; readonly port: number; readonly build?: BuildInfo } | 'worker';
};

export type RunningServer = {
  readonly url: string;
  readonly port: number;
  /** Where `GET /metrics` answers, when metrics are on. */
  readonly metricsUrl: string | undefined;
  readonly processor: Processor;
  /** Re-reads the config file and swaps in its clients, and the TLS files; false (the old kept) if either does not load. */
  reload(): Promise<boolean>;
  /** Re-reads the TLS files alone (a cluster worker, told by its primary). */
  reloadTls(): Promise<boolean>;
  close(): Promise<void>;
};

function timeoutsOf(config: ServerConfig, overrides: Partial<Timeouts> | undefined): Timeouts {
  const l = config.limits;
  return { headersMs: l.headersTimeoutMs, requestMs: l.requestTimeoutMs, keepAliveMs: l.keepAliveTimeoutMs, shutdownMs: l.shutdownTimeoutMs, ...overrides };
}

/** Stops accepting, lets in-flight requests finish (up to shutdownMs), then closes every connection. */
async function drain(server: Server, shutdownMs: number): Promise<void> {
  const done = new Promise<void>((r) => server.close(() => r()));
  // Keep-alive connections become idle as their last response goes out: close them then.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  const timer = setTimeout(() => server.closeAllConnections(), shutdownMs);
  await done;
  clearInterval(sweep);
  clearTimeout(timer);
}

type Parts = Awaited<ReturnType<typeof assemble>>;

function handlerFor(config: ServerConfig, { processor, store }: Parts, closing: () => boolean): Handler {
  return createHandler({
    readiness: () => {
      const h = store.health();
      if (closing()) return { ready: false, text: 'psimbols not ready: draining\n' };
      if (!h.reachable && config.onStoreError === 'closed') return { ready: false, text: `psimbols not ready: store=${h.store} unreachable (onStoreError=closed)\n` };
      return { ready: true, text: `psimbols ready store=${h.store}${h.reachable ? '' : ' (unreachable)'}\n` };
    },
    processor,
    bodyLimit: config.limits.bodyBytes,
    trustsProxy: config.trustProxy.length > 0 ? trustedProxies(config.trustProxy) : undefined,
    proxyHeader: config.proxyHeader,
    health: () => {
      const h = store.health();
      // Anyone can ask: no counts, only whether serving is possible.
      return `psimbols ok store=${h.store}${h.reachable ? '' : ' (unreachable)'}\n`;
    },
  });
}

/** Metrics, when asked for: a worker's answer its primary; otherwise they are served on their own port. */
async function instrumented(o: ServeOptions, tls: TlsSource | undefined): Promise<{ observer?: Observer; serve(parts: Parts): Promise<MetricsServer | undefined> }> {
  if (o.metrics === undefined) return { serve: () => Promise.resolve(undefined) };
  const m = await import('../observe/metrics.js');
  const { metrics } = o;
  const instruments = m.instrument(metrics === 'worker');
  const serve = async (parts: Parts): Promise<MetricsServer | undefined> => {
    instruments.bind(parts);
    if (metrics === 'worker') return undefined;
    if (metrics.build) m.buildInfo(instruments.registry, metrics.build);
    const memory = parts.store instanceof MemoryAdmissionStore ? parts.store : undefined;
    if (parts.failures instanceof FailureLimiter) m.admissionSizes(instruments.registry, { replay: memory?.replay, limiter: memory?.limiter, failures: parts.failures });
    const { serveMetrics } = await import('./metrics-server.js');
    return serveMetrics(metrics.host, metrics.port, () => instruments.registry.metrics(), o.config.limits, tls);
  };
  return { observer: instruments.observer, serve };
}

// A worker's primary owns the files: it warns about them and says when to read them again.
async function tlsOf(config: ServerConfig, o: ServeOptions): Promise<TlsSource | undefined> {
  const files = tlsFilesOf(config, o.configPath);
  return files && tlsSource(files, o.log, { watch: o.reloads !== false && o.watch !== false, warn: o.reloads !== false });
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const { log } = o;
  const config = withFlags(o.config, o.flags);
  const timeouts = timeoutsOf(config, o.timeouts);
  const tls = await tlsOf(config, o);
  const metrics = await instrumented(o, tls);
  const parts = await assemble(config, { ...o, observer: metrics.observer }).catch((e: unknown) => {
    tls?.close();
    throw e;
  });
  const { processor, runner, store } = parts;
  let closing = false;
  const blocked = new BlockedLines(log, config.limits.failedAuthWindowSeconds * 1000);
  const release = async (): Promise<void> => {
    tls?.close();
    blocked.close();
    await runner.close();
    await store.close();
  };
  const server = httpServer(timeouts, tls, nodeListener({ handler: handlerFor(config, parts, () => closing), log, closing: () => closing, blocked, observe: metrics.observer?.request }));
  let address: { url: string; port: number };
  let metricsServer: MetricsServer | undefined;
  try {
    address = await listen(server, o.port ?? config.listen.port, o.host ?? config.listen.host, o.fd);
    metricsServer = await metrics.serve(parts);
  } catch (e) {
    server.close();
    await release();
    throw e;
  }
  const reloader = o.configPath && o.reloads !== false ? createReloader({ config: o.config, flags: o.flags, path: o.configPath, apply: (next) => processor.update(buildState(next)), log, watch: o.watch !== false }) : undefined;
  const reloadTls = (): Promise<boolean> => tls?.reload() ?? Promise.resolve(true);
  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    reloader?.close();
    await Promise.all([drain(server, timeouts.shutdownMs), metricsServer?.close()]);
    await release();
  };
  const reload = async (): Promise<boolean> => (await Promise.all([reloader?.reload() ?? false, reloadTls()])).every(Boolean);
  return { ...address, metricsUrl: metricsServer?.url, processor, reload, reloadTls, close };
}
