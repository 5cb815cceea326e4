// npm run bench:memory: what the server's memory costs per client and per request.
//  1. The limiter alone at full quota: heap bytes per client.
//  2. The replay store: heap bytes per remembered nonce.
//  3. The whole request path in one process: a million requests across ten thousand clients
//     (each at its full quota of 100), then half a million more that are all refused; resident set
//     after each. Run with --expose-gc (the npm script does).
//  4. A registered client's prepared state (its keys, limit and allow list): heap bytes.
import { generateKeySpec, sealCall } from '../dist/index.js';
import { buildState, FailureLimiter, FunctionRunner, MemoryAdmissionStore, MemoryRateLimiter, MemoryReplayStore, parseServerConfig, Processor, supermath } from '../dist/internal.js';
import { arg } from '../scripts/lib.mjs';

const CLIENTS = Number(arg('clients', 10_000));
const LIMIT = Number(arg('limit', 100));
const HOUR = 3_600_000;
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
const settle = () => {
  global.gc?.();
  global.gc?.();
  return process.memoryUsage();
};
// Live JavaScript state: the heap plus typed-array storage, which may live outside it.
const live = () => {
  const m = settle();
  return m.heapUsed + m.arrayBuffers;
};
if (!global.gc) console.log('(run with node --expose-gc for exact heap figures)');

// 1. Limiter at full quota.
{
  const before = live();
  const limiter = new MemoryRateLimiter(() => Date.now());
  for (let c = 0; c < CLIENTS; c++) for (let i = 0; i < LIMIT; i++) limiter.take(`client-${c}`, LIMIT, HOUR);
  const perClient = (live() - before) / CLIENTS;
  console.log(`limiter at full quota (${LIMIT}/h): ${Math.round(perClient)} bytes per client (${LIMIT} x 8-byte timestamps plus ${Math.round(perClient - LIMIT * 8)} bytes of bookkeeping), ${CLIENTS} clients`);
  if (limiter.size !== CLIENTS) throw new Error('limiter lost clients');
}

// 2. Replay store.
{
  const before = live();
  const store = new MemoryReplayStore(() => Date.now());
  const nonce = (i) => Buffer.from(String(i).padStart(32, '0')).toString('base64url');
  for (let c = 0; c < CLIENTS; c++) for (let i = 0; i < LIMIT; i++) store.add(`client-${c}`, nonce(c * LIMIT + i), 361_000);
  console.log(`replay store: ${Math.round((live() - before) / (CLIENTS * LIMIT))} bytes per remembered nonce (${CLIENTS * LIMIT} nonces)`);
  if (store.size !== CLIENTS * LIMIT) throw new Error('replay store lost nonces');
}

// 3. The request path.
{
  const keys = Array.from({ length: CLIENTS }, () => generateKeySpec());
  const url = 'http://psimbols.test/';
  const clients = Object.fromEntries(keys.map((key, i) => [`c${i}`, { server: url, keys: [key], requestsPerHour: LIMIT }]));
  const config = parseServerConfig({ clients }, 'memory-bench');
  const runner = new FunctionRunner([{ def: supermath, isolate: false }], { callTimeoutMs: 5000, maxConcurrentCalls: 64 });
  const failures = new FailureLimiter({ limit: 100, windowMs: 60_000 });
  const processor = new Processor(buildState(config), { store: new MemoryAdmissionStore({ sweep: false }), runner, failures });
  const rss0 = settle().rss;
  const live0 = live();
  const statuses = {};
  const send = async (total) => {
    for (let done = 0; done < total; ) {
      const batch = [];
      for (let i = 0; i < 10_000 && done + i < total; i++) {
        const c = (done + i) % CLIENTS;
        batch.push(sealCall({ client: `c${c}`, server: url, key: keys[c] }, 'supermath', 'factorial', { n: 10 }).outer);
      }
      for (const body of batch) {
        const outcome = await processor.process(body, '127.0.0.1');
        statuses[outcome.kind] = (statuses[outcome.kind] ?? 0) + 1;
      }
      done += batch.length;
    }
  };
  const first = CLIENTS * LIMIT;
  const start = performance.now();
  await send(first);
  const rss1 = settle().rss;
  const live1 = live();
  await send(first / 2);
  const rss2 = settle().rss;
  const live2 = live();
  console.log(
    `request path: ${first} requests across ${CLIENTS} clients at full quota, then ${first / 2} refused (${((performance.now() - start) / 1000).toFixed(0)} s); outcomes ${JSON.stringify(statuses)}`,
  );
  console.log(`resident set: ${mib(rss0)} at start, ${mib(rss1)} after the first ${first}, ${mib(rss2)} after ${first / 2} more`);
  console.log(`live state: ${mib(live1 - live0)} after the first ${first} (${Math.round((live1 - live0) / CLIENTS)} bytes per client at full quota, limiter and nonces), ${mib(live2 - live0)} after ${first / 2} more`);
}

// 4. Registered clients, as the server holds them once the config is read.
{
  const clients = Object.fromEntries(Array.from({ length: CLIENTS }, (_, i) => [`client-${i}`, { server: 'http://psimbols.test/', keys: [generateKeySpec()], requestsPerHour: LIMIT }]));
  const config = parseServerConfig({ clients }, 'bench');
  const before = live();
  const state = buildState(config);
  console.log(`registered client: ${Math.round((live() - before) / CLIENTS)} bytes each, prepared (${state.clients.size} clients)`);
}
