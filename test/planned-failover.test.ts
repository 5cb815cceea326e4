import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, sealCall } from '../src/client/client.js';
import { generateKeySpec } from '../src/protocol/keys.js';
import { redisMissing, startRedis } from './helpers/redis.js';
import { startCluster, startSentinel, type Topology } from './helpers/redis-topologies.js';
import { post, startTestServer, type TestServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

// Planned switches: SENTINEL FAILOVER, a manual CLUSTER FAILOVER and instances restarted one by
// one, while two instances serve. The old master stays writable for seconds after SENTINEL
// FAILOVER, so without replicaAcks an instance still on it accepts what the other, on the new
// master, accepts too (issue 21). Every accepted token is replayed to every instance.

const skip = redisMissing();
const LIMIT = 4;
const clients = { alice: { keys: [generateKeySpec()], requestsPerHour: 10_000 }, bob: { keys: [generateKeySpec()], requestsPerHour: LIMIT } };

type Tally = { served: Record<string, number>; replays: number; replaysAccepted: number; statuses: number[] };

/**
 * Fresh requests from alice (no limit in reach: a replay accepted shows) and bob (LIMIT an hour)
 * go to the instances in turn, every 100 ms, until `done`; each accepted token is replayed at once
 * to every instance, and at the end every accepted token once more.
 */
async function traffic(instances: () => readonly TestServer[], done: () => Promise<boolean>, maxMs: number): Promise<Tally> {
  const tally: Tally = { served: { alice: 0, bob: 0 }, replays: 0, replaysAccepted: 0, statuses: [] };
  const accepted: unknown[] = [];
  const replay = async (outer: unknown): Promise<void> => {
    for (const t of instances()) {
      tally.replays++;
      if ((await post(t.url, outer)).status === 200) tally.replaysAccepted++;
    }
  };
  const end = Date.now() + maxMs;
  for (let round = 0; Date.now() < end && !(await done()); round++) {
    const list = instances();
    const t = list[round % list.length]!;
    for (const id of ['alice', 'bob']) {
      const outer = sealCall(t.client(id), 'supermath', 'factorial', { n: 3 }).outer;
      const { status } = await post(t.url, outer);
      tally.statuses.push(status);
      if (status !== 200) continue;
      tally.served[id]!++;
      accepted.push(outer);
      await replay(outer);
    }
    await sleep(100);
  }
  for (const outer of accepted) await replay(outer);
  return tally;
}

const serve = (store: string): Promise<TestServer> => startTestServer({ config: { store, onStoreError: 'closed' }, clients });
const ok = async (t: TestServer, id = 'alice'): Promise<number> => (await post(t.url, sealCall(t.client(id), 'supermath', 'factorial', { n: 3 }).outer)).status;

/** The steps: A serves, the master switches, B starts, and both serve until the old master follows the new one, and a while after. */
async function switchover(topology: Topology, keys: readonly string[]): Promise<void> {
  const a = await serve(topology.url);
  const instances = [a];
  try {
    // On a loaded machine a first request can find the replica slow to acknowledge: a 503, retried.
    assert.ok(await eventually(async () => (await ok(a)) === 200), 'alice served before the switch');
    assert.ok(await eventually(async () => (await ok(a, 'bob')) === 200), 'bob served once before the switch');
    // A call begun as the switch starts, retried as `call --retry` does, ends with its value.
    const retried = request(a.client('alice'), 'supermath', 'factorial', { n: 4 }, { endpoint: a.url, retry: 20 });
    for (const key of keys) await topology.switchover(key);
    instances.push(await serve(topology.url));
    let settledAt: number | undefined;
    const settledAWhile = async (): Promise<boolean> => {
      if (settledAt === undefined && (await topology.settled())) settledAt = Date.now();
      return settledAt !== undefined && Date.now() - settledAt > 3000;
    };
    const tally = await traffic(() => instances, settledAWhile, 60_000);
    assert.equal(tally.replaysAccepted, 0, `${tally.replaysAccepted} of ${tally.replays} replays accepted`);
    assert.ok(1 + tally.served.bob! <= LIMIT, `bob was served ${1 + tally.served.bob!} requests, limit ${LIMIT}`);
    assert.ok(settledAt !== undefined, 'the old master never followed the new one');
    assert.deepEqual(tally.statuses.filter((s) => s !== 200 && s !== 429 && s !== 503), [], 'only 200, 429 and 503 during the switch');
    const answer = await retried;
    assert.ok('return' in answer && answer.return.value === 24, JSON.stringify(answer));
    // Loaded, a WAIT can miss its 150 ms now and then: a 503 to retry, as during the switch.
    for (const t of instances) assert.ok(await eventually(async () => (await ok(t)) === 200, 10_000), `each instance serves after the switch: ${t.messages.join("\n")} ${tally.statuses.join(",")}`);
  } finally {
    await Promise.all(instances.map((t) => t.close()));
  }
}

describe('a planned failover admits no replay and nothing past the limit', { skip }, () => {
  test('SENTINEL FAILOVER: the old master, writable for seconds after it, accepts nothing', async () => {
    const sentinel = await startSentinel();
    try {
      await switchover(sentinel, ['']);
    } finally {
      await sentinel.remove();
    }
  });

  test('CLUSTER FAILOVER on the masters of both clients\' slots', async () => {
    const cluster = await startCluster({ replicas: true });
    try {
      await switchover(cluster, ['{alice}', '{bob}']);
    } finally {
      await cluster.remove();
    }
  });

  test('instances restarted one by one on one Redis', async () => {
    const redis = await startRedis();
    const instances = [await serve(redis.url), await serve(redis.url)];
    try {
      let [rounds, restarted] = [0, 0];
      // Every third round, the next instance in turn is stopped and started again.
      const restartNext = async (): Promise<boolean> => {
        if (++rounds % 3 === 0 && restarted < 4) {
          const i = restarted++ % 2;
          await instances[i]!.close();
          instances[i] = await serve(redis.url);
        }
        return rounds > 14;
      };
      const tally = await traffic(() => instances, restartNext, 30_000);
      assert.equal(restarted, 4);
      assert.equal(tally.replaysAccepted, 0, `${tally.replaysAccepted} of ${tally.replays} replays accepted`);
      assert.equal(tally.served.bob, LIMIT);
      assert.deepEqual(tally.statuses.filter((s) => s !== 200 && s !== 429), []);
    } finally {
      await Promise.all(instances.map((t) => t.close()));
      await redis.remove();
    }
  });
});

describe('replicaAcks: an accepted request waits for replicas to hold it', { skip }, () => {
  test('without a replica: 503, the quota is not charged, and the token is never accepted later', async () => {
    const redis = await startRedis();
    const replica = await startRedis();
    const t = await startTestServer({ config: { store: `${redis.url}?replicaAcks=1`, onStoreError: 'closed' }, clients: { bob: { keys: [generateKeySpec()], requestsPerHour: 1 } } });
    try {
      const token = sealCall(t.client('bob'), 'supermath', 'factorial', { n: 3 }).outer;
      const first = await post(t.url, token);
      assert.equal(first.status, 503);
      assert.equal(first.headers.get('retry-after'), '5');
      assert.match(await redis.command('ZCARD', 'psimbols:rl:{bob}'), /^:0/);
      await replica.command('REPLICAOF', '127.0.0.1', String(redis.port));
      const fresh = async (): Promise<number> => (await post(t.url, sealCall(t.client('bob'), 'supermath', 'factorial', { n: 3 }).outer)).status;
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) status = await fresh().then(async (s) => (s === 503 ? (await sleep(100), s) : s));
      assert.equal(status, 200, 'served once a replica holds it');
      assert.equal((await post(t.url, token)).status, 401, 'the token answered 503 stays spent');
      assert.equal(await fresh(), 429, 'the limit of 1 counts the one served, not the 503');
      // A Redis that lost its scripts gets them again inside the pipeline too.
      assert.match(await redis.command('SCRIPT', 'FLUSH'), /^\+OK/);
      assert.equal(await fresh(), 429);
    } finally {
      await t.close();
      await Promise.all([redis.remove(), replica.remove()]);
    }
  });
});
