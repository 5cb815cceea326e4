// npm run chaos [-- --seconds N]: the replay and limit guarantees together, under faults.
//
// Three `psimbols serve` processes (the real binary) share one private redis-server. Clients with
// small hourly limits send fresh requests to random instances and replay every token they were
// ever answered, while the run kills Redis and restarts it empty, pauses it (SIGSTOP/SIGCONT),
// kills an instance with SIGKILL and restarts it, and reloads the config. At the end it reports,
// per client:
//   - accepted requests against the limit, per era of the store (an empty restart starts a new
//     hour: docs/SECURITY.md): never over it;
//   - replays accepted: must be 0;
//   - honest requests refused for a reason other than their own limit or the store or an
//     instance being down: must be 0.
// It exits 1 if any of these fails. Everything it starts listens on 127.0.0.1 and is stopped.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeySpec, sealCall } from '../dist/index.js';
import { arg, freePort, hasRedis, startRedis as startPrivateRedis, startServe } from './lib.mjs';

const SECONDS = Number(arg('seconds', 60));
const LIMIT = 25;
const CLIENTS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
const LB = 'http://lb.chaos.test/';

if (!hasRedis()) {
  console.error('chaos: redis-server not found: apt-get install -y redis-server');
  process.exit(process.env.CI ? 1 : 0);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'psimbols-chaos-'));
const keys = Object.fromEntries(CLIENTS.map((id) => [id, generateKeySpec()]));
const configPath = join(dir, 'server.json');
const writeConfig = (extra = {}) => {
  const clients = Object.fromEntries(CLIENTS.map((id) => [id, { server: LB, keys: [keys[id]], requestsPerHour: LIMIT }]));
  writeFileSync(configPath, JSON.stringify({ store: redis.url, clients: { ...clients, ...extra } }), { mode: 0o600 });
};

// --- Redis, started and stopped by hand so that a restart is empty (no persistence).
const redis = { port: await freePort(), child: undefined, url: '' };
redis.url = `redis://127.0.0.1:${redis.port}/0`;
async function startRedis() {
  redis.child = (await startPrivateRedis(dir, redis.port)).child;
}
const stopRedis = () =>
  new Promise((r) => {
    const c = redis.child;
    if (!c || c.exitCode !== null) return r();
    c.once('exit', r);
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  });

// --- Instances of the real binary.
const instances = [];
async function startInstance(slot) {
  const env = { PATH: process.env.PATH, HOME: dir };
  slot.child = await startServe({ configDir: dir, url: slot.url, args: ['--port', String(slot.port), '-c', configPath], env, logName: `serve-${slot.port}.log` });
}

// --- The clients.
const stats = Object.fromEntries(CLIENTS.map((id) => [id, { sent: 0, eras: [0], limited: 0, unavailable: 0, unreachable: 0, honestRefused: [], replays: 0, replaysAccepted: 0 }]));
const answered = Object.fromEntries(CLIENTS.map((id) => [id, []]));
let era = 0;
let running = true;

async function post(url, body) {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
const anyInstance = () => instances[Math.floor(Math.random() * instances.length)];

async function fresh(id) {
  const s = stats[id];
  const outer = sealCall({ client: id, server: LB, key: keys[id] }, 'supermath', 'factorial', { n: 5 }).outer;
  const startEra = era;
  const status = await post(anyInstance().url, outer);
  s.sent++;
  if (status === 200 || status === 429) answered[id].push(outer);
  // Counted in the era it was sealed in: a token sealed before a restart cannot be accepted by the
  // empty Redis after it (it is stamped before the new epoch), so it belongs to the old era.
  if (status === 200) s.eras[startEra] = (s.eras[startEra] ?? 0) + 1;
  else if (status === 429) s.limited++;
  else if (status === 503) s.unavailable++;
  else if (status === 0) s.unreachable++;
  else s.honestRefused.push(status);
}

async function replay(id, outer, instance = anyInstance()) {
  const s = stats[id];
  const status = await post(instance.url, outer);
  s.replays++;
  if (status === 200) s.replaysAccepted++;
}

async function clientLoop(id) {
  while (running) {
    await fresh(id);
    const seen = answered[id];
    if (seen.length > 0) await replay(id, seen[Math.floor(Math.random() * seen.length)]);
    await sleep(40 + Math.random() * 80);
  }
}

// --- The faults, spread over the run.
const events = [];
const log = (what) => {
  events.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${what}`);
};
async function faults() {
  const step = (SECONDS * 1000) / 6;
  const at = async (n) => {
    const wait = t0 + n * step - Date.now();
    if (wait > 0) await sleep(wait);
  };
  const emptyRestart = async (what) => {
    log(what);
    await stopRedis();
    era++;
    await startRedis();
    log('redis restarted empty');
  };
  await at(1);
  await emptyRestart('redis killed');
  await at(2);
  log('redis paused');
  redis.child.kill('SIGSTOP');
  await sleep(2000);
  redis.child.kill('SIGCONT');
  log('redis resumed');
  await at(3);
  const victim = instances[1];
  log('instance 2 killed (SIGKILL)');
  victim.child.kill('SIGKILL');
  await sleep(1000);
  await startInstance(victim);
  log('instance 2 restarted');
  await at(4);
  writeConfig({ late: { server: LB, keys: [generateKeySpec()], requestsPerHour: LIMIT } });
  for (const i of instances) i.child.kill('SIGHUP');
  log('config rewritten with a new client and every instance sent SIGHUP');
  await at(5);
  await emptyRestart('redis killed again');
}

let t0 = Date.now();
let failed = false;
try {
  await startRedis();
  writeConfig();
  for (let i = 0; i < 3; i++) instances.push({ port: await freePort(), child: undefined, get url() { return `http://127.0.0.1:${this.port}/`; } });
  await Promise.all(instances.map(startInstance));
  t0 = Date.now();
  const loops = CLIENTS.map(clientLoop);
  await faults();
  const left = t0 + SECONDS * 1000 - Date.now();
  if (left > 0) await sleep(left);
  running = false;
  await Promise.all(loops);
  // Last, every token ever answered is replayed once more, to every instance.
  for (const id of CLIENTS) for (const outer of answered[id]) for (const i of instances) await replay(id, outer, i);
  failed = report();
} catch (e) {
  console.error(`chaos: ${e instanceof Error ? e.stack : e}`);
  failed = true;
} finally {
  running = false;
  for (const i of instances) i.child?.kill('SIGKILL');
  await stopRedis();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

function report() {
  console.log(`chaos: ${SECONDS} s, 3 instances on one Redis, ${CLIENTS.length} clients of ${LIMIT} requests an hour`);
  for (const e of events) console.log(`  ${e}`);
  console.log('client  sent  accepted per store era  limited  503  unreachable  replays  replays accepted  honest refused');
  let bad = 0;
  for (const id of CLIENTS) {
    const s = stats[id];
    const eras = s.eras.map((n) => n ?? 0);
    const over = eras.some((n) => n > LIMIT);
    const wrong = over || s.replaysAccepted > 0 || s.honestRefused.length > 0;
    if (wrong) bad++;
    console.log(
      `${id.padEnd(6)}  ${String(s.sent).padStart(4)}  ${eras.join(' / ').padEnd(22)}  ${String(s.limited).padStart(7)}  ${String(s.unavailable).padStart(3)}  ${String(s.unreachable).padStart(11)}  ${String(s.replays).padStart(7)}  ${String(s.replaysAccepted).padStart(16)}  ${s.honestRefused.length ? s.honestRefused.join(',') : '0'}${wrong ? '  <- FAILED' : ''}`,
    );
  }
  console.log(`chaos: ${CLIENTS.length - bad} clients held every guarantee, ${bad} did not`);
  return bad > 0;
}
