// npm run bench: psimbols serve against the minimal baseline under the same load, in alternating
// rounds, then the wall time of `psimbols call` against `node -e 0`. Figures are medians with
// min and max. Options: --rounds N (5), --requests N (20000), --connections N (16), --store URL.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeySpec, presealBodies, runLoad } from '../dist/index.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const ROUNDS = Number(arg('rounds', 5));
const REQUESTS = Number(arg('requests', 20000));
const CONNECTIONS = Number(arg('connections', 16));
const STORE = arg('store', undefined);
const BIN = fileURLToPath(new URL('../bin/psimbols.js', import.meta.url));
const BASELINE = fileURLToPath(new URL('./baseline.js', import.meta.url));

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

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
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
}

const stop = (child) => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM'))));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const fmt = (s, digits = 0) => `${s.median.toFixed(digits)} (min ${s.min.toFixed(digits)}, max ${s.max.toFixed(digits)})`;

const dir = mkdtempSync(join(tmpdir(), 'psimbols-bench-'));
try {
  const psPort = await freePort();
  const basePort = await freePort();
  const key = generateKeySpec();
  const psUrl = `http://127.0.0.1:${psPort}/`;
  const baseUrl = `http://127.0.0.1:${basePort}/`;
  const server = {
    listen: { host: '127.0.0.1', port: psPort },
    clients: { bench: { server: psUrl, keys: [key], requestsPerHour: 1_000_000_000 } },
    ...(STORE ? { store: STORE } : {}),
  };
  writeFileSync(join(dir, 'server.json'), JSON.stringify(server), { mode: 0o600 });
  writeFileSync(join(dir, 'client.json'), JSON.stringify({ client: 'bench', server: psUrl, key }), { mode: 0o600 });
  const psConfig = { client: 'bench', server: psUrl, key };
  const baseConfig = { client: 'bench', server: baseUrl, key };
  const env = { ...process.env, PSIMBOLS_CONFIG_DIR: dir };

  const ps = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--log-format', 'json'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d.toString();
      if (err.includes('listening on')) {
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  const base = await start(BASELINE, [String(basePort), JSON.stringify(baseConfig)], /ready/);

  const load = async (config) => {
    const o = { config, module: 'supermath', fn: 'factorial', params: { n: 20 }, connections: CONNECTIONS, requests: REQUESTS };
    return runLoad(o, presealBodies(o, REQUESTS));
  };
  // Warm both up (JIT, worker threads, sockets) before anything is counted.
  await load(psConfig);
  await load(baseConfig);

  const rows = { ps: [], base: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['base', 'ps'] : ['ps', 'base'];
    for (const which of order) {
      const report = await load(which === 'ps' ? psConfig : baseConfig);
      if ((report.statuses['200'] ?? 0) !== REQUESTS) throw new Error(`${which}: not every request succeeded: ${JSON.stringify(report.statuses)}`);
      rows[which].push(report);
    }
  }
  await stop(ps);
  await stop(base);

  const rps = (which) => stats(rows[which].map((x) => x.rps));
  const p99 = (which) => stats(rows[which].map((x) => x.latencyMs.p99));
  const ratio = (f) => stats(rows.ps.map((x, i) => f(x) / f(rows.base[i])));

  console.log(`machine: ${cpus().length} cores, Node ${process.version}; ${ROUNDS} rounds of ${REQUESTS} requests over ${CONNECTIONS} connections (supermath.factorial n=20)`);
  console.log(`store: ${STORE ?? 'memory'}`);
  console.log(`baseline  req/s ${fmt(rps('base'))}  p99 ms ${fmt(p99('base'), 2)}`);
  console.log(`psimbols  req/s ${fmt(rps('ps'))}  p99 ms ${fmt(p99('ps'), 2)}`);
  console.log(`ratio     throughput ${fmt(ratio((x) => x.rps), 3)} (target >= 0.90)  p99 ${fmt(ratio((x) => x.latencyMs.p99), 3)} (target <= 1.5)`);

  // psimbols call against a local server, against `node -e 0`, alternating.
  const ps2 = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--log-format', 'json'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d.toString();
      if (err.includes('listening on')) {
        child.stderr.resume();
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  const time = (args) => {
    const t = performance.now();
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
    return performance.now() - t;
  };
  const calls = [];
  const empties = [];
  for (let i = 0; i < 3; i++) time([BIN, 'call', 'supermath', 'factorial', 'n=3']);
  for (let i = 0; i < 30; i++) {
    empties.push(time(['-e', '0']));
    calls.push(time([BIN, 'call', 'supermath', 'factorial', 'n=3']));
  }
  await stop(ps2);
  const c = stats(calls);
  const e = stats(empties);
  console.log(`node -e 0             ms ${fmt(e, 1)}`);
  console.log(`psimbols call n=3     ms ${fmt(c, 1)}`);
  console.log(`ratio                 ${(c.median / e.median).toFixed(2)} (target <= 1.8)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
