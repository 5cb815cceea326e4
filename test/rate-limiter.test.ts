import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sealCall } from '../src/client/client.js';
import { sealRequest } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type V2Key } from '../src/protocol/keys.js';
import { REFUSED_NONCES } from '../src/server/admission/admission.js';
import { MemoryAdmissionStore } from '../src/server/admission/memory-store.js';
import { FailureLimiter } from '../src/server/admission/failure-limiter.js';
import { MemoryRateLimiter } from '../src/server/admission/rate-limiter.js';
import { MemoryReplayStore } from '../src/server/admission/replay-store.js';
import { fakeClock, post, startTestServer } from './helpers/server.js';

const HOUR = 3_600_000;

describe('memory rate limiter (rolling window)', () => {
  test('allows N in a window and refuses the N+1th', () => {
    const clock = fakeClock(1_000_000);
    const limiter = new MemoryRateLimiter(clock.now);
    for (let i = 0; i < 3; i++) {
      const d = limiter.take('a', 3, HOUR);
      assert.equal(d.allowed, true);
      assert.equal(d.remaining, 2 - i);
      clock.advance(1000);
    }
    const refused = limiter.take('a', 3, HOUR);
    assert.deepEqual(refused, { allowed: false, limit: 3, remaining: 0, resetMs: HOUR - 3000 });
  });

  test('a slot frees exactly one window after the oldest accepted request', () => {
    const clock = fakeClock(0);
    const limiter = new MemoryRateLimiter(clock.now);
    limiter.take('a', 2, HOUR);
    clock.advance(10_000);
    limiter.take('a', 2, HOUR);
    clock.set(HOUR - 1);
    assert.equal(limiter.take('a', 2, HOUR).allowed, false);
    clock.set(HOUR);
    assert.equal(limiter.take('a', 2, HOUR).allowed, true);
    assert.equal(limiter.take('a', 2, HOUR).allowed, false);
    clock.set(HOUR + 10_000);
    assert.equal(limiter.take('a', 2, HOUR).allowed, true);
  });

  test('stays exact while its ring grows from a few slots to a large limit', () => {
    const clock = fakeClock(0);
    const limiter = new MemoryRateLimiter(clock.now);
    for (let i = 0; i < 1000; i++) {
      assert.equal(limiter.take('a', 1000, HOUR).allowed, true, `request ${i}`);
      clock.advance(1000);
    }
    assert.equal(limiter.take('a', 1000, HOUR).allowed, false);
    clock.set(HOUR);
    const d = limiter.take('a', 1000, HOUR);
    assert.deepEqual(d, { allowed: true, limit: 1000, remaining: 0, resetMs: 1000 });
  });

  test('has no double burst at a window edge, unlike a fixed window', () => {
    const clock = fakeClock(HOUR - 1000);
    const limiter = new MemoryRateLimiter(clock.now);
    for (let i = 0; i < 5; i++) assert.equal(limiter.take('a', 5, HOUR).allowed, true);
    clock.advance(2000); // past a clock-hour boundary
    assert.equal(limiter.take('a', 5, HOUR).allowed, false);
  });

  test('refused requests are not recorded: hammering does not extend the block', () => {
    const clock = fakeClock(0);
    const limiter = new MemoryRateLimiter(clock.now);
    limiter.take('a', 1, HOUR);
    for (let i = 0; i < 100; i++) {
      clock.advance(1000);
      limiter.take('a', 1, HOUR);
    }
    clock.set(HOUR);
    assert.equal(limiter.take('a', 1, HOUR).allowed, true);
  });

  test('clients are limited separately, a lowered limit applies at once, and idle clients are swept', () => {
    const clock = fakeClock(0);
    const limiter = new MemoryRateLimiter(clock.now);
    for (let i = 0; i < 4; i++) limiter.take('a', 4, HOUR);
    assert.equal(limiter.take('b', 4, HOUR).allowed, true);
    assert.equal(limiter.take('a', 2, HOUR).allowed, false);
    clock.set(HOUR);
    limiter.sweep();
    assert.equal(limiter.size, 0);
  });
});

describe('memory replay store', () => {
  test('remembers a nonce for at least its lifetime and at most a second more, per client', () => {
    const clock = fakeClock(5000);
    const store = new MemoryReplayStore(clock.now);
    assert.equal(new MemoryAdmissionStore({ now: clock.now, sweep: false }).remembersFrom, 5, 'a memory store refuses what was stamped before it started');
    assert.equal(store.seen('a', 'n', 1500), false);
    assert.equal(store.seen('b', 'n', 1500), false);
    assert.equal(store.seen('a', 'n', 1500), true);
    clock.advance(1499);
    assert.equal(store.seen('a', 'n', 1500), true);
    clock.advance(1001);
    store.sweep();
    assert.equal(store.size, 0);
    assert.equal(store.seen('a', 'n', 1500), false);
  });

  test('admission records the nonce even when the limit refuses, so a refused request cannot be replayed later', async () => {
    const clock = fakeClock(0);
    const store = new MemoryAdmissionStore({ now: clock.now, sweep: false });
    const req = (nonceKey: string) => ({ client: 'a', nonceKey, nonceTtlMs: 2 * HOUR, limit: 1, windowMs: HOUR, ts: undefined, pastSeconds: 300, futureSeconds: 60 });
    assert.equal((await store.admit(req('n1'))).kind, 'allowed');
    assert.equal((await store.admit(req('n2'))).kind, 'limited');
    clock.set(HOUR);
    assert.equal((await store.admit(req('n2'))).kind, 'replayed');
  });
});

describe('sweeping a large replay store', () => {
  test('goes in slices that carry on where the last one stopped, and a pass drops every expired nonce', () => {
    const clock = fakeClock(0);
    const store = new MemoryReplayStore(clock.now);
    for (let c = 0; c < 10; c++) for (let i = 0; i < 1000; i++) store.add(`c${c}`, `n${i}`, i % 2 ? 1000 : 60_000);
    clock.set(2000);
    let slices = 0;
    while (!store.sweep(700)) slices++;
    assert.equal(slices, 14, 'ten thousand entries in slices of 700');
    assert.equal(store.size, 5000);
    clock.set(61_000);
    store.sweep();
    assert.equal(store.size, 0);
  });
});

describe('memory under a client that hammers while limited', () => {
  test('refused nonces are kept up to a cap per client, accepted ones always', async () => {
    const clock = fakeClock(0);
    const store = new MemoryAdmissionStore({ now: clock.now, sweep: false });
    const req = (i: number, limit: number) => ({ client: `c${limit}`, nonceKey: `n${i}`, nonceTtlMs: 600_000, limit, windowMs: 300_000, ts: undefined, pastSeconds: 300, futureSeconds: 60 });
    for (let i = 0; i < 5000; i++) await store.admit(req(i, 5));
    assert.equal(store.replay.countFor('c5'), 5 + 5);
    for (let i = 0; i < 5000; i++) await store.admit(req(i, 2000));
    assert.equal(store.replay.countFor('c2000'), 2000 + REFUSED_NONCES);
    // The first refused ones are still remembered as replays; the uncounted tail is refused by the limit anyway.
    assert.equal((await store.admit(req(6, 5))).kind, 'replayed');
    assert.equal((await store.admit(req(4999, 5))).kind, 'limited');
  });

  test('a refused nonce is not kept when no slot can free before the token goes stale', async () => {
    const clock = fakeClock(0);
    const store = new MemoryAdmissionStore({ now: clock.now, sweep: false });
    const req = (i: number) => ({ client: 'a', nonceKey: `n${i}`, nonceTtlMs: 361_000, limit: 2, windowMs: HOUR, ts: undefined, pastSeconds: 300, futureSeconds: 60 });
    await store.admit(req(1));
    await store.admit(req(2));
    for (let i = 3; i < 100; i++) assert.equal((await store.admit(req(i))).kind, 'limited');
    assert.equal(store.replay.size, 2);
  });
});

describe('per-address failure limiter', () => {
  test('blocks past the limit and keeps at most maxEntries addresses', () => {
    const clock = fakeClock(0);
    const f = new FailureLimiter({ limit: 2, windowMs: 10_000, maxEntries: 3 }, clock.now);
    f.fail('1');
    assert.equal(f.blockedMs('1'), 0);
    f.fail('1');
    assert.equal(f.blockedMs('1'), 10_000);
    for (const ip of ['2', '3', '4', '5']) f.fail(ip);
    assert.equal(f.size, 3);
    clock.advance(10_000);
    assert.equal(f.blockedMs('1'), 0);
  });
});

describe('rate limiting through the server', () => {
  test('N allowed, N+1 refused with 429, Retry-After and an encrypted error tied to the request id; the slot frees one hour later', async () => {
    const clock = fakeClock(Date.now());
    const t = await startTestServer({ now: clock.now, clients: { alice: { keys: [generateKeySpec()], requestsPerHour: 3 } } });
    try {
      const config = t.client('alice');
      for (let i = 0; i < 3; i++) {
        assert.equal((await post(t.url, sealCall(config, 'supermath', 'factorial', { n: 3 }).outer)).status, 200);
        clock.advance(1000);
      }
      const sealed = sealCall(config, 'supermath', 'factorial', { n: 3 }, 'limited-1');
      const r = await post(t.url, sealed.outer);
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '3597');
      assert.equal(r.headers.get('ratelimit'), '"hourly";r=0;t=3597');
      const opened = sealed.open((JSON.parse(r.text) as { response: string }).response);
      assert.deepEqual(opened, { ok: true, value: { request_id: 'limited-1', error: { code: 'rate_limited', message: 'too many requests: retry in 3597 s' } } });
      clock.advance(3_597_000);
      // Fresh seal: the clock moved an hour, so the timestamp must move too.
      const request = sealRequest(
        { request_id: 'x', run: { module: 'supermath', function: 'factorial', params: { n: 3 } } },
        { client: 'alice', server: config.server, key: prepareKey(config.key) as V2Key, now: Math.floor(clock.now() / 1000) },
      );
      assert.equal((await post(t.url, { client: 'alice', server: config.server, request })).status, 200);
    } finally {
      await t.close();
    }
  });

  test('2N concurrent requests give exactly N successes and N 429s', async () => {
    const t = await startTestServer({ clients: { alice: { keys: [generateKeySpec()], requestsPerHour: 20 } } });
    try {
      const config = t.client('alice');
      const statuses = await Promise.all(Array.from({ length: 40 }, () => post(t.url, sealCall(config, 'supermath', 'factorial', { n: 3 }).outer).then((r) => r.status)));
      assert.equal(statuses.filter((s) => s === 200).length, 20);
      assert.equal(statuses.filter((s) => s === 429).length, 20);
    } finally {
      await t.close();
    }
  });

  test('forged and replayed requests do not consume quota', async () => {
    const t = await startTestServer({ clients: { alice: { keys: [generateKeySpec()], requestsPerHour: 2 } } });
    try {
      const config = t.client('alice');
      const first = sealCall(config, 'supermath', 'factorial', { n: 3 }).outer;
      assert.equal((await post(t.url, first)).status, 200);
      for (let i = 0; i < 10; i++) {
        assert.equal((await post(t.url, first)).status, 401);
        assert.equal((await post(t.url, { ...first, request: `${first.request.slice(0, -2)}AA` })).status, 401);
      }
      const second = await post(t.url, sealCall(config, 'supermath', 'factorial', { n: 3 }).outer);
      assert.equal(second.status, 200);
      assert.equal(second.headers.get('ratelimit')?.split(';')[1], 'r=0');
    } finally {
      await t.close();
    }
  });
});
