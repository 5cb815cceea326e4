// npm run chaos [-- --seconds N] [-- --sentinel]: the replay and limit guarantees together, under faults.
//
// Three `psimbols serve` processes (the real binary) share one private redis-server. Clients with
// small hourly limits send fresh requests to random instances and replay every token they were
// ever answered, while the run kills Redis and restarts it empty, pauses it (SIGSTOP/SIGCONT),
// kills an instance with SIGKILL and restarts it, and reloads the config. With --sentinel they
// share a master, its replica and a Sentinel instead, and the run switches the master over twice
// (SENTINEL FAILOVER, as for an upgrade) and pauses the master until Sentinel fails over without
// it. At the end it reports, per client:
//   - accepted requests against the limit, per era of the store (an empty restart starts a new
//     hour: docs/SECURITY.md): never over it;
//   - replays accepted: must be 0;
//   - honest requests refused for a reason other than their own limit or the store or an
//     instance being down: must be 0.
// It exits 1 if any of these fails. Everything it starts listens on 127.0.0.1 and is stopped.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeySpec, sealCall } from '../dist/index.js';
import { arg, freePort, gone, hasRedis, redisCommand, startRedis as startPrivateRedis, startServe } from './lib.mjs';

const SECONDS = Number(arg('seconds', 60));
const SENTINEL = process.argv.includes('--sentinel');
// c1-c3 reach their limit within seconds; c4-c6 never do, so that a replay the store fails to
// refuse is not hidden behind a 429.
const CLIENTS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
const LIMITS = { c1: 25, c2: 25, c3: 25, c4: 100_000, c5: 100_000, c6: 100_000 };
const LIMIT = 25;
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
  const clients = Object.fromEntries(CLIENTS.map((id) => [id, { server: LB, keys: [keys[id]], requestsPerHour: LIMITS[id] }]));
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
    if (!c || gone(c)) return r();
    c.once('exit', r);
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  });

// --- Or a master, its replica and a Sentinel that watches them (--sentinel).
const set = { nodes: new Map(), sentinel: undefined, sentinelPort: 0 };
async function startSentinelSet() {
  const [a, b] = [await freePort(), await freePort()];
  set.sentinelPort = await freePort();
  for (const [port, args] of [[a, []], [b, ['--replicaof', '127.0.0.1', String(a)]]]) {
    mkdirSync(join(dir, String(port)));
    set.nodes.set(port, (await startPrivateRedis(join(dir, String(port)), port, { args })).child);
  }
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `sentinel monitor chaos 127.0.0.1 ${a} 1\nsentinel down-after-milliseconds chaos 1000\nsentinel failover-timeout chaos 5000\n`);
  set.sentinel = (await startPrivateRedis(dir, set.sentinelPort, { conf, args: ['--sentinel'] })).child;
  await until(async () => (await redisCommand(b, 'INFO', 'replication')).includes('master_link_status:up'), 'the replica syncing');
  await until(async () => (await redisCommand(set.sentinelPort, 'SENTINEL', 'replicas', 'chaos')).includes(String(b)), 'Sentinel finding the replica');
  redis.url = `redis+sentinel://127.0.0.1:${set.sentinelPort}/chaos/0`;
}
const masterPort = async () => Number(/\$\d+\r\n(\d+)\r\n$/.exec(await redisCommand(set.sentinelPort, 'SENTINEL', 'get-master-addr-by-name', 'chaos'))?.[1]);
async function until(check, what, ms = 20_000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (await check().catch(() => false)) return;
  throw new Error(`${what} did not happen within ${ms} ms`);
}
// Sentinel refuses a switch while the last one settles (INPROG, NOGOODSLAVE): asked again until it starts.
async function switchover() {
  const before = await masterPort();
  await until(async () => (await redisCommand(set.sentinelPort, 'SENTINEL', 'FAILOVER', 'chaos')).startsWith('+OK'), 'SENTINEL FAILOVER being accepted');
  await until(async () => (await masterPort()) !== before, 'the switch');
}
const stopSet = () => Promise.all([set.sentinel, ...set.nodes.values()].filter((c) => c && !gone(c)).map((c) => new Promise((r) => (c.once('exit', r), c.kill('SIGCONT'), c.kill('SIGKILL')))));

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
  const killInstance = async () => {
    const victim = instances[1];
    log('instance 2 killed (SIGKILL)');
    victim.child.kill('SIGKILL');
    await sleep(1000);
    await startInstance(victim);
    log('instance 2 restarted');
  };
  const reload = () => {
    writeConfig({ late: { server: LB, keys: [generateKeySpec()], requestsPerHour: LIMIT } });
    for (const i of instances) i.child.kill('SIGHUP');
    log('config rewritten with a new client and every instance sent SIGHUP');
  };
  if (SENTINEL) return sentinelFaults(at, killInstance, reload);
  await at(1);
  await emptyRestart('redis killed');
  await at(2);
  log('redis paused');
  redis.child.kill('SIGSTOP');
  await sleep(2000);
  redis.child.kill('SIGCONT');
  log('redis resumed');
  await at(3);
  await killInstance();
  await at(4);
  reload();
  await at(5);
  await emptyRestart('redis killed again');
}

async function sentinelFaults(at, killInstance, reload) {
  await at(1);
  log('SENTINEL FAILOVER');
  await switchover();
  log('Sentinel names the replica master; the old master is still writable until Sentinel turns it');
  await at(2);
  await killInstance();
  await at(3);
  const paused = set.nodes.get(await masterPort());
  log('master paused (SIGSTOP): Sentinel fails over without it');
  paused.kill('SIGSTOP');
  await until(async () => set.nodes.get(await masterPort()) !== paused, 'the failover');
  paused.kill('SIGCONT');
  log('old master resumed, writable until Sentinel turns it');
  await at(4);
  reload();
  await at(5);
  log('SENTINEL FAILOVER again');
  await switchover();
  log('switched');
}

let t0 = Date.now();
let failed = false;
try {
  await (SENTINEL ? startSentinelSet() : startRedis());
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
  await stopSet();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

function report() {
  console.log(`chaos: ${SECONDS} s, 3 instances on ${SENTINEL ? 'a master, its replica and a Sentinel' : 'one Redis'}, ${CLIENTS.length} clients: 3 of ${LIMIT} requests an hour, 3 of ${LIMITS.c4}`);
  for (const e of events) console.log(`  ${e}`);
  console.log('client  sent  accepted per store era  limited  503  unreachable  replays  replays accepted  honest refused');
  let bad = 0;
  for (const id of CLIENTS) {
    const s = stats[id];
    const eras = s.eras.map((n) => n ?? 0);
    const over = eras.some((n) => n > LIMITS[id]);
    const wrong = over || s.replaysAccepted > 0 || s.honestRefused.length > 0;
    if (wrong) bad++;
    console.log(
      `${id.padEnd(6)}  ${String(s.sent).padStart(4)}  ${eras.join(' / ').padEnd(22)}  ${String(s.limited).padStart(7)}  ${String(s.unavailable).padStart(3)}  ${String(s.unreachable).padStart(11)}  ${String(s.replays).padStart(7)}  ${String(s.replaysAccepted).padStart(16)}  ${s.honestRefused.length ? s.honestRefused.join(',') : '0'}${wrong ? '  <- FAILED' : ''}`,
    );
  }
  console.log(`chaos: ${CLIENTS.length - bad} clients held every guarantee, ${bad} did not`);
  return bad > 0;
}
