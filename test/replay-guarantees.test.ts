import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sealCall } from '../src/client/client.js';
import { toJsonText } from '../src/config/store.js';
import { sealRequest } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type KeySpec, type V2Key } from '../src/protocol/keys.js';
import type { Admission } from '../src/server/admission/admission.js';
import { RedisAdmissionStore } from '../src/server/admission/redis-store.js';
import { redisMissing, startRedis, type TestRedis } from './helpers/redis.js';
import { fakeClock, post, startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

// The rule (docs/SECURITY.md, "Replays"): a token accepted once is refused everywhere for as long
// as any instance would still call it fresh, through a Redis that loses its data, instance clocks
// that differ, and a reload that widens the window.

const SERVER = 'http://psimbols.test:9393/';
const factorial = (id: string) => ({ request_id: id, run: { module: 'supermath', function: 'factorial', params: { n: 3 } } });

/** A ps2 body for alice, stamped `ageSeconds` ago by the real clock (or by `nowMs`). */
function sealedFor(key: KeySpec, o: { ageSeconds?: number; nowMs?: number } = {}) {
  const now = Math.floor((o.nowMs ?? Date.now()) / 1000) - (o.ageSeconds ?? 0);
  return { client: 'alice', server: SERVER, request: sealRequest(factorial(`r-${Math.random()}`), { client: 'alice', server: SERVER, key: prepareKey(key) as V2Key, now }) };
}

/** Two in-process instances on one private Redis, sharing client alice. */
async function twoInstances(body: (s: { redis: TestRedis; a: TestServer; b: TestServer; key: KeySpec }) => Promise<void>, bNow?: () => number): Promise<void> {
  const redis = await startRedis();
  const key = generateKeySpec();
  const clients = { alice: { keys: [key], requestsPerHour: 100 } };
  const a = await startTestServer({ config: { store: redis.url }, clients });
  const b = await startTestServer({ config: { store: redis.url }, clients, now: bNow });
  try {
    await body({ redis, a, b, key });
  } finally {
    await Promise.all([a.close(), b.close()]);
    await redis.remove();
  }
}

describe('replays through a Redis that loses its data', { skip: redisMissing() }, () => {
  test('a token accepted by A is not accepted by B after Redis restarts empty; a fresh request is', async () => {
    await twoInstances(async ({ redis, a, b, key }) => {
      const t = sealedFor(key);
      assert.equal((await post(a.url, t)).status, 200);
      await redis.stop();
      await redis.start();
      const fresh = () => post(b.url, sealedFor(key)).then((r) => r.status);
      assert.equal(await eventually(async () => (await fresh()) === 200), true, 'B serves again');
      const replay = await post(b.url, t);
      assert.equal(replay.status, 503, 'the token cannot be checked against what Redis forgot');
      assert.equal((await post(a.url, t)).status, 503);
    });
  });

  test('the same when only this client\'s keys are lost (one Cluster shard), with no reconnection to notice it', async () => {
    await twoInstances(async ({ redis, a, b, key }) => {
      const t = sealedFor(key);
      assert.equal((await post(a.url, t)).status, 200);
      const keys = (await redis.command('KEYS', 'psimbols:*{alice}*')).match(/psimbols:[^\r\n]+/g) ?? [];
      assert.ok(keys.some((k) => k.startsWith('psimbols:epoch:{alice}')), `the epoch lives beside the client's keys: ${keys.join(' ')}`);
      await redis.command('DEL', ...keys);
      assert.equal((await post(b.url, t)).status, 503);
    });
  });

  test('a client\'s first request after the instances start is served at once', async () => {
    await twoInstances(async ({ a, key }) => {
      assert.equal((await post(a.url, sealedFor(key))).status, 200);
    });
  });

  test('a token stamped before a new store first knew the client cannot be checked: 503, not 200', async () => {
    await twoInstances(async ({ a, key }) => {
      assert.equal((await post(a.url, sealedFor(key, { ageSeconds: 60 }))).status, 503);
    });
  });
});

// A store that has known alice for long: tokens minutes old are not before its epoch.
const knownForLong = (redis: TestRedis): Promise<string> => redis.command('SET', 'psimbols:epoch:{alice}', '0');

describe('replays across instances whose clocks differ', { skip: redisMissing() }, () => {
  test('freshness is judged by Redis\'s clock: an instance 30 s slow refuses a token Redis calls stale', async () => {
    await twoInstances(async ({ redis, b, key }) => {
      await knownForLong(redis);
      const r = await post(b.url, sealedFor(key, { ageSeconds: 310 }));
      assert.equal(r.status, 401);
      assert.equal(b.access.at(-1)?.reason, 'stale');
    }, () => Date.now() - 30_000);
  });

  test('a nonce is kept until its token is stale under the widest window any instance may use', async () => {
    await twoInstances(async ({ redis, a, b, key }) => {
      await knownForLong(redis);
      const t = sealedFor(key, { ageSeconds: 290 });
      assert.equal((await post(a.url, t)).status, 200);
      assert.equal((await post(b.url, t)).status, 401);
      const nonceKey = (await redis.command('KEYS', 'psimbols:nonce:{alice}:*')).match(/psimbols:nonce:[^\r\n]+/)?.[0] ?? '';
      const pttl = Number(/:(\d+)/.exec(await redis.command('PTTL', nonceKey))?.[1]);
      assert.ok(pttl > (3600 - 290 - 5) * 1000, `kept ${pttl} ms`);
    }, () => Date.now() - 30_000);
  });
});

describe('a reload that widens the timestamp window', () => {
  test('does not readmit a token whose nonce was forgotten under the narrower window, nor one still held', async () => {
    const dir = await tempDir();
    const clock = fakeClock();
    const key = generateKeySpec();
    const path = join(dir.path, 'server.json');
    const t = await startTestServer({ now: clock.now, configPath: path, config: { limits: { pastSeconds: 5 } }, clients: { alice: { keys: [key] } } });
    try {
      const first = sealedFor(key, { nowMs: clock.now() });
      assert.equal((await post(t.url, first)).status, 200);
      clock.advance(4000);
      const second = sealedFor(key, { nowMs: clock.now() });
      assert.equal((await post(t.url, second)).status, 200);
      clock.advance(3000);
      t.store!.replay.sweep();
      await writeFile(path, toJsonText({ ...t.config, limits: { ...t.config.limits, pastSeconds: 3600 } }));
      assert.equal(await t.server.reload(), true);
      assert.equal((await post(t.url, first)).status, 503, 'forgotten under the old window: not accepted, as stamped before the store can vouch (a 503, as after a restart)');
      clock.advance(10_000);
      t.store!.replay.sweep();
      assert.equal((await post(t.url, second)).status, 401, 'held when the window grew: kept the longer time');
      assert.equal((await post(t.url, sealedFor(key, { nowMs: clock.now() }))).status, 200, 'a fresh request is served');
    } finally {
      await t.close();
      await dir.remove();
    }
  });
});

describe('an instance that served a client before', { skip: redisMissing() }, () => {
  test('keeps serving it across a Redis restart once the new epoch has passed', async () => {
    await twoInstances(async ({ redis, a }) => {
      const config = a.client('alice');
      assert.equal((await post(a.url, sealCall(config, 'supermath', 'factorial', { n: 3 }).outer)).status, 200);
      await redis.stop();
      await redis.start();
      assert.equal(await eventually(async () => (await post(a.url, sealCall(config, 'supermath', 'factorial', { n: 3 }).outer)).status === 200), true);
    });
  });
});

describe('a Redis that answers with a new identity, with many clients', { skip: redisMissing() }, () => {
  test('no admission is decided before its client\'s epoch has moved, however long moving every epoch takes', async () => {
    const redis = await startRedis();
    // Admissions wait at most a command timeout for the epochs to move: 50 ms here.
    const store = new RedisAdmissionStore({ url: redis.url, commandTimeoutMs: 50 });
    try {
      await store.ready();
      // 20,000 clients: moving every epoch after a new identity takes longer than admissions wait.
      // (On a loaded machine a slice of the epochs written here may time out: that client's first
      // admission then writes it, which refuses the old token all the same.)
      const clients = Array.from({ length: 20_000 }, (_, i) => `c${i}`);
      await store.prepare(clients).catch(() => undefined);
      const stamped = Math.floor(Date.now() / 1000);
      // Same data, new run id: as a replica promoted, or a restart from a snapshot, would answer.
      assert.match(await redis.command('SAVE'), /OK/);
      await redis.stop();
      await redis.start();
      const last = clients.at(-1)!;
      const request = { client: last, nonceKey: 'n-before', nonceTtlMs: 360_000, limit: 10, windowMs: 3_600_000, ts: stamped, pastSeconds: 300, futureSeconds: 60 };
      let answer: Admission | undefined;
      assert.ok(await eventually(async () => (answer = await store.admit(request).catch(() => undefined)) !== undefined), 'the store is back');
      assert.deepEqual(answer, { kind: 'forgotten' }, 'stamped before the new identity answered: it cannot be checked');
    } finally {
      await store.close();
      await redis.remove();
    }
  });
});
