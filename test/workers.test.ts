import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { sealCall } from '../src/client/client.js';
import { generateKeySpec, type KeySpec } from '../src/protocol/keys.js';
import { flipBit } from './helpers/attacks.js';
import { spawnServe, type Served } from './helpers/cli.js';
import { postFresh, tempDir } from './helpers/server.js';
import { parseServerConfig } from '../src/config/server-config.js';
import { PrimaryLink } from '../src/server/cluster/primary-link.js';
import { startServer } from '../src/server/http/start-server.js';
import { silentLogger } from '../src/server/observe/log.js';
import { eventually } from './helpers/wait.js';
import { redisMissing, startRedis } from './helpers/redis.js';

// `serve --workers 2`, the real binary: the primary owns limits, replays and failure counts, so
// the workers together behave as one server. Workers accept connections themselves, so which one
// takes a new connection is the kernel's choice: onWorker() stops the other (SIGSTOP) to send
// requests to one worker for certain. The log names the worker of each line.

const SERVER = 'http://psimbols.test/';

type Line = { msg: string; status?: number; client?: string; reason?: string; requestId?: string; worker?: number };

const lines = (s: Served): Line[] =>
  s
    .stderr()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);

// The primary's children, read from /proc: tests poll this, and a pgrep each time cost a process.
const workerPids = (s: Served): number[] =>
  readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const ppid = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
      return ppid === String(s.child.pid) ? [Number(entry)] : [];
    } catch {
      return [];
    }
  });

const readlinkOr = (path: string): string => {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The state letter of a process in /proc (T: stopped). */
const stateOf = (pid: number): string => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? '';

/** Stops a process and waits until it is stopped: on a loaded machine it may run on for a moment. */
async function stopProcess(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  assert.ok(await eventually(async () => stateOf(pid) === 'T'), `process ${pid} did not stop`);
}

/** Runs `body` while only worker `index` (of the two) takes new connections: the other is stopped. */
async function onWorker<T>(served: Served, index: 0 | 1, body: () => Promise<T>): Promise<T> {
  const pids = workerPids(served).sort((a, b) => a - b);
  const other = pids[1 - index];
  assert.ok(other !== undefined, `two workers, not ${pids.length}`);
  await stopProcess(other);
  try {
    return await body();
  } finally {
    process.kill(other, 'SIGCONT');
  }
}

async function serveWorkers(config: Record<string, unknown>): Promise<{ served: Served; dir: Awaited<ReturnType<typeof tempDir>>; write(c: Record<string, unknown>): Promise<void> }> {
  const dir = await tempDir();
  const write = (c: Record<string, unknown>): Promise<void> => writeFile(join(dir.path, 'server.json'), JSON.stringify(c), { mode: 0o600 });
  await write(config);
  const served = await spawnServe(['--port', '0', '--workers', '2', '--no-watch'], { PSIMBOLS_CONFIG_DIR: dir.path });
  return { served, dir, write };
}

/** Two workers on a config of their own, stopped and removed afterwards. */
async function withWorkers(config: Record<string, unknown>, body: (s: Awaited<ReturnType<typeof serveWorkers>>) => Promise<void>): Promise<void> {
  const s = await serveWorkers(config);
  try {
    await body(s);
  } finally {
    await s.served.stop();
    await s.dir.remove();
  }
}

const sealFor = (id: string, key: KeySpec) => sealCall({ client: id, server: SERVER, key }, 'supermath', 'factorial', { n: 3 }).outer;

/** The workers whose log lines show a 200 for this client. */
const servedBy = (s: Served, client: string): Set<number | undefined> => new Set(lines(s).filter((l) => l.status === 200 && l.client === client).map((l) => l.worker));

/** What the server logged since `mark` (a length of its log), for tests that share a server. */
const logSince = (s: Served, mark: number): string => s.stderr().slice(mark);

// A rolling restart: SIGUSR2 to the primary replaces each worker in turn, while two clients send
// fresh requests (`rollSteady`, 1000 an hour, and `rollCapped`, 6) and replay every token that was
// accepted, from `replayFrom`; then a worker that crashes is replaced.
async function rollingRestart(s: Awaited<ReturnType<typeof serveWorkers>>, keys: { rollSteady: KeySpec; rollCapped: KeySpec }, replayFrom: readonly [string, string]): Promise<void> {
  const mark = s.served.stderr().length;
  const accepted: unknown[] = [];
  const statuses: number[] = [];
  let cappedServed = 0;
  const round = async (): Promise<void> => {
    for (const id of ['rollSteady', 'rollCapped'] as const) {
      const token = sealFor(id, keys[id]);
      const status = await postFresh(s.served.url, token);
      statuses.push(status);
      if (status !== 200) continue;
      if (id === 'rollCapped') cappedServed++;
      accepted.push(token);
    }
  };
  const before = workerPids(s.served);
  for (let i = 0; i < 3; i++) await round();
  s.served.child.kill('SIGUSR2');
  // Requests go on while the workers are replaced (a restart that stops is a failure, not a wait).
  const until = performance.now() + 60_000;
  while (!logSince(s.served, mark).includes('workers restarted')) {
    assert.ok(performance.now() < until && !logSince(s.served, mark).includes('rolling restart stopped'), `the rolling restart did not end:\n${s.served.stderr()}`);
    await round();
    // Paced: a round every 20 ms still meets each step of the restart, without loading
    // the machine the restart runs on.
    await sleep(20);
  }
  const after = workerPids(s.served);
  assert.equal(after.length, 2);
  assert.deepEqual(after.filter((p) => before.includes(p)), [], 'both workers replaced');
  assert.doesNotMatch(logSince(s.served, mark), /worker exited; starting another/);
  process.kill(after[0]!, 'SIGKILL');
  assert.ok(await eventually(async () => workerPids(s.served).length === 2 && !workerPids(s.served).includes(after[0]!), 10_000), 'the killed worker was not replaced');
  for (let i = 0; i < 3; i++) await round();
  const replays = await Promise.all(accepted.flatMap((t) => replayFrom.map((from) => postFresh(s.served.url, t, from))));
  // Refused as replays (401), or, past the failure limit of the address, blocked (429).
  assert.equal(replays.filter((x) => x === 200).length, 0, 'no replay accepted');
  assert.ok(replays.includes(401));
  assert.equal(cappedServed, 6);
  assert.deepEqual(statuses.filter((x) => x !== 200 && x !== 429), []);
}

// One cluster for every test that leaves it serving; each test has clients (and, where it fails
// authentications, a source address) of its own, and reads only its own part of the log.
describe('serve --workers 2', () => {
  const keys: Record<string, KeySpec> = Object.fromEntries(['exact', 'replay', 'probe', 'steady', 'alice', 'bob', 'rollSteady', 'rollCapped'].map((id) => [id, generateKeySpec()]));
  const perHour: Record<string, number> = { alice: 1000, rollSteady: 1000, rollCapped: 6 };
  const clientsOf = (ids: readonly string[], keyOf = (id: string): unknown => keys[id]) => Object.fromEntries(ids.map((id) => [id, { server: SERVER, keys: [keyOf(id)], requestsPerHour: perHour[id] ?? 10 }]));
  const base = ['exact', 'replay', 'probe', 'steady', 'alice', 'rollSteady', 'rollCapped'];
  const configOf = (clients: Record<string, unknown>) => ({ server: SERVER, clients, limits: { failedAuthPerIp: 6 } });
  let s: Awaited<ReturnType<typeof serveWorkers>>;
  const seal = (id: string, key = keys[id]!) => sealCall({ client: id, server: SERVER, key }, 'supermath', 'factorial', { n: 3 }).outer;
  before(async () => {
    s = await serveWorkers(configOf(clientsOf(base)));
  });
  after(async () => {
    await s?.served.stop();
    await s?.dir.remove();
  });

  test('give a client exactly requestsPerHour between them, and both serve', async () => {
    const send = (n: number) => () => Promise.all(Array.from({ length: n }, () => postFresh(s.served.url, seal('exact'))));
    const first = await onWorker(s.served, 0, send(7));
    const second = await onWorker(s.served, 1, send(13));
    assert.deepEqual(first, Array(7).fill(200));
    assert.equal(second.filter((x) => x === 200).length, 3, 'the second worker grants only what the first left');
    assert.equal(second.filter((x) => x === 429).length, 10);
    await eventually(async () => lines(s.served).filter((l) => l.msg === 'request' && l.status === 200 && l.client === 'exact').length >= 10);
    const workers = new Set(lines(s.served).filter((l) => l.msg === 'request' && l.client === 'exact').map((l) => l.worker));
    assert.equal(workers.size, 2, `served by ${[...workers].join(', ')}`);
  });

  test('refuse, on every worker, a token one of them accepted', async () => {
    const token = seal('replay');
    const replay = () => Promise.all([1, 2].map(() => postFresh(s.served.url, token, '127.0.0.3')));
    assert.equal(await onWorker(s.served, 0, () => postFresh(s.served.url, token, '127.0.0.3')), 200);
    assert.deepEqual([...(await onWorker(s.served, 0, replay)), ...(await onWorker(s.served, 1, replay))], [401, 401, 401, 401]);
    await eventually(async () => lines(s.served).filter((l) => l.reason === 'replayed' && l.client === 'replay').length === 4);
    const refusedBy = new Set(lines(s.served).filter((l) => l.reason === 'replayed' && l.client === 'replay').map((l) => l.worker));
    assert.equal(refusedBy.size, 2, 'both workers refused the replay');
  });

  test('count failed authentications from an address once, whichever worker sees them', async () => {
    const bad = () => ({ ...seal('probe'), request: flipBit(seal('probe').request, 60, 1) });
    const statuses: number[] = [];
    const fail = (n: number) => async () => {
      for (let i = 0; i < n; i++) statuses.push(await postFresh(s.served.url, bad(), '127.0.0.4'));
    };
    await onWorker(s.served, 0, fail(3));
    await onWorker(s.served, 1, fail(3));
    await onWorker(s.served, 0, fail(2));
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 429, 429]);
    // An honest request from the same address is still served.
    assert.equal(await postFresh(s.served.url, seal('steady'), '127.0.0.4'), 200);
  });

  test('write every log line whole: each line of the log is one JSON object', async () => {
    const before = lines(s.served).length;
    // From 200 addresses, each under its failure limit, so that every request gets its line.
    await Promise.all(Array.from({ length: 200 }, (_, i) => postFresh(s.served.url, { client: `x${i}`, request: 'ps2.AAAA' }, `127.0.1.${i + 1}`)));
    await eventually(async () => lines(s.served).filter((l) => l.msg === 'request' && l.client?.startsWith('x') === true).length >= 200);
    assert.ok(lines(s.served).length >= before + 200);
  });

  test('a reload reaches every worker, and an invalid config reaches none', async () => {
    const mark = s.served.stderr().length;
    const callBob = () => postFresh(s.served.url, sealFor('bob', keys.bob!));
    const withBob = configOf(clientsOf([...base, 'bob']));
    await s.write(withBob);
    s.served.child.kill('SIGHUP');
    assert.ok(await eventually(async () => logSince(s.served, mark).includes('config reloaded')));
    // Once the primary has logged the reload, a worker may still be applying it.
    assert.ok(await eventually(async () => (await onWorker(s.served, 0, callBob)) === 200 && (await onWorker(s.served, 1, callBob)) === 200));
    assert.ok(await eventually(async () => servedBy(s.served, 'bob').size === 2), 'both workers serve the reloaded client');
    await s.write(configOf(clientsOf([...base, 'bob'], (id) => (id === 'alice' ? 'not a key' : keys[id]))));
    s.served.child.kill('SIGHUP');
    assert.ok(await eventually(async () => logSince(s.served, mark).includes('config not reloaded')));
    assert.deepEqual(await Promise.all([1, 2, 3, 4].map(callBob)), [200, 200, 200, 200]);
    assert.equal(logSince(s.served, mark).split('config reloaded').length, 2, 'one reload, logged once by the primary');
    // The file again says what the workers serve: a worker started later reads it.
    await s.write(withBob);
  });

  test('a worker that dies is started again, and serving goes on, the new worker too', async () => {
    const mark = s.served.stderr().length;
    // Cluster ids only grow: the replacement's is above the first two's and every one logged so far.
    const newest = Math.max(2, ...lines(s.served).flatMap((l) => (l.worker === undefined ? [] : [l.worker]))) + 1;
    const before = workerPids(s.served);
    assert.equal(before.length, 2);
    process.kill(before[0]!, 'SIGKILL');
    assert.ok(await eventually(async () => logSince(s.served, mark).includes('worker exited; starting another')));
    assert.ok(await eventually(async () => {
      const now = workerPids(s.served);
      return now.length === 2 && !now.includes(before[0]!);
    }));
    // The new worker serves once it listens.
    const fresh = workerPids(s.served).sort((a, b) => a - b).indexOf(workerPids(s.served).find((p) => !before.includes(p))!);
    assert.ok(fresh === 0 || fresh === 1);
    assert.ok(await eventually(async () => (await onWorker(s.served, fresh, () => postFresh(s.served.url, sealFor('alice', keys.alice!)))) === 200 && [...servedBy(s.served, 'alice')].some((w) => w !== undefined && w >= newest)));
    assert.deepEqual(await Promise.all([1, 2, 3, 4].map(() => postFresh(s.served.url, sealFor('alice', keys.alice!)))), [200, 200, 200, 200]);
  });

  test('memory store, workers restarted one by one: no replay accepted, nothing past the limit', async () => {
    await rollingRestart(s, { rollSteady: keys.rollSteady!, rollCapped: keys.rollCapped! }, ['127.0.0.7', '127.0.0.8']);
  });

  // Last: it stops the cluster the tests above share (run alone, it has the cluster to itself).
  test('SIGTERM lets every worker finish what it is serving, then all exit 0', async () => {
    const pids = workerPids(s.served);
    const body = () => JSON.stringify(sealFor('alice', keys.alice!));
    const head = (b: string) => `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n`;
    const socket = connect(Number(new URL(s.served.url).port), '127.0.0.1');
    let reply = '';
    socket.on('data', (d) => (reply += d.toString()));
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    // A first answer on the connection shows a worker holds it; the second request is half sent.
    const first = body();
    socket.write(head(first) + first);
    assert.ok(await eventually(async () => reply.includes('HTTP/1.1 200')));
    const second = body();
    socket.write(head(second) + second.slice(0, 10));
    const exited = s.served.stop('SIGTERM');
    assert.ok(await eventually(async () => s.served.stderr().includes('shutting down')));
    socket.write(second.slice(10));
    await closed;
    assert.equal(reply.match(/HTTP\/1\.1 200 /g)?.length, 2, reply);
    assert.equal(await exited, 0);
    assert.deepEqual(pids.filter(alive), []);
  });
});

// Its own cluster: it kills three workers, and a cluster that has just restarted workers waits
// longer (a backoff) before each next one.
describe('a worker killed with connections waiting for it', () => {
  const alice = generateKeySpec();
  test('leaves none unanswered: they go to the other worker, and the primary holds no socket', async () => {
    await withWorkers({ server: SERVER, clients: { alice: { server: SERVER, keys: [alice] } } }, async (s) => {
      const primary = s.served.child.pid!;
      const sockets = () => readdirSync(`/proc/${primary}/fd`).filter((fd) => readlinkOr(`/proc/${primary}/fd/${fd}`).startsWith('socket:')).length;
      const idle = sockets();
      for (let round = 0; round < 3; round++) {
        // The newest: the other has listened all along (were the last listener to die, the
        // primary would close the port, and waiting connections would be reset, not left waiting).
        const victim = Math.max(...workerPids(s.served));
        // The victim takes no connection while stopped; under a round robin, the primary would
        // hand it half of these, and they would be lost with it.
        await stopProcess(victim);
        const answers = Promise.all(Array.from({ length: 6 }, () => postFresh(s.served.url, sealFor('alice', alice))));
        process.kill(victim, 'SIGKILL');
        assert.deepEqual(await answers, Array(6).fill(200));
        assert.ok(await eventually(async () => workerPids(s.served).length === 2 && !workerPids(s.served).includes(victim), 15_000));
      }
      assert.ok(sockets() <= idle, `the primary holds ${sockets()} sockets, ${idle} before`);
    });
  });
});

describe('serve --workers 2 --store redis://…', { skip: redisMissing() }, () => {
  const keys = { alice: generateKeySpec(), rollSteady: generateKeySpec(), rollCapped: generateKeySpec() };
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let s: Awaited<ReturnType<typeof serveWorkers>>;
  before(async () => {
    redis = await startRedis();
    const clients = { alice: { server: SERVER, keys: [keys.alice], requestsPerHour: 6 }, rollSteady: { server: SERVER, keys: [keys.rollSteady], requestsPerHour: 1000 }, rollCapped: { server: SERVER, keys: [keys.rollCapped], requestsPerHour: 6 } };
    s = await serveWorkers({ store: redis.url, clients });
  });
  after(async () => {
    await s?.served.stop();
    await s?.dir.remove();
    await redis?.remove();
  });

  test('each worker asks Redis itself: exact limits, and a replay refused whichever worker sees it', async () => {
    const token = sealFor('alice', keys.alice);
    assert.equal(await onWorker(s.served, 0, () => postFresh(s.served.url, token)), 200);
    assert.equal(await onWorker(s.served, 1, () => postFresh(s.served.url, token, '127.0.0.6')), 401);
    const send = (n: number) => () => Promise.all(Array.from({ length: n }, () => postFresh(s.served.url, sealFor('alice', keys.alice))));
    const statuses = [...(await onWorker(s.served, 0, send(3))), ...(await onWorker(s.served, 1, send(7)))];
    assert.equal(statuses.filter((x) => x === 200).length, 5);
    assert.equal(statuses.filter((x) => x === 429).length, 5);
    assert.ok(await eventually(async () => servedBy(s.served, 'alice').size === 2));
  });

  test('workers restarted one by one: no replay accepted, nothing past the limit', async () => {
    await rollingRestart(s, keys, ['127.0.0.7', '127.0.0.8']);
  });
});

describe('a worker whose primary stops answering', () => {
  test('answers 503 within the ask deadline, for a request that authenticates and for one that fails', async () => {
    const key = generateKeySpec();
    const asked: number[] = [];
    // The primary's end of the channel takes every message and never answers.
    const link = new PrimaryLink((asks) => void asked.push(asks.admits.length + asks.fails.length), 200);
    const config = parseServerConfig({ listen: { host: '127.0.0.1', port: 0 }, clients: { alice: { server: SERVER, keys: [key] } } }, 'test');
    const server = await startServer({ config, log: silentLogger, store: link, failures: link, watch: false });
    try {
      const good = sealCall({ client: 'alice', server: SERVER, key }, 'supermath', 'factorial', { n: 3 }).outer;
      const bad = { ...good, request: flipBit(good.request, 60, 0) };
      const started = performance.now();
      assert.deepEqual(await Promise.all([postFresh(server.url, good), postFresh(server.url, bad)]), [503, 503]);
      assert.ok(performance.now() - started < 5000, 'answered at the deadline, not at the request timeout');
      assert.ok(asked.length >= 1, 'the questions reached the primary');
    } finally {
      await server.close();
    }
  });
});
