import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eventually } from './helpers/wait.js';
import { request, sealCall } from '../src/client/client.js';
import { decodeBase64urlStrict } from '../src/protocol/base64.js';
import { prepareKey, type LegacyKey } from '../src/protocol/keys.js';
import { sealLegacyRequest } from '../src/protocol/legacy-cbc.js';
import { createCipheriv, randomBytes } from 'node:crypto';
import { fakeClock, LEGACY_KEY, post, startTestServer, type Reply, type TestServer } from './helpers/server.js';
import { compareRefusals, flipBit, PAIRS } from './helpers/attacks.js';
import { vectors } from './helpers/vectors.js';
import { FailureLimiter } from '../src/server/admission/failure-limiter.js';

// What the server refuses, and that refusing changes nothing: every answer to an attack is the
// same bytes, no quota is spent, no state grows (docs/SECURITY.md points here).

const v = vectors.ps2;
const HEADERS_THAT_MATTER = ['content-type', 'content-length', 'cache-control', 'ratelimit', 'ratelimit-policy', 'retry-after'];
const fingerprint = (r: Reply): string => JSON.stringify([r.status, HEADERS_THAT_MATTER.map((h) => r.headers.get(h)), r.text]);

describe('envelope attacks over HTTP', () => {
  let t: TestServer;
  const clock = fakeClock((v.now - 400) * 1000);
  const outer = (request: string) => ({ client: v.client, server: v.server, request });
  before(async () => {
    // The vector client, on a clock set to the vectors' time, so the vector tokens are fresh.
    t = await startTestServer({
      now: clock.now,
      config: { limits: { failedAuthPerIp: 1_000_000 } },
      clients: { [v.client]: { server: v.server, keys: [{ type: 'AES', mode: 'GCM', encoding: 'base64url', data: v.key }], requestsPerHour: 50 } },
    });
    clock.set(v.now * 1000);
  });
  after(() => t.close());

  test('every refusal vector, every flipped bit of the header and tag, and an unknown client get byte-identical 401s; nothing is recorded', async () => {
    const reference = await post(t.url, { ...outer(v.request.token), client: 'nobody' });
    assert.equal(reference.status, 401);
    const expected = fingerprint(reference);
    // A stale or future token that the key sealed gets a clock answer instead (test/clock-skew.test.ts).
    const attacks: string[] = v.refused.filter((c) => c.reason !== 'stale' && c.reason !== 'future').map((c) => c.token);
    const length = decodeBase64urlStrict(v.request.token.slice(4))!.length;
    for (let byte = 0; byte < 50; byte++) for (let bit = 0; bit < 8; bit++) attacks.push(flipBit(v.request.token, byte, bit));
    for (let byte = length - 16; byte < length; byte++) attacks.push(flipBit(v.request.token, byte, 0));
    for (const token of attacks) {
      const r = await post(t.url, outer(token));
      assert.equal(fingerprint(r), expected, token);
    }
    assert.equal(t.store?.replay.size, 0, 'no refused token reached the replay store');
    assert.equal(t.store?.limiter.size, 0, 'no refused token was counted');
    // The genuine token, sent after all its mutants, is still accepted, and counts once.
    const genuine = await post(t.url, outer(v.request.token));
    assert.equal(genuine.status, 200);
    assert.equal(genuine.headers.get('ratelimit'), '"hourly";r=49;t=3600');
  });

  test('the tokens a correct implementation must accept are accepted, once: they share a nonce', async () => {
    for (const c of v.accepted) {
      const clock2 = fakeClock((v.now - 400) * 1000);
      const fresh = await startTestServer({
        now: clock2.now,
        clients: { [v.client]: { server: v.server, keys: [{ type: 'AES', mode: 'GCM', encoding: 'base64url', data: v.key }] } },
      });
      clock2.set(v.now * 1000);
      try {
        assert.equal((await post(fresh.url, outer(c.token))).status, 200, c.name);
        assert.equal((await post(fresh.url, outer(v.request.token))).status, 401, 'same nonce: a replay');
      } finally {
        await fresh.close();
      }
    }
  });
});

describe('no padding oracle in legacy mode', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ config: { limits: { failedAuthPerIp: 1_000_000 } } });
  });
  after(() => t.close());

  test('all 256 values of the last ciphertext byte, invalid UTF-8 and valid padding with bad JSON answer the same bytes', async () => {
    const key = prepareKey({ type: 'AES', mode: 'CBC', data: LEGACY_KEY }) as LegacyKey;
    const message = { request_id: '1', run: { module: 'supermath', function: 'factorial', params: { n: 3 } } };
    const raw = Buffer.from(sealLegacyRequest(message, key), 'base64');
    const original = raw[raw.length - 1];
    const seal = (plain: Buffer): string => {
      const pad = 16 - (plain.length % 16);
      const iv = randomBytes(16);
      const cipher = createCipheriv('aes-256-cbc', key.secret, iv);
      return Buffer.concat([iv, cipher.update(Buffer.concat([plain, Buffer.alloc(pad, pad)])), cipher.final()]).toString('base64');
    };
    const bodies: string[] = [];
    for (let b = 0; b < 256; b++) {
      if (b === original) continue;
      const copy = Buffer.from(raw);
      copy[copy.length - 1] = b;
      bodies.push(copy.toString('base64'));
    }
    bodies.push(seal(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), seal(Buffer.from('not json')), seal(Buffer.from('{"request_id":"x"}')));
    const reference = fingerprint(await post(t.url, { client: 'nobody', request: bodies[0]! }));
    for (const request of bodies) assert.equal(fingerprint(await post(t.url, { client: 'old', request })), reference);
    assert.equal(t.store?.replay.size, 0);
  });
});

describe('legacy replays', () => {
  test('a captured legacy token altered through its IV is still the same request: refused as a replay', async () => {
    const t = await startTestServer({ config: { limits: { failedAuthPerIp: 1_000_000 } } });
    try {
      const key = prepareKey({ type: 'AES', mode: 'CBC', data: LEGACY_KEY }) as LegacyKey;
      const token = sealLegacyRequest({ request_id: 'captured', run: { module: 'supermath', function: 'factorial', params: { n: 3 } } }, key);
      assert.equal((await post(t.url, { client: 'old', request: token })).status, 200);
      // The first block is known ('{"request_id":"c…'; the seed's has a space after the colon): IV
      // flips change the id's first character, and the JSON still parses.
      const alter = (at: number, mask: number): string => {
        const raw = Buffer.from(token, 'base64');
        raw[at]! ^= mask;
        return raw.toString('base64');
      };
      for (const request of ['d', 'x', '1'].map((c) => alter(15, 0x63 ^ c.charCodeAt(0)))) {
        const r = await post(t.url, { client: 'old', request });
        assert.equal(r.status, 401, 'an IV-altered copy is a replay');
      }
      assert.deepEqual(t.access.slice(-3).map((a) => a.reason), ['replayed', 'replayed', 'replayed']);
    } finally {
      await t.close();
    }
  });
});

describe('timing does not tell ids (unknown, ps2, legacy) or legacy padding apart', () => {
  for (const pair of PAIRS) {
    test(`a refusal costs the same: ${pair[0]} / ${pair[1]}`, async (ctx) => {
      const t = await startTestServer({ config: { limits: { failedAuthPerIp: 1_000_000 } } });
      try {
        const { inProcess, http } = await compareRefusals(t, pair, { warm: 50, inProcess: 200, http: 40 });
        ctx.diagnostic(inProcess.report);
        ctx.diagnostic(http.report);
        // Other test files run alongside this one, so only the size of the effect is asserted here;
        // npm run stress repeats this alone, with more samples, and asserts the statistical test too.
        const ratio = inProcess.b / inProcess.a;
        assert.ok(ratio > 0.85 && ratio < 1.15, inProcess.report);
      } finally {
        await t.close();
      }
    });
  }
});

describe('HTTP abuse', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ timeouts: { headersMs: 500, requestMs: 1000 }, config: { limits: { failedAuthPerIp: 1_000_000 } } });
  });
  after(() => t.close());

  const raw = (text: string, waitMs = 1500): Promise<string> =>
    new Promise((resolve) => {
      const u = new URL(t.url);
      const s: Socket = connect(Number(u.port), u.hostname, () => s.write(text));
      let reply = '';
      s.on('data', (d) => (reply += d.toString()));
      s.on('close', () => resolve(reply));
      s.on('error', () => resolve(reply));
      setTimeout(() => s.destroy(), waitMs);
    });
  const statusOf = (reply: string): number[] => [...reply.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

  test('a Content-Length shorter than the body: the short body is refused, the rest is not a request', async () => {
    const body = JSON.stringify(sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer);
    const reply = await raw(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n${body}`);
    const statuses = statusOf(reply);
    assert.equal(statuses[0], 400);
    assert.ok(statuses.every((s) => s === 400), reply);
  });

  test('a client that hangs up mid-body is logged as aborted once, and the server serves on', async () => {
    const before = t.access.length;
    await raw('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"client":"al', 100);
    await eventually(async () => t.access.length > before);
    const logged = t.access.slice(before);
    assert.deepEqual(logged.map((a) => [a.status, a.error]), [[499, 'client_aborted']]);
    const ok = await request(t.client('alice'), 'supermath', 'factorial', { n: 3 }, { endpoint: t.url });
    assert.ok('return' in ok);
  });

  test('deeply nested JSON is a 400 or a 401, never a crash', async () => {
    const deep = `${'['.repeat(30000)}${']'.repeat(30000)}`;
    assert.equal((await post(t.url, deep)).status, 400);
    const r = await post(t.url, `{"client":"alice","request":"ps2.AA","x":${deep}}`);
    assert.equal(r.status, 401);
    const ok = await request(t.client('alice'), 'supermath', 'factorial', { n: 3 }, { endpoint: t.url });
    assert.ok('return' in ok);
  });

  test('a flood of bad tokens does not grow the replay store or the limiter', async () => {
    const before = { replay: t.store!.replay.size, limiter: t.store!.limiter.size };
    const config = t.client('alice');
    // 600 bad tokens, 32 in flight at a time: a flood, but within this server's 1 s request
    // timeout on a loaded machine (2000 at once once timed out with 408s). npm run stress floods longer.
    let next = 0;
    const sender = async (): Promise<void> => {
      for (let i = next++; i < 600; i = next++) {
        const outer = sealCall(config, 'supermath', 'factorial', { n: 3 }).outer;
        const body = i % 2 ? { ...outer, client: `ghost-${i}` } : { ...outer, request: flipBit(outer.request, 60, 1) };
        assert.equal((await post(t.url, body)).status, 401);
      }
    };
    await Promise.all(Array.from({ length: 32 }, sender));
    assert.deepEqual({ replay: t.store!.replay.size, limiter: t.store!.limiter.size }, before);
  });

  test('the per-address failure limiter holds at most its bound of addresses', () => {
    const failures = new FailureLimiter({ limit: 100, windowMs: 300_000 });
    for (let i = 0; i < 50_000; i++) failures.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    assert.ok(failures.size <= 10_000, `size ${failures.size}`);
  });
});
