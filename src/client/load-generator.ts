import { Agent, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ClientConfig } from '../config/client-config.js';
import type { Params } from '../protocol/messages.js';
import { sealCall } from './client.js';

// A closed-loop load generator: requests are sealed before the timed phase (each must be fresh,
// or the replay store refuses it), then sent over a fixed number of keep-alive connections, as
// fast as answers come or, with a rate, no faster than it.

export type LoadOptions = {
  readonly config: ClientConfig;
  readonly endpoint?: string;
  readonly module: string;
  readonly fn: string;
  readonly params: Params;
  readonly connections: number;
  readonly requests: number;
  /** For an https server: the certificates to trust (PEM), instead of Node's list. */
  readonly ca?: readonly string[];
  /** Stop sending once this many milliseconds have passed (the pool may not be used up). */
  readonly durationMs?: number;
  /** At most this many requests a second, over all connections: request i leaves no sooner than i / rate s after the start. */
  readonly rate?: number;
  /** Called after each response with the number done so far and the milliseconds since sending began. */
  readonly onProgress?: (done: number, elapsedMs: number) => void;
  /**
   * Names the outcome of the i-th request from its status and body (read only when this is given),
   * for a report that tells successes from function errors; by default the status alone.
   */
  readonly classify?: (i: number, status: number, body: string) => string;
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

/**
 * The raw outcome of one run: latencies of the requests sent, a count per status (or per outcome,
 * with `classify`), time taken, and what the last RateLimit header said was left.
 */
export type LoadRun = {
  readonly latencies: Float64Array;
  readonly statuses: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly remaining: number | undefined;
  /** Why the first request without an answer got none. */
  readonly failure?: Error;
};

type Answer = { readonly status: number; readonly body: string; readonly remaining: number | undefined; readonly failure?: Error };

/** POSTs one body; the status is 0 when no answer came. The body is kept only when asked for. */
function poster(url: URL, agent: Agent, keepBody: boolean): (body: Buffer) => Promise<Answer> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return (body) =>
    new Promise((resolve) => {
      const headers = { 'content-type': 'application/json', 'content-length': body.length };
      const req = request({ agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => void (keepBody && chunks.push(c)));
        res.on('end', () => {
          const r = /;r=(\d+)/.exec(String(res.headers.ratelimit ?? ''))?.[1];
          resolve({ status: res.statusCode ?? 0, body: keepBody ? Buffer.concat(chunks).toString('utf8') : '', remaining: r === undefined ? undefined : Number(r) });
        });
      });
      req.on('error', (failure) => resolve({ status: 0, body: '', remaining: undefined, failure }));
      req.end(body);
    });
}

export async function sendAll(o: LoadOptions, bodies: readonly Buffer[]): Promise<LoadRun> {
  const url = new URL(o.endpoint ?? o.config.server);
  const options = { keepAlive: true, maxSockets: o.connections };
  const agent = url.protocol === 'https:' ? new HttpsAgent({ ...options, ...(o.ca === undefined ? {} : { ca: [...o.ca] }) }) : new Agent(options);
  const send = poster(url, agent, o.classify !== undefined);
  let failure: Error | undefined;
  const classify = o.classify ?? ((_i: number, status: number): string => (status === 0 ? 'error' : String(status)));
  let remaining: number | undefined;
  const latencies = new Float64Array(bodies.length);
  const statuses: Record<string, number> = {};
  let next = 0;
  let done = 0;
  const start = performance.now();
  const deadline = o.durationMs === undefined ? Infinity : start + o.durationMs;
  // Indices are taken in order, each is due no sooner than the one before, and the deadline only
  // passes once, so the requests sent are always a prefix of the pool.
  const worker = async (): Promise<void> => {
    for (let i = next++; i < bodies.length && performance.now() < deadline; i = next++) {
      const wait = o.rate === undefined ? 0 : start + (i * 1000) / o.rate - performance.now();
      if (wait > 0) {
        await sleep(wait);
        if (performance.now() >= deadline) break;
      }
      const sent = performance.now();
      const answer = await send(bodies[i]!);
      latencies[i] = performance.now() - sent;
      const key = classify(i, answer.status, answer.body);
      statuses[key] = (statuses[key] ?? 0) + 1;
      remaining = answer.remaining ?? remaining;
      failure ??= answer.failure;
      done++;
      o.onProgress?.(done, performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return { latencies: latencies.subarray(0, done), statuses, seconds, remaining, ...(failure === undefined ? {} : { failure }) };
}

/** One report from one or more runs (a long run may be sealed and sent in batches). */
export function summarize(runs: readonly LoadRun[]): LoadReport {
  const count = runs.reduce((n, r) => n + r.latencies.length, 0);
  const all = new Float64Array(count);
  let at = 0;
  const statuses: Record<string, number> = {};
  let seconds = 0;
  for (const r of runs) {
    all.set(r.latencies, at);
    at += r.latencies.length;
    seconds += r.seconds;
    for (const [k, n] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + n;
  }
  const sorted = all.sort();
  return {
    requests: count,
    seconds,
    rps: seconds > 0 ? count / seconds : 0,
    latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0 },
    statuses,
  };
}

export async function runLoad(o: LoadOptions, bodies: readonly Buffer[] = presealBodies(o, o.requests)): Promise<LoadReport> {
  return summarize([await sendAll(o, bodies)]);
}
