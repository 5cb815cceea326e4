// npm run bench (second part): psimbols serve --workers 1 against --workers 2, in alternating
// rounds, with nothing pinned (the load generator shares the cores), and the CPU each process
// spent per request, read from /proc/PID/stat. The primary's share is what bounds a bigger
// machine: it saturates its one core at 1e6 / (primary µs per request) requests per second.
// Options: --rounds N (3), --requests N (20000), --connections N (32).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeySpec, presealBodies, runLoad } from '../dist/index.js';
import { arg, cpuMs, freePort, median, startServe as startServeProcess, stop } from '../scripts/lib.mjs';

const ROUNDS = Number(arg('rounds', 3));
const REQUESTS = Number(arg('requests', 20000));
const CONNECTIONS = Number(arg('connections', 32));

const fmt = (xs, digits = 0) => `${median(xs).toFixed(digits)} (min ${Math.min(...xs).toFixed(digits)}, max ${Math.max(...xs).toFixed(digits)})`;


const childrenOf = (pid) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

const startServe = (configDir, url, workers) => startServeProcess({ configDir, url, args: ['--workers', String(workers)], logName: `serve-${workers}.log` });

const dir = mkdtempSync(join(tmpdir(), 'psimbols-bench-workers-'));
const children = [];
try {
  const key = generateKeySpec();
  const targets = [];
  for (const workers of [1, 2]) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const configDir = join(dir, String(workers));
    mkdirSync(configDir);
    writeFileSync(join(configDir, 'server.json'), JSON.stringify({ listen: { host: '127.0.0.1', port }, clients: { bench: { server: url, keys: [key], requestsPerHour: 1_000_000_000 } } }), { mode: 0o600 });
    const child = await startServe(configDir, url, workers);
    children.push(child);
    // With one worker there is no primary: the one process does everything.
    targets.push({ workers, child, config: { client: 'bench', server: url, key }, rps: [], primaryUs: [], workerUs: [] });
  }
  const load = (config) => {
    const o = { config, module: 'supermath', fn: 'factorial', params: { n: 20 }, connections: CONNECTIONS, requests: REQUESTS };
    return runLoad(o, presealBodies(o, REQUESTS));
  };
  for (const t of targets) await load(t.config);
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      const workers = t.workers > 1 ? childrenOf(t.child.pid) : [];
      const before = { primary: cpuMs(t.child.pid), workers: workers.map(cpuMs) };
      const report = await load(t.config);
      if ((report.statuses['200'] ?? 0) !== REQUESTS) throw new Error(`--workers ${t.workers}: not every request succeeded: ${JSON.stringify(report.statuses)}`);
      t.rps.push(report.rps);
      t.primaryUs.push(((cpuMs(t.child.pid) - before.primary) * 1000) / REQUESTS);
      t.workerUs.push(((workers.reduce((sum, pid, i) => sum + cpuMs(pid) - before.workers[i], 0)) * 1000) / REQUESTS);
    }
  }
  const [one, two] = targets;
  console.log(`machine: ${availableParallelism()} cores, Node ${process.version}; ${ROUNDS} rounds of ${REQUESTS} requests over ${CONNECTIONS} connections, nothing pinned (the load generator shares the cores)`);
  console.log(`--workers 1   req/s ${fmt(one.rps)}  CPU µs/request ${fmt(one.primaryUs, 1)}`);
  console.log(`--workers 2   req/s ${fmt(two.rps)}  CPU µs/request: primary ${fmt(two.primaryUs, 1)}, workers ${fmt(two.workerUs, 1)}`);
  console.log(`workers 2 / 1 throughput ${(median(two.rps) / median(one.rps)).toFixed(2)}`);
  const share = median(two.primaryUs) / median(two.workerUs);
  console.log(`primary / worker CPU per request ${(100 * share).toFixed(1)}% (target < 10%); the primary's core is full at about ${Math.round(1e6 / median(two.primaryUs))} req/s`);
} finally {
  await Promise.all(children.map(stop));
  rmSync(dir, { recursive: true, force: true });
}
