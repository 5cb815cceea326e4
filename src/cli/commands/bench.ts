import { presealBodies, sendAll, summarize, type LoadOptions, type LoadReport, type LoadRun } from '../../client/load-generator.js';
import { PsimbolsError } from '../../errors.js';
import { checkCallNames, clientConfig } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { out, type GlobalOptions, type Io } from '../io.js';
import { inputReader } from '../inputs.js';
import { paramsFromItems } from '../items.js';

// A load generator for psimbols servers, as redis-benchmark is for Redis. Every request must be
// fresh or the replay store refuses it, so requests are sealed before the timed phase.

type Options = { readonly clientConfig?: string; readonly server?: string; readonly connections: number; readonly requests?: number; readonly duration?: number; readonly json?: boolean };

const MAX_POOL = 2_000_000;

function progressBar(io: Io, total: number, label: () => string): { update: (done: number) => void; end: () => void } {
  if (!io.stderr.isTTY) return { update: () => undefined, end: () => undefined };
  let last = 0;
  const draw = (done: number): void => {
    const width = 30;
    const filled = Math.min(width, Math.round((done / total) * width));
    io.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.min(100, Math.round((done / total) * 100))
      .toString()
      .padStart(3)}% ${label()}   `);
  };
  return {
    update: (done) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      draw(done);
    },
    end: () => io.stderr.write('\r\x1b[2K'),
  };
}

function formatReport(r: LoadReport, target: string, connections: number): string {
  const statuses = Object.entries(r.statuses)
    .sort()
    .map(([s, n]) => `${s}: ${n}`)
    .join('  ');
  const l = r.latencyMs;
  return [
    `${target}: ${r.requests} requests over ${connections} connections in ${r.seconds.toFixed(2)} s`,
    `requests/s   ${Math.round(r.rps)}`,
    `latency ms   p50 ${l.p50.toFixed(2)}  p90 ${l.p90.toFixed(2)}  p99 ${l.p99.toFixed(2)}  max ${l.max.toFixed(2)}`,
    `statuses     ${statuses}`,
  ].join('\n');
}

/**
 * Sends for `durationMs`, sealed in batches, each sized from the rate so far; sealing time is not
 * counted. The first batch warms the server up and is not counted either.
 */
async function timedRuns(base: LoadOptions, durationMs: number, progress: () => (n: number) => void): Promise<LoadRun[]> {
  const runs: LoadRun[] = [];
  const warm = await sendAll({ ...base, durationMs: 500 }, presealBodies(base, Math.max(5000, base.connections * 300)));
  let rate = warm.latencies.length / Math.max(0.001, warm.seconds);
  let remaining = durationMs;
  while (remaining > 20) {
    const size = Math.min(MAX_POOL, Math.ceil(((rate * remaining) / 1000) * 1.5) + base.connections * 10);
    const run = await sendAll({ ...base, durationMs: remaining, onProgress: progress() }, presealBodies(base, size));
    runs.push(run);
    remaining -= run.seconds * 1000;
    rate = run.latencies.length / Math.max(0.001, run.seconds);
    if (run.latencies.length === 0) break;
  }
  return runs;
}

export async function run(io: Io, g: GlobalOptions, moduleArg: string | undefined, fnArg: string | undefined, items: string[], o: Options): Promise<number> {
  const module = moduleArg ?? 'supermath';
  const fn = fnArg ?? (moduleArg === undefined ? 'factorial' : undefined);
  if (fn === undefined) throw new PsimbolsError('usage', 'name the function too: psimbols bench MODULE FUNCTION [ITEM...]');
  checkCallNames(module, fn);
  const params = await paramsFromItems(moduleArg === undefined && items.length === 0 ? ['n=10'] : items, inputReader(io));
  const { connections, requests } = o;
  const duration = o.duration ?? (requests === undefined ? 10 : undefined);
  const config = await clientConfig(io, g, o.clientConfig);
  const base: LoadOptions = { config, endpoint: o.server, module, fn, params, connections, requests: requests ?? 0 };
  const server = o.server ?? config.server;
  const target = `${module}.${fn} at ${server}`;

  const runs: LoadRun[] = [];
  let done = 0;
  const started = Date.now();
  const bar = progressBar(io, duration === undefined ? (requests ?? 1) : duration * 1000, () => `${Math.round(done / Math.max(0.001, (Date.now() - started) / 1000))} req/s`);
  const onProgress = (base: number) => (n: number): void => {
    done = base + n;
    bar.update(duration === undefined ? done : Date.now() - started);
  };
  if (requests !== undefined) runs.push(await sendAll({ ...base, onProgress: onProgress(0) }, presealBodies(base, requests)));
  else runs.push(...(await timedRuns(base, (duration ?? 10) * 1000, () => onProgress(done))));
  bar.end();
  const report = summarize(runs);
  if (report.requests === 0 || (report.statuses.error ?? 0) === report.requests) throw new PsimbolsError('network', `no answer from ${server}`);
  out(io, o.json ? JSON.stringify({ target: { module, function: fn, server }, connections, ...report }) : formatReport(report, target, connections));
  return EXIT.ok;
}
