import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sealCall } from '../src/client/client.js';
import { sealRequest } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type V2Key } from '../src/protocol/keys.js';
import { redisMissing, startRedis, type TestRedis } from './helpers/redis.js';
import { startCluster, startSentinel } from './helpers/redis-topologies.js';
import { post, startTestServer, type TestServer } from './helpers/server.js';
import { eventually, past503 } from './helpers/wait.js';

// Redis stopped, hung and restarted in the middle of a run, for each onStoreError mode.

const skip = redisMissing();

async function timed(t: TestServer): Promise<{ status: number; ms: number; retryAfter: string | null }> {
  const start = performance.now();
  const r = await post(t.url, sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer);
  return { status: r.status, ms: performance.now() - start, retryAfter: r.headers.get('retry-after') };
}

/** A private Redis and a server on it (client alice, `limit` an hour), both removed afterwards. */
async function withRedisServer(mode: string, limit: number, body: (s: { redis: TestRedis; t: TestServer }) => Promise<void>): Promise<void> {
  const redis = await startRedis();
  try {
    const t = await startTestServer({ config: { store: redis.url, onStoreError: mode }, clients: { alice: { keys: [generateKeySpec()], requestsPerHour: limit } } });
    try {
      await body({ redis, t });
    } finally {
      await t.close();
    }
  } finally {
    await redis.remove();
  }
}

describe('when Redis fails', { skip }, () => {
  test('closed: every request gets a quick 503 with Retry-After, one log line, and limits return with Redis', async () => {
    await withRedisServer('closed', 5, async ({ redis, t }) => {
      assert.equal((await timed(t)).status, 200);
      await redis.stop();
      for (let i = 0; i < 10; i++) {
        const r = await timed(t);
        assert.equal(r.status, 503);
        assert.ok(r.ms < 1000, `answered in ${r.ms} ms`);
        assert.equal(r.retryAfter, '5');
      }
      assert.match(await (await fetch(t.url)).text(), /store=redis \(unreachable\)/);
      // Alive, but not to be sent traffic: closed refuses every request while Redis is down.
      const notReady = await fetch(new URL('/readyz', t.url));
      assert.deepEqual([notReady.status, await notReady.text()], [503, 'psimbols not ready: store=redis unreachable (onStoreError=closed)\n']);
      assert.equal(t.messages.filter((m) => m.includes('store unreachable')).length, 1);
      await redis.start();
      assert.equal(await eventually(async () => (await timed(t)).status === 200), true);
      assert.equal(t.messages.filter((m) => m.includes('store reachable again')).length, 1);
      assert.equal((await fetch(new URL('/readyz', t.url))).status, 200, 'ready again with Redis');
      // A fresh Redis has no history: the limit of 5 is enforced there again.
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await timed(t)).status);
      assert.equal(statuses.filter((s) => s === 429).length, 1);
    });
  });

  test('closed: a hung Redis (SIGSTOP) still gets answers within the command timeout', async () => {
    await withRedisServer('closed', 5, async ({ redis, t }) => {
      assert.equal((await timed(t)).status, 200);
      redis.pause();
      try {
        for (let i = 0; i < 5; i++) {
          const r = await timed(t);
          assert.equal(r.status, 503);
          assert.ok(r.ms < 1000, `answered in ${r.ms} ms`);
        }
      } finally {
        redis.resume();
      }
      assert.equal(await eventually(async () => (await timed(t)).status === 200), true);
    });
  });

  test('local: falls back to per-instance limits, then back to Redis', async () => {
    await withRedisServer('local', 3, async ({ redis, t }) => {
      assert.equal((await timed(t)).status, 200);
      await redis.stop();
      const during = [];
      for (let i = 0; i < 4; i++) during.push(await timed(t));
      assert.deepEqual(during.map((r) => r.status), [200, 200, 200, 429]);
      assert.ok(during.every((r) => r.ms < 1000));
      assert.equal(t.messages.filter((m) => m.includes('limits are now per instance')).length, 1);
      await redis.start();
      assert.equal(await eventually(async () => (await timed(t)).status === 200), true);
    });
  });

  test('open: serves without limits and says so loudly, once', async () => {
    await withRedisServer('open', 2, async ({ redis, t }) => {
      await redis.stop();
      const during = [];
      for (let i = 0; i < 6; i++) during.push((await timed(t)).status);
      assert.deepEqual(during, Array(6).fill(200));
      assert.equal(t.messages.filter((m) => m.startsWith('error store unreachable: SERVING WITHOUT RATE LIMITS')).length, 1);
    });
  });

  for (const mode of ['open', 'local']) {
    test(`${mode}: a request accepted before the outage is not accepted again through the fallback`, async () => {
      await withRedisServer(mode, 5, async ({ redis, t }) => {
        // Stamped 3 s ago, so that the outage is noticed more than a second after it; the store
        // has known alice for long, so the token is not before its epoch.
        await redis.command('SET', 'psimbols:epoch:{alice}', '0');
        const config = t.client('alice');
        const request = sealRequest({ request_id: 'early', run: { module: 'supermath', function: 'factorial', params: { n: 3 } } }, { client: 'alice', server: config.server, key: prepareKey(config.key) as V2Key, now: Math.floor(Date.now() / 1000) - 3 });
        const outer = { client: 'alice', server: config.server, request };
        assert.equal((await post(t.url, outer)).status, 200);
        await redis.stop();
        const replay = await post(t.url, outer);
        assert.equal(replay.status, 503, 'the fallback cannot tell whether Redis accepted it');
        assert.equal(replay.headers.get('retry-after'), '5');
        assert.equal((await timed(t)).status, 200, 'a request sealed afresh is served');
      });
    });
  }

  test('a Redis that may evict keys is named at start; a full one that does not evict refuses, and accepts no replay', async () => {
    const redis = await startRedis();
    const warning = (t: TestServer) => t.messages.filter((m) => m.startsWith('warn redis may evict keys'));
    try {
      assert.match(await redis.command('CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru'), /^\+OK/);
      const evicting = await startTestServer({ config: { store: redis.url } });
      await evicting.close();
      assert.equal(warning(evicting).length, 1);
      assert.match(warning(evicting)[0] ?? '', new RegExp(`127\\.0\\.0\\.1:${redis.port} \\(volatile-lru\\).*set maxmemory-policy noeviction`));
      assert.match(await redis.command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction'), /^\+OK/);
      const t = await startTestServer({ config: { store: redis.url } });
      try {
        assert.deepEqual(warning(t), []);
        const accepted = sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer;
        assert.equal((await post(t.url, accepted)).status, 200);
        // Full: Redis refuses every script that may write.
        assert.match(await redis.command('CONFIG', 'SET', 'maxmemory', '1'), /^\+OK/);
        assert.equal((await timed(t)).status, 503);
        assert.notEqual((await post(t.url, accepted)).status, 200);
      } finally {
        await t.close();
      }
    } finally {
      await redis.remove();
    }
  });

  test('SCRIPT FLUSH in the middle of a run is recovered from', async () => {
    await withRedisServer('closed', 100, async ({ redis, t }) => {
      assert.equal((await timed(t)).status, 200);
      assert.match(await redis.command('SCRIPT', 'FLUSH'), /^\+OK/);
      for (let i = 0; i < 3; i++) assert.equal((await timed(t)).status, 200);
    });
  });
});

describe('when a master fails: a Cluster node or the master Sentinel watches', { skip }, () => {
  const alice = { alice: { keys: [generateKeySpec()], requestsPerHour: 100 } };
  const status = async (t: TestServer): Promise<number> => (await post(t.url, sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer)).status;

  test('Cluster: closed answers 503 and local serves while a master is down; both serve again when it is back', async () => {
    const cluster = await startCluster();
    const closed = await startTestServer({ config: { store: cluster.url, onStoreError: 'closed' }, clients: alice });
    const local = await startTestServer({ config: { store: cluster.url, onStoreError: 'local' }, clients: alice });
    try {
      assert.deepEqual([await status(closed), await status(local)], [200, 200]);
      await cluster.killMaster();
      assert.ok(await eventually(async () => (await status(closed)) === 503, 10_000), 'closed never answered 503');
      assert.equal(await status(local), 200);
      await cluster.restartMaster();
      assert.ok(await eventually(async () => (await status(closed)) === 200, 15_000), 'closed never served again');
      assert.ok(closed.messages.some((m) => m.includes('store reachable again')), closed.messages.join('\n'));
    } finally {
      await Promise.all([closed.close(), local.close()]);
      await cluster.remove();
    }
  });

  test('Sentinel: after a failover to the replica, nothing is accepted until a replica holds it, no token from before it is accepted again, and fresh ones are served', async () => {
    const sentinel = await startSentinel();
    const t = await startTestServer({ config: { store: sentinel.url, onStoreError: 'closed' }, clients: alice });
    try {
      // On a loaded machine the replica's acknowledgement can outlast the WAIT, for a request and
      // for its replay alike: a 503 then, as an outage, and after three the circuit opens for a
      // second. The test follows the token that is accepted, and asks again until Redis answers.
      let accepted = sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer;
      const served = await eventually(async () => {
        accepted = sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer;
        return (await post(t.url, accepted)).status === 200;
      }, 15_000);
      assert.ok(served, 'nothing was accepted before the failover');
      assert.equal(await past503(async () => (await post(t.url, accepted)).status, 15_000), 401, 'accepted once, then a replay');
      const unsent = sealCall(t.client('alice'), 'supermath', 'factorial', { n: 4 }).outer;
      await sentinel.killMaster();
      // The promoted replica has no replica of its own to hold what it accepts (replicaAcks=1):
      // it answers 503 until the old master is back and follows it.
      assert.ok(await eventually(async () => (await status(t)) === 503, 15_000), 'no 503 after the failover');
      assert.notEqual(await status(t), 200);
      await sentinel.restartMaster();
      // Loaded, a replica can miss the WAIT's 150 ms many times in a row: 503s, then 200.
      assert.ok(await eventually(async () => (await status(t)) === 200, 60_000), 'never served after the failover');
      // A replica may lack the last writes of its master: lose them here, as asynchronous
      // replication can. What was stamped before the failover still cannot be accepted again.
      await sentinel.master('EVAL', "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end", '0', 'psimbols:nonce:*');
      assert.equal((await post(t.url, accepted)).status, 503);
      assert.equal((await post(t.url, unsent)).status, 503);
    } finally {
      await t.close();
      await sentinel.remove();
    }
  });
});
