import { Registry } from 'prom-client';
import type { ServerConfig } from '../../config/server-config.js';
import { errnoCode, errorMessage, PsimbolsError } from '../../errors.js';
import { httpServer, listen } from './listen.js';
import type { TlsSource } from './tls.js';

// The metrics port: `GET /metrics`, apart from the port that serves requests. Anyone who reaches
// it can scrape, so scrapes cost the server a bounded amount: concurrent scrapes share one
// collection and its text is reused for CACHE_MS; answers go out at most one every PACE_MS (a
// Prometheus scrapes a target every 15 s by default), the rest wait their turn; and the port has
// the request port's timeouts and at most MAX_CONNECTIONS connections, so few can wait.

export type MetricsServer = { readonly url: string; close(): Promise<void> };

const CACHE_MS = 1000;
const PACE_MS = 50;
const MAX_CONNECTIONS = 32;

/** Runs each task at most one every `paceMs`, in the order given. */
export function paced(paceMs = PACE_MS, now: () => number = Date.now): (task: () => void) => void {
  let next = 0;
  return (task) => {
    const t = now();
    const at = Math.max(t, next);
    next = at + paceMs;
    if (at === t) task();
    else setTimeout(task, at - t);
  };
}

/** One collection at a time, its text reused for `cacheMs`: 64 scrapers cost one collection a second. */
export function sharedCollection(collect: () => Promise<string>, cacheMs = CACHE_MS, now: () => number = Date.now): () => Promise<string> {
  let last: { text: string; at: number } | undefined;
  let inFlight: Promise<string> | undefined;
  return () => {
    if (last !== undefined && now() - last.at < cacheMs) return Promise.resolve(last.text);
    inFlight ??= collect().then(
      (text) => {
        last = { text, at: now() };
        inFlight = undefined;
        return text;
      },
      (e: unknown) => {
        inFlight = undefined;
        throw e;
      },
    );
    return inFlight;
  };
}

const ROOT_PAGE = '<html><head><title>psimbols metrics</title></head><body><h1>psimbols</h1><p><a href="/metrics">Metrics</a></p></body></html>\n';

/** `GET /metrics` on its own address, apart from the port that serves requests. */
export async function serveMetrics(host: string, port: number, exposition: () => Promise<string>, limits: ServerConfig['limits'], tls?: TlsSource): Promise<MetricsServer> {
  const collect = sharedCollection(exposition);
  const inTurn = paced();
  const timeouts = { headersMs: limits.headersTimeoutMs, requestMs: limits.requestTimeoutMs, keepAliveMs: limits.keepAliveTimeoutMs };
  // HTTPS with the listener's certificate when it has one: what the metrics tell is not for anyone on the path.
  const server = httpServer(timeouts, tls, (req, res) => {
      const read = req.method === 'GET' || req.method === 'HEAD';
      // The page exporters have at their root, linking the metrics.
      if (req.url === '/' && read) return void res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(req.method === 'HEAD' ? '' : ROOT_PAGE);
      if (req.url !== '/metrics' || !read) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('GET /metrics\n');
        return;
      }
      inTurn(() => {
        if (res.destroyed) return;
        collect().then(
          (text) => res.writeHead(200, { 'Content-Type': Registry.PROMETHEUS_CONTENT_TYPE }).end(req.method === 'HEAD' ? '' : text),
          () => res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n'),
        );
      });
  });
  server.maxConnections = MAX_CONNECTIONS;
  const { url } = await listen(server, port, host).catch((e: unknown) =>
    Promise.reject(new PsimbolsError('usage', `cannot serve metrics on ${host}:${port} (${errnoCode(e) ?? errorMessage(e)}): pick another address with --metrics (or metrics.listen in the config)`, { cause: e })),
  );
  const close = (): Promise<void> =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return { url: `${url}metrics`, close };
}
