// npm run bench: psimbols serve against the minimal baseline under the same load, in alternating
// rounds, then the wall time of `psimbols call` against `node -e "import('ky')"` and `node -e 0`.
// Figures are medians with min and max. With redis-server installed, psimbols is also measured on a private Redis.
// Options: --rounds N (5), --requests N (20000), --connections N (16), --store URL (instead of memory).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeySpec, presealBodies, runLoad } from '../dist/index.js';
import { arg, BIN, cpuMs, freePort, median, redisCommand, startRedis as startPrivateRedis, startServe as startServeProcess, stop } from '../scripts/lib.mjs';

const ROUNDS = Number(arg('rounds', 5));
const REQUESTS = Number(arg('requests', 20000));
const CONNECTIONS = Number(arg('connections', 16));
const STORE = arg('store', undefined);
const BASELINE = fileURLToPath(new URL('./baseline.js', import.meta.url));
const LEGACY_KEY = { type: 'AES', mode: 'CBC', data: 'bench-legacy-key-0123456789abcde' };


function start(cmd, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d.toString();
      if (ready.test(out)) {
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        // Keep draining so a full pipe never blocks the server's logging.
        child.stdout.resume();
        child.stderr.resume();
        pin(child.pid, 0);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
}


const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const fmt = (s, digits = 0) => `${s.median.toFixed(digits)} (min ${s.min.toFixed(digits)}, max ${s.max.toFixed(digits)})`;

async function startServe(env, configDir, url) {
  const child = await startServeProcess({ configDir, url, env });
  pin(child.pid, 0);
  return child;
}

async function startReplica(master) {
  const dir = join(master.dir, 'replica');
  mkdirSync(dir);
  const replica = await startPrivateRedis(dir, undefined, { args: ['--replicaof', '127.0.0.1', String(master.port)] });
  pin(replica.child.pid, 0);
  while (!(await redisCommand(replica.port, 'INFO', 'replication')).includes('master_link_status:up')) await new Promise((r) => setTimeout(r, 50));
  return replica;
}

async function startRedis(dir) {
  const redis = await startPrivateRedis(dir);
  if (redis) pin(redis.child.pid, 0);
  return redis && { ...redis, dir };
}

// With two or more cores, servers (and Redis) run on core 0 and this load generator on core 1,
// so the two do not steal each other's time slices: rounds vary far less.
const PIN = cpus().length >= 2 && spawnSync('taskset', ['-V']).status === 0;
const pin = (pid, core) => PIN && spawnSync('taskset', ['-a', '-cp', String(core), String(pid)]);
pin(process.pid, 1);

const dir = mkdtempSync(join(tmpdir(), 'psimbols-bench-'));
const children = [];
try {
  const key = generateKeySpec();
  const redis = STORE ? undefined : await startRedis(dir);
  if (redis) children.push(redis.child);
  // A replica of it, for the Redis path as Sentinel and Cluster run it: each accepted request
  // waits for the replica's acknowledgement (replicaAcks=1).
  const replica = redis ? await startReplica(redis) : undefined;
  if (replica) children.push(replica.child);
  const targets = [];
  const basePort = await freePort();
  const baseConfig = { client: 'bench', server: `http://127.0.0.1:${basePort}/`, key };
  const baseline = await start(BASELINE, [String(basePort), JSON.stringify(baseConfig)], /ready/);
  children.push(baseline);
  targets.push({ name: 'baseline', config: baseConfig, pid: baseline.pid });
  const stores = [['psimbols', STORE ?? 'memory'], ...(redis ? [['psimbols+redis', redis.url], ['redis+replica', `${redis.url}?replicaAcks=1`]] : [])];
  for (const [name, store] of stores) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const configDir = join(dir, name);
    mkdirSync(configDir);
    // A legacy (AES-CBC) client beside the ps2 one, so that the legacy path is measured too.
    const clients = { bench: { server: url, keys: [key], requestsPerHour: 1_000_000_000 }, legacy: { server: url, keys: [LEGACY_KEY], requestsPerHour: 1_000_000_000 } };
    const server = { listen: { host: '127.0.0.1', port }, store, clients };
    writeFileSync(join(configDir, 'server.json'), JSON.stringify(server), { mode: 0o600 });
    writeFileSync(join(configDir, 'client.json'), JSON.stringify({ client: 'bench', server: url, key }), { mode: 0o600 });
    const serve = await startServe(process.env, configDir, url);
    children.push(serve);
    targets.push({ name, config: { client: 'bench', server: url, key }, configDir, pid: serve.pid });
    if (name === 'psimbols') targets.push({ name: 'psimbols legacy', config: { client: 'legacy', server: url, key: LEGACY_KEY }, pid: serve.pid });
  }

  const load = async (config) => {
    const o = { config, module: 'supermath', fn: 'factorial', params: { n: 20 }, connections: CONNECTIONS, requests: REQUESTS };
    return runLoad(o, presealBodies(o, REQUESTS));
  };
  // Warm everything up (JIT, sockets, Redis scripts) before anything is counted.
  for (const t of targets) await load(t.config);

  const rows = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order every round so no target always runs first or last.
    const order = targets.map((_, i) => targets[(i + r) % targets.length]);
    for (const t of order) {
      const before = cpuMs(t.pid);
      const report = await load(t.config);
      if ((report.statuses['200'] ?? 0) !== REQUESTS) throw new Error(`${t.name}: not every request succeeded: ${JSON.stringify(report.statuses)}`);
      rows[t.name].push({ ...report, cpuUs: ((cpuMs(t.pid) - before) * 1000) / REQUESTS });
    }
  }

  const rps = (name) => stats(rows[name].map((x) => x.rps));
  const p99 = (name) => stats(rows[name].map((x) => x.latencyMs.p99));
  const ratio = (a, b, f) => stats(rows[a].map((x, i) => f(x) / f(rows[b][i])));

  console.log(`machine: ${cpus().length} cores, Node ${process.version}; ${ROUNDS} rounds of ${REQUESTS} requests over ${CONNECTIONS} connections (supermath.factorial n=20)${PIN ? '; servers on core 0, load on core 1' : ''}`);
  const cpu = (name) => stats(rows[name].map((x) => x.cpuUs));
  for (const t of targets) console.log(`${t.name.padEnd(16)} req/s ${fmt(rps(t.name))}  p99 ms ${fmt(p99(t.name), 2)}  server CPU µs/request ${fmt(cpu(t.name), 1)}`);
  console.log(`psimbols/baseline       throughput ${fmt(ratio('psimbols', 'baseline', (x) => x.rps), 3)} (target >= 0.90)  p99 ${fmt(ratio('psimbols', 'baseline', (x) => x.latencyMs.p99), 3)} (target <= 1.5)`);
  console.log(`legacy/ps2 (psimbols)   throughput ${fmt(ratio('psimbols legacy', 'psimbols', (x) => x.rps), 3)}  p99 ${fmt(ratio('psimbols legacy', 'psimbols', (x) => x.latencyMs.p99), 3)}`);
  if (rows['psimbols+redis']) console.log(`redis/memory            throughput ${fmt(ratio('psimbols+redis', 'psimbols', (x) => x.rps), 3)} (target >= 0.70)`);
  if (rows['redis+replica']) console.log(`replicaAcks=1/redis     throughput ${fmt(ratio('redis+replica', 'psimbols+redis', (x) => x.rps), 3)}  p99 ${fmt(ratio('redis+replica', 'psimbols+redis', (x) => x.latencyMs.p99), 3)}`);
  if (!redis && !STORE) console.log('redis: redis-server not found, the Redis store was not measured');

  // psimbols call against a local server, against `node -e 0`, alternating.
  const env = { ...process.env, PSIMBOLS_CONFIG_DIR: targets[1].configDir };
  const time = (args) => {
    const t = performance.now();
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
    return performance.now() - t;
  };
  // The floor is loading ky, a fixed choice that every call needs (it builds a Request, which
  // loads undici); node -e 0 is shown beside it.
  const calls = [];
  const empties = [];
  const kys = [];
  for (let i = 0; i < 3; i++) time([BIN, 'call', 'supermath', 'factorial', 'n=3']);
  for (let i = 0; i < 30; i++) {
    empties.push(time(['-e', '0']));
    kys.push(time(['-e', "import('ky')"]));
    calls.push(time([BIN, 'call', 'supermath', 'factorial', 'n=3']));
  }
  const c = stats(calls);
  const e = stats(empties);
  const k = stats(kys);
  console.log(`node -e 0             ms ${fmt(e, 1)}`);
  console.log(`node -e import('ky')  ms ${fmt(k, 1)}`);
  console.log(`psimbols call n=3     ms ${fmt(c, 1)}`);
  console.log(`call / import('ky')   ${(c.median / k.median).toFixed(3)} (target <= 1.15); call / node -e 0 ${(c.median / e.median).toFixed(2)}`);

  // 1,000 calls in one `call --batch` process, against 1,000 `psimbols call` processes (the
  // median process above, times 1,000: running them all would take minutes for the same figure).
  const batchFile = join(dir, 'batch.jsonl');
  writeFileSync(batchFile, Array.from({ length: 1000 }, (_, i) => JSON.stringify({ module: 'supermath', function: 'factorial', params: { n: 20 }, id: i })).join('\n'));
  const batches = [];
  for (let i = 0; i < 5; i++) batches.push(time([BIN, 'call', '--batch', batchFile]));
  const b = stats(batches);
  console.log(`call --batch, 1000 calls  ms ${fmt(b, 0)}  (${(b.median / 1000).toFixed(2)} ms a call)`);
  console.log(`1000 processes / batch    ${((c.median * 1000) / b.median).toFixed(1)}x (target >= 20)`);
} finally {
  await Promise.all(children.map(stop));
  rmSync(dir, { recursive: true, force: true });
}
