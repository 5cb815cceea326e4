import { sealCall, type SealedCall } from '../../client/client.js';
import { sendAll, summarize, type LoadOptions, type LoadReport, type LoadRun } from '../../client/load-generator.js';
import type { ClientConfig } from '../../config/client-config.js';
import { PsimbolsError } from '../../errors.js';
import { parseJson } from '../../protocol/messages.js';
import { parseOuterResponse } from '../../protocol/outer.js';
import { checkCallNames, clientConfig } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { inputReader } from '../inputs.js';
import { out, printJson, type GlobalOptions, type Io } from '../io.js';
import { paramsFromItems } from '../items.js';
import { trustedCa } from '../trust.js';

// A load generator for psimbols servers, as redis-benchmark is for Redis. Every request must be
// fresh or the replay store refuses it, so requests are sealed before the timed phase. Every
// answer is opened, so the report tells successes from function errors, and the exit code says
// whether every request succeeded. The client's quota is checked before anything is spent.

type Options = {
  readonly clientConfig?: string;
  readonly server?: string;
  readonly connections: number;
  readonly requests?: number;
  readonly duration?: number;
  readonly rate?: number;
  readonly json?: boolean;
  readonly force?: boolean;
  readonly cacert?: string;
};

const MAX_POOL = 2_000_000;
const WARM_MS = 500;

type Pool = { readonly bodies: Buffer[]; readonly calls: SealedCall[] };
type Plan = { readonly config: ClientConfig; readonly base: LoadOptions; readonly server: string };

function seal(plan: Plan, count: number): Pool {
  const calls = Array.from({ length: count }, () => sealCall(plan.config, plan.base.module, plan.base.fn, plan.base.params));
  return { calls, bodies: calls.map((c) => Buffer.from(JSON.stringify(c.outer))) };
}

/** Names each answer: ok, a function error by code, or the status. */
function classifier(pool: Pool): (i: number, status: number, body: string) => string {
  return (i, status, body) => {
    if (status === 0) return 'no answer';
    if (status !== 200) return String(status);
    const outer = parseOuterResponse(parseJson(body));
    const opened = outer === undefined ? undefined : pool.calls[i]?.open(outer.response);
    if (opened === undefined || !opened.ok) return 'bad response';
    return 'error' in opened.value ? `function error ${opened.value.error.code}` : 'ok';
  };
}

async function send(plan: Plan, pool: Pool, extra: Partial<LoadOptions> = {}): Promise<LoadRun> {
  return sendAll({ ...plan.base, ...extra, classify: classifier(pool) }, pool.bodies);
}

/** Refuses a run that would spend more than the client has left, unless --force. */
function checkQuota(plan: Plan, remaining: number | undefined, planned: number, force: boolean): void {
  if (force || remaining === undefined || planned <= remaining) return;
  throw new PsimbolsError(
    'usage',
    `this run would send about ${planned} requests, but client "${plan.config.client}" has ${remaining} left in its hour at ${plan.server}: use a client with a larger --requests-per-hour (psimbols add-client NAME --requests-per-hour N), fewer requests, or --force`,
  );
}

function progressBar(io: Io, total: number): { update: (done: number, at: number, rate: number) => void; end: () => void } {
  if (!io.stderr.isTTY) return { update: () => undefined, end: () => undefined };
  let last = 0;
  return {
    update: (_done, at, rate) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const share = Math.min(1, at / total);
      const filled = Math.round(share * 30);
      io.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${String(Math.round(share * 100)).padStart(3)}% ${Math.round(rate)} req/s   `);
    },
    end: () => io.stderr.write('\r\x1b[2K'),
  };
}

/** The timed runs: -n at once, or -d in batches sealed from the rate so far; sealing is not timed. */
async function timedRuns(io: Io, plan: Plan, o: Options, warm: LoadRun | undefined): Promise<LoadRun[]> {
  const runs: LoadRun[] = [];
  const durationMs = (o.duration ?? 10) * 1000;
  const bar = progressBar(io, o.requests ?? durationMs);
  // The bar's rate is the report's: requests over time spent sending.
  let doneBefore = 0;
  let sentMs = 0;
  const onProgress = (done: number, elapsedMs: number): void => {
    const rate = (doneBefore + done) / Math.max(0.001, (sentMs + elapsedMs) / 1000);
    bar.update(doneBefore + done, o.requests === undefined ? sentMs + elapsedMs : doneBefore + done, rate);
  };
  if (o.requests !== undefined) runs.push(await send(plan, seal(plan, o.requests), { onProgress }));
  else {
    let rate = Math.min(o.rate ?? Infinity, warm ? warm.latencies.length / Math.max(0.001, warm.seconds) : 1000);
    while (durationMs - sentMs > 20) {
      const left = durationMs - sentMs;
      const run = await send(plan, seal(plan, Math.min(MAX_POOL, Math.ceil(((rate * left) / 1000) * 1.5) + o.connections * 10)), { durationMs: left, onProgress });
      runs.push(run);
      doneBefore += run.latencies.length;
      sentMs += run.seconds * 1000;
      rate = run.latencies.length / Math.max(0.001, run.seconds);
      if (run.latencies.length === 0) break;
    }
  }
  bar.end();
  return runs;
}

function formatReport(r: LoadReport, target: string, connections: number, warmed: number): string {
  const outcomes = Object.entries(r.statuses)
    .sort(([a], [b]) => (a === 'ok' ? -1 : b === 'ok' ? 1 : a.localeCompare(b)))
    .map(([s, n]) => `${s}: ${n}`)
    .join('  ');
  const l = r.latencyMs;
  return [
    `${target}: ${r.requests} requests over ${connections} connections in ${r.seconds.toFixed(2)} s (and ${warmed} sent before, to check the quota and warm up: not in these figures, but counted against the hourly limit)`,
    `requests/s   ${Math.round(r.rps)}`,
    `latency ms   p50 ${l.p50.toFixed(2)}  p90 ${l.p90.toFixed(2)}  p99 ${l.p99.toFixed(2)}  max ${l.max.toFixed(2)}`,
    `outcomes     ${outcomes}`,
  ].join('\n');
}

/** 0 when every request succeeded; else the exit code of the worst kind of failure seen. */
function exitFor(outcomes: Readonly<Record<string, number>>): number {
  const seen = (prefix: string): boolean => Object.keys(outcomes).some((k) => k.startsWith(prefix));
  if (seen('401')) return EXIT.unauthorized;
  if (seen('429')) return EXIT.rateLimited;
  if (seen('no answer') || seen('503')) return EXIT.network;
  if (seen('function error')) return EXIT.functionError;
  return Object.keys(outcomes).every((k) => k === 'ok') ? EXIT.ok : EXIT.other;
}

export async function run(io: Io, g: GlobalOptions, moduleArg: string | undefined, fnArg: string | undefined, items: string[], o: Options): Promise<number> {
  const module = moduleArg ?? 'supermath';
  const fn = fnArg ?? (moduleArg === undefined ? 'factorial' : undefined);
  if (fn === undefined) throw new PsimbolsError('usage', 'name the function too: psimbols bench MODULE FUNCTION [ITEM...]');
  checkCallNames(module, fn);
  const params = await paramsFromItems(moduleArg === undefined && items.length === 0 ? ['n=10'] : items, inputReader(io));
  const config = await clientConfig(io, g, o.clientConfig);
  const server = o.server ?? config.server;
  const ca = await trustedCa(io.env, server, o.cacert);
  const base = { config, endpoint: o.server, module, fn, params, connections: o.connections, requests: o.requests ?? 0, ...(o.rate === undefined ? {} : { rate: o.rate }), ...(ca === undefined ? {} : { ca }) };
  const plan: Plan = { config, server, base };

  // A probe first, one request per connection: what the client has left, and a first rate, from
  // which the run's likely size (with -d, its warm-up included) is checked before it starts.
  const probe = await send(plan, seal(plan, o.connections));
  if (probe.latencies.length === 0 || probe.statuses['no answer']) throw new PsimbolsError('network', `no answer from ${server}${probe.failure ? `: ${probe.failure.message}` : ''}`);
  const perSecond = Math.min(o.rate ?? Infinity, o.connections / Math.max(0.001, summarize([probe]).latencyMs.p50 / 1000));
  const likely = o.requests ?? Math.ceil(perSecond * ((o.duration ?? 10) + WARM_MS / 1000));
  checkQuota(plan, probe.remaining, likely, o.force === true);
  const warmPool = o.rate === undefined ? Math.max(5000, o.connections * 300) : Math.ceil((o.rate * WARM_MS) / 1000) + o.connections;
  const warm = o.requests === undefined ? await send(plan, seal(plan, warmPool), { durationMs: WARM_MS }) : undefined;
  const report = summarize(await timedRuns(io, plan, o, warm));
  if (report.requests === 0) throw new PsimbolsError('network', `no answer from ${server}`);
  const warmed = probe.latencies.length + (warm?.latencies.length ?? 0);
  if (o.json) await printJson(io, g, { target: { module, function: fn, server }, connections: o.connections, ...(o.rate === undefined ? {} : { rate: o.rate }), warmup: warmed, ...report });
  else out(io, formatReport(report, `${module}.${fn} at ${server}`, o.connections, warmed));
  return exitFor(report.statuses);
}
