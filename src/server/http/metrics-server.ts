import { createServer, type Server } from 'node:http';
import { Registry } from 'prom-client';
import { errnoCode, errorMessage, PsimbolsError } from '../../errors.js';
import { listen } from './listen.js';

// The metrics port: `GET /metrics`, apart from the port that serves requests.

export type MetricsServer = { readonly url: string; close(): Promise<void> };

/** `GET /metrics` on its own address, apart from the port that serves requests. */
export async function serveMetrics(host: string, port: number, exposition: () => Promise<string>): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('GET /metrics\n');
      return;
    }
    exposition().then(
      (text) => res.writeHead(200, { 'Content-Type': Registry.PROMETHEUS_CONTENT_TYPE }).end(req.method === 'HEAD' ? '' : text),
      () => res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n'),
    );
  });
  const { url } = await listen(server, port, host).catch((e: unknown) =>
    Promise.reject(new PsimbolsError('usage', `cannot serve metrics on ${host}:${port} (${errnoCode(e) ?? errorMessage(e)}): pick another address with --metrics (or metrics.listen in the config)`, { cause: e })),
  );
  return { url: `${url}metrics`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
