import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { request, sealCall } from '../src/client/client.js';
import { sealRequest } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type V2Key } from '../src/protocol/keys.js';
import { openResponse } from '../src/protocol/envelope.js';
import { flipBit } from './helpers/attacks.js';
import { post, startTestServer, type TestServer } from './helpers/server.js';

const factorial = { request_id: '789', run: { module: 'supermath', function: 'factorial', params: { n: 3 } } };

describe('HTTP behaviour of serve', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  test('GET / answers 200 with a plain-text health line', async () => {
    const res = await fetch(t.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await res.text(), /^psimbols ok store=memory\n$/);
  });

  test('a chunked body over the limit is 413 while it streams', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(t.url, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      for (let i = 0; i < 5; i++) req.write(chunk);
      req.end();
    });
    assert.equal(status, 413);
  });

  test('a ps2 client gets 200 with a response bound to its request and rate-limit headers', async () => {
    const config = t.client('alice');
    const sealed = sealCall(config, 'supermath', 'factorial', { n: 3 }, 'r-1');
    const r = await post(t.url, sealed.outer);
    assert.equal(r.status, 200);
    const outer = JSON.parse(r.text) as { client: string; server: string; response: string };
    assert.equal(outer.client, 'alice');
    assert.equal(outer.server, config.server);
    assert.deepEqual(sealed.open(outer.response), { ok: true, value: { request_id: 'r-1', return: { value: 6, comment: '3! = 6' } } });
    assert.equal(r.headers.get('ratelimit-policy'), '"hourly";q=100;w=3600');
    assert.match(r.headers.get('ratelimit') ?? '', /^"hourly";r=\d+;t=3600$/);
    assert.equal(r.headers.get('cache-control'), 'no-store');
  });

  test('a legacy client works end to end in the seed format, without a server field', async () => {
    const config = t.client('old');
    const sealed = sealCall(config, 'supermath', 'factorial', { n: 4 }, 'legacy-1');
    const r = await post(t.url, { client: 'old', request: sealed.outer.request });
    assert.equal(r.status, 200);
    const outer = JSON.parse(r.text) as { response: string };
    assert.match(outer.response, /^[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(sealed.open(outer.response), { ok: true, value: { request_id: 'legacy-1', return: { value: 24, comment: '4! = 24' } } });
  });

  test('function-level errors are 200 with an encrypted error naming the parameter and the rule', async () => {
    const config = t.client('alice');
    const r = await request(config, 'supermath', 'factorial', { n: -1 }, { endpoint: t.url });
    assert.ok('error' in r);
    assert.equal(r.error.code, 'invalid_params');
    assert.match(r.error.message, /^n: /);
    const u = await request(config, 'supermath', 'nope', {}, { endpoint: t.url });
    assert.ok('error' in u && u.error.code === 'unknown_function');
    const m = await request(config, 'nomodule', 'f', {}, { endpoint: t.url });
    assert.ok('error' in m && m.error.code === 'unknown_module');
  });

  test('factorial is exact: a number while safe, a decimal string beyond', async () => {
    const config = t.client('alice');
    const big = await request(config, 'supermath', 'factorial', { n: 25 }, { endpoint: t.url });
    assert.ok('return' in big);
    assert.equal(big.return.value, '15511210043330985984000000');
    const small = await request(config, 'supermath', 'factorial', { n: 18 }, { endpoint: t.url });
    assert.ok('return' in small && small.return.value === 6402373705728000);
  });
});

describe('every authentication failure is the same 401', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ config: { limits: { failedAuthPerIp: 1000 } } });
  });
  after(() => t.close());

  test('unknown client, a flipped bit, wrong key, replay, wrong server, legacy padding: identical answers; stale and future: a clock answer; no quota spent', async () => {
    const config = t.client('alice');
    const key = prepareKey(config.key) as V2Key;
    const other = prepareKey(generateKeySpec()) as V2Key;
    const now = Math.floor(Date.now() / 1000);
    const fresh = () => sealCall(config, 'supermath', 'factorial', { n: 3 }).outer;
    const accepted = fresh();
    assert.equal((await post(t.url, accepted)).status, 200);

    const legacy = sealCall(t.client('old'), 'supermath', 'factorial', { n: 3 }).outer;
    const legacyRaw = Buffer.from(legacy.request, 'base64');
    legacyRaw[legacyRaw.length - 1]! ^= 1;

    const bodies: Record<string, unknown> = {
      'unknown client': { ...fresh(), client: 'mallory' },
      // Every flipped bit of the header and tag: adversarial.test.ts.
      'flipped tag bit': { ...fresh(), request: flipBit(fresh().request, 80, 0) },
      'another key': { ...fresh(), request: sealRequest(factorial, { client: 'alice', server: config.server, key: other }) },
      replay: accepted,
      'server field differs from the registered URL': {
        client: 'alice',
        server: 'http://elsewhere.test/',
        request: sealRequest(factorial, { client: 'alice', server: 'http://elsewhere.test/', key }),
      },
      'server field missing for ps2': { client: 'alice', request: fresh().request },
      'garbage token': { client: 'alice', server: config.server, request: 'ps2.AAAA' },
      'legacy bad padding': { client: 'old', request: legacyRaw.toString('base64') },
      'legacy token for a ps2 client': { client: 'alice', server: config.server, request: legacy.request },
    };
    const first = await post(t.url, bodies['unknown client']);
    assert.equal(first.status, 401);
    assert.equal(first.text, '{"error":"unauthorized","message":"request refused"}\n', 'the bytes docs/PROTOCOL.md gives, newline included');
    for (const [name, body] of Object.entries(bodies)) {
      const r = await post(t.url, body);
      assert.equal(r.status, 401, name);
      assert.equal(r.text, first.text, name);
      assert.equal(r.headers.get('content-type'), first.headers.get('content-type'), name);
      assert.equal(r.headers.get('ratelimit'), null, name);
    }
    // Stamped outside the window by alice's own key: 401 too, with the server's time sealed for it
    // (test/clock-skew.test.ts); a stale replay of a captured token learns no more than the time.
    for (const ts of [now - 400, now + 400]) {
      const r = await post(t.url, { ...fresh(), request: sealRequest(factorial, { client: 'alice', server: config.server, key, now: ts }) });
      assert.equal(r.status, 401);
      assert.equal((JSON.parse(r.text) as { error: string }).error, 'clock_skew');
    }
    // Only the one accepted request counted against alice's quota of 100.
    const next = await post(t.url, fresh());
    assert.equal(next.headers.get('ratelimit')?.split(';')[1], 'r=98');
    const reasons = t.access.filter((a) => a.status === 401).map((a) => a.reason);
    for (const reason of ['unknown_client', 'bad_tag', 'unknown_key', 'stale', 'future', 'replayed', 'server_mismatch', 'legacy_refused']) {
      assert.ok(reasons.includes(reason), `log has ${reason}`);
    }
  });

  test('a response fed back as a request is refused with the same 401', async () => {
    const config = t.client('alice');
    const sealed = sealCall(config, 'supermath', 'factorial', { n: 3 });
    const ok = JSON.parse((await post(t.url, sealed.outer)).text) as { response: string };
    const r = await post(t.url, { ...sealed.outer, request: ok.response });
    assert.equal(r.status, 401);
    assert.equal(t.access.at(-1)?.reason, 'bad_kind');
  });

  test('a response checked against another request does not open', async () => {
    const config = t.client('alice');
    const a = sealCall(config, 'supermath', 'factorial', { n: 3 });
    const b = sealCall(config, 'supermath', 'factorial', { n: 3 });
    const ra = JSON.parse((await post(t.url, a.outer)).text) as { response: string };
    assert.equal(b.open(ra.response).ok, false);
    const key = prepareKey(config.key) as V2Key;
    assert.equal(openResponse(ra.response, { client: 'alice', server: config.server, key, requestToken: b.outer.request }).ok, false);
  });
});

describe('failed authentications per address', () => {
  test('past the limit, an address gets 429 with Retry-After until its window ends', async () => {
    const t = await startTestServer({ config: { limits: { failedAuthPerIp: 3, failedAuthWindowSeconds: 60 } } });
    try {
      const bad = { client: 'nobody', server: 'x', request: 'ps2.AAAA' };
      for (let i = 0; i < 3; i++) assert.equal((await post(t.url, bad)).status, 401);
      const r = await post(t.url, bad);
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '60');
      // A request that authenticates is served whatever its address has done.
      assert.equal((await post(t.url, sealCall(t.client('alice'), 'supermath', 'factorial', { n: 1 }).outer)).status, 200);
      assert.equal((await post(t.url, bad)).status, 429, 'and the address stays blocked for failures');
    } finally {
      await t.close();
    }
  });
});
