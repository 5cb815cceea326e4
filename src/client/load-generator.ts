import { Agent, request as httpRequest } from 'node:http';
import type { ClientConfig } from '../config/client-config.js';
import type { Params } from '../protocol/messages.js';
import { sealCall } from './client.js';

// A closed-loop load generator: requests are sealed before the timed phase (each must be fresh,
// or the replay store refuses it), then sent over a fixed number of keep-alive connections.

export type LoadOptions = {
  readonly config: ClientConfig;
  readonly endpoint?: string;
  readonly module: string;
  readonly fn: string;
  readonly params: Params;
  readonly connections: number;
  readonly requests: number;
  /** Called after each response with the number done so far. */
  readonly onProgress?: (done: number) => void;
};

export type LoadReport = {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly statuses: Readonly<Record<string, number>>;
};

const percentile = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

export function presealBodies(o: Pick<LoadOptions, 'config' | 'module' | 'fn' | 'params'>, count: number): Buffer[] {
  return Array.from({ length: count }, () => Buffer.from(JSON.stringify(sealCall(o.config, o.module, o.fn, o.params).outer)));
}

export async function runLoad(o: LoadOptions, bodies: readonly Buffer[] = presealBodies(o, o.requests)): Promise<LoadReport> {
  const url = new URL(o.endpoint ?? o.config.server);
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  const latencies = new Float64Array(bodies.length);
  const statuses: Record<string, number> = {};
  let next = 0;
  let done = 0;

  const send = (body: Buffer): Promise<number> =>
    new Promise((resolve) => {
      const req = httpRequest(
        { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });

  const worker = async (): Promise<void> => {
    for (let i = next++; i < bodies.length; i = next++) {
      const start = performance.now();
      const status = await send(bodies[i]!);
      latencies[i] = performance.now() - start;
      const key = status === 0 ? 'error' : String(status);
      statuses[key] = (statuses[key] ?? 0) + 1;
      o.onProgress?.(++done);
    }
  };

  const start = performance.now();
  await Promise.all(Array.from({ length: o.connections }, worker));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = latencies.sort();
  return {
    requests: bodies.length,
    seconds,
    rps: bodies.length / seconds,
    latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0 },
    statuses,
  };
}
