import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sealCall } from '../src/client/client.js';
import { generateKeySpec } from '../src/protocol/keys.js';
import { redisMissing, startRedis } from './helpers/redis.js';
import { post, startTestServer, type TestServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

// Redis stopped, hung and restarted in the middle of a run, for each onStoreError mode.

const skip = redisMissing();

async function timed(t: TestServer): Promise<{ status: number; ms: number; retryAfter: string | null }> {
  const start = performance.now();
  const r = await post(t.url, sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer);
  return { status: r.status, ms: performance.now() - start, retryAfter: r.headers.get('retry-after') };
}


const setup = async (mode: string, limit = 5) => {
  const redis = await startRedis();
  const t = await startTestServer({ config: { store: redis.url, onStoreError: mode }, clients: { alice: { keys: [generateKeySpec()], requestsPerHour: limit } } });
  return { redis, t };
};

describe('when Redis fails', { skip }, () => {
  test('closed: every request gets a quick 503 with Retry-After, one log line, and limits return with Redis', async () => {
    const { redis, t } = await setup('closed');
    try {
      assert.equal((await timed(t)).status, 200);
      await redis.stop();
      for (let i = 0; i < 10; i++) {
        const r = await timed(t);
        assert.equal(r.status, 503);
        assert.ok(r.ms < 1000, `answered in ${r.ms} ms`);
        assert.equal(r.retryAfter, '5');
      }
      assert.match(await (await fetch(t.url)).text(), /store=redis \(unreachable\)/);
      assert.equal(t.messages.filter((m) => m.includes('store unreachable')).length, 1);
      await redis.start();
      assert.equal(await eventually(async () => (await timed(t)).status === 200), true);
      assert.equal(t.messages.filter((m) => m.includes('store reachable again')).length, 1);
      // A fresh Redis has no history: the limit of 5 is enforced there again.
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await timed(t)).status);
      assert.equal(statuses.filter((s) => s === 429).length, 1);
    } finally {
      await t.close();
      await redis.remove();
    }
  });

  test('closed: a hung Redis (SIGSTOP) still gets answers within the command timeout', async () => {
    const { redis, t } = await setup('closed');
    try {
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
    } finally {
      await t.close();
      await redis.remove();
    }
  });

  test('local: falls back to per-instance limits, then back to Redis', async () => {
    const { redis, t } = await setup('local', 3);
    try {
      assert.equal((await timed(t)).status, 200);
      await redis.stop();
      const during = [];
      for (let i = 0; i < 4; i++) during.push(await timed(t));
      assert.deepEqual(during.map((r) => r.status), [200, 200, 200, 429]);
      assert.ok(during.every((r) => r.ms < 1000));
      assert.equal(t.messages.filter((m) => m.includes('limits are now per instance')).length, 1);
      await redis.start();
      assert.equal(await eventually(async () => (await timed(t)).status === 200), true);
    } finally {
      await t.close();
      await redis.remove();
    }
  });

  test('open: serves without limits and says so loudly, once', async () => {
    const { redis, t } = await setup('open', 2);
    try {
      await redis.stop();
      const during = [];
      for (let i = 0; i < 6; i++) during.push((await timed(t)).status);
      assert.deepEqual(during, Array(6).fill(200));
      assert.equal(t.messages.filter((m) => m.startsWith('error store unreachable: SERVING WITHOUT RATE LIMITS')).length, 1);
    } finally {
      await t.close();
      await redis.remove();
    }
  });

  for (const mode of ['open', 'local']) {
    test(`${mode}: a request accepted before the outage is not accepted again through the fallback`, async () => {
      const { redis, t } = await setup(mode);
      try {
        const outer = sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer;
        assert.equal((await post(t.url, outer)).status, 200);
        await sleep(2100); // the outage is noticed more than a second after the token's timestamp
        await redis.stop();
        const replay = await post(t.url, outer);
        assert.equal(replay.status, 503, 'the fallback cannot tell whether Redis accepted it');
        assert.equal(replay.headers.get('retry-after'), '5');
        assert.equal((await timed(t)).status, 200, 'a request sealed afresh is served');
      } finally {
        await t.close();
        await redis.remove();
      }
    });
  }

  test('SCRIPT FLUSH in the middle of a run is recovered from', async () => {
    const { redis, t } = await setup('closed', 100);
    try {
      assert.equal((await timed(t)).status, 200);
      assert.match(await redis.command('SCRIPT', 'FLUSH'), /^\+OK/);
      for (let i = 0; i < 3; i++) assert.equal((await timed(t)).status, 200);
    } finally {
      await t.close();
      await redis.remove();
    }
  });
});
