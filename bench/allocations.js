// npm run bench:allocations: where `serve` allocates, per request. The server runs in this
// process under load, and V8's sampling heap profiler counts every allocation, those a minor GC
// collects included; the figure is bytes per request by the function that allocated them. The
// load generator runs here too, so its allocations are in the total and in its own rows.
// Options: --requests N (20000).
import { Session } from 'node:inspector/promises';
import { createLogger, generateKeySpec, presealBodies, runLoad, startServer } from '../dist/index.js';
import { parseServerConfig } from '../dist/internal.js';
import { arg, freePort } from '../scripts/lib.mjs';

const N = Number(arg('requests', 20000));
const key = generateKeySpec();
const port = await freePort();
const url = `http://127.0.0.1:${port}/`;
const config = parseServerConfig({ listen: { host: '127.0.0.1', port }, clients: { bench: { server: url, keys: [key], requestsPerHour: 1e9 } } }, 'bench');
// Access lines are built as in serve, then dropped.
const server = await startServer({ config, log: createLogger(() => undefined, 'json') });
const o = { config: { client: 'bench', server: url, key }, module: 'supermath', fn: 'factorial', params: { n: 20 }, connections: 16 };
const bodies = presealBodies(o, N + 5000);
await runLoad({ ...o, requests: 5000 }, bodies.slice(0, 5000));

const session = new Session();
session.connect();
await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
await runLoad({ ...o, requests: N }, bodies.slice(5000));
const { profile } = await session.post('HeapProfiler.stopSampling');

const bytes = new Map();
let total = 0;
const walk = (node) => {
  const where = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-2).join('/')}:${node.callFrame.lineNumber + 1}`;
  total += node.selfSize;
  bytes.set(where, (bytes.get(where) ?? 0) + node.selfSize);
  for (const child of node.children) walk(child);
};
walk(profile.head);
console.log(`${N} requests, supermath.factorial n=20: ${(total / N).toFixed(0)} bytes a request in this process, load generator included`);
for (const [where, b] of [...bytes].sort((x, y) => y[1] - x[1]).slice(0, 30)) console.log(`${(b / N).toFixed(0).padStart(7)}  ${where}`);
await server.close();
