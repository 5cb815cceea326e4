import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { parseServerConfig } from '../src/config/server-config.js';
import { PsimbolsError } from '../src/errors.js';
import { openResponse, sealRequest } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type V2Key } from '../src/protocol/keys.js';
import type { AdmissionStore } from '../src/server/admission/admission.js';
import { MemoryAdmissionStore } from '../src/server/admission/memory-store.js';
import { FailureLimiter } from '../src/server/admission/failure-limiter.js';
import { FunctionRunner } from '../src/server/core/function-runner.js';
import { createHandler, type HttpResponse, type RequestHead } from '../src/server/http/handler.js';
import { supermath } from '../src/server/modules/supermath.js';
import { Processor } from '../src/server/core/processor.js';
import { buildState } from '../src/server/core/server-state.js';
import { trustedProxies, type ProxyHeader } from '../src/server/http/client-address.js';
import { fakeClock } from './helpers/server.js';

// The handler without a socket: every status, header and second it decides, from what a request
// carries. server-http.test.ts covers what needs a real connection (streamed bodies, keep-alive).

const SERVER = 'http://psimbols.test/';

function setup(o: { limit?: number; failedAuthPerIp?: number; trustProxy?: string[]; proxyHeader?: ProxyHeader; store?: (now: () => number) => AdmissionStore } = {}) {
  const clock = fakeClock();
  const key = generateKeySpec();
  const config = parseServerConfig({ clients: { alice: { server: SERVER, keys: [key], requestsPerHour: o.limit ?? 100 } } }, 'test');
  const store = o.store?.(clock.now) ?? new MemoryAdmissionStore({ now: clock.now, sweep: false });
  const runner = new FunctionRunner([{ def: supermath, isolate: false }], { callTimeoutMs: 1000, maxConcurrentCalls: 4 });
  const processor = new Processor(buildState(config), { store, runner, now: clock.now, failures: new FailureLimiter({ limit: o.failedAuthPerIp ?? 100, windowMs: 60_000 }, clock.now) });
  const handler = createHandler({ processor, bodyLimit: 1024, health: () => 'psimbols ok\n', trustsProxy: trustedProxies(o.trustProxy ?? []), proxyHeader: o.proxyHeader });
  const prepared = prepareKey(key) as V2Key;
  // Sealed on the fake clock, so tokens are fresh for the processor.
  const sealed = () => {
    const requestId = randomUUID();
    const request = sealRequest({ request_id: requestId, run: { module: 'supermath', function: 'factorial', params: { n: 3 } } }, { client: 'alice', server: SERVER, key: prepared, now: Math.floor(clock.now() / 1000) });
    const open = (token: string) => openResponse(token, { client: 'alice', server: SERVER, key: prepared, requestToken: request });
    return { requestId, outer: { client: 'alice', server: SERVER, request }, open };
  };
  const body = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
  const post = (value: unknown, head: Partial<RequestHead> = {}): Promise<HttpResponse> =>
    handler.handle({ method: 'POST', url: '/', contentType: 'application/json', contentLength: undefined, remoteAddress: '10.0.0.1', ...head }, async () => body(value));
  return { clock, handler, sealed, post, processor };
}

const errorOf = (r: HttpResponse): unknown => (JSON.parse(r.body) as { error?: unknown }).error;

describe('the handler, without a socket', () => {
  test('GET and HEAD / answer the health line; HEAD with its length and no body', async () => {
    const { handler } = setup();
    const head: RequestHead = { method: 'GET', url: '/', contentType: undefined, contentLength: undefined, remoteAddress: '' };
    const noBody = async () => assert.fail('GET reads no body');
    const get = await handler.handle(head, noBody);
    assert.deepEqual([get.status, get.body, get.headers['Content-Type']], [200, 'psimbols ok\n', 'text/plain; charset=utf-8']);
    const h = await handler.handle({ ...head, method: 'HEAD' }, noBody);
    assert.deepEqual([h.status, h.body, h.headers['Content-Length']], [200, '', '12']);
  });

  test('another path is 404, another method 405 with Allow, a query string on / is still /', async () => {
    const { post, sealed } = setup();
    assert.equal((await post({}, { url: '/x' })).status, 404);
    const put = await post({}, { method: 'PUT' });
    assert.deepEqual([put.status, put.headers.Allow], [405, 'GET, HEAD, POST']);
    assert.equal((await post(sealed().outer, { url: '/?x=1' })).status, 200);
  });

  test('a non-JSON content type is 415; none, any charset and +json types are accepted', async () => {
    const { post, sealed } = setup();
    assert.equal((await post({}, { contentType: 'text/plain' })).status, 415);
    for (const contentType of [undefined, 'application/json; charset=latin1', 'application/vnd.psimbols+json']) {
      assert.equal((await post(sealed().outer, { contentType })).status, 200, String(contentType));
    }
  });

  test('a body over the limit is 413 with Connection: close, declared or not', async () => {
    const { post } = setup();
    const declared = await post('{}', { contentLength: '2000' });
    assert.deepEqual([declared.status, declared.headers.Connection, errorOf(declared)], [413, 'close', 'payload_too_large']);
    assert.equal((await post('x'.repeat(1025))).status, 413);
  });

  test('a body that is not a JSON object with string client and request is 400', async () => {
    const { post } = setup();
    for (const value of ['not json', '[1,2]', '{"client":"alice"}', '{"client":1,"request":"x"}', '{"client":"a","request":"x","server":5}', '"str"']) {
      const r = await post(value);
      assert.deepEqual([r.status, errorOf(r)], [400, 'bad_request'], value);
    }
  });

  test('a served request carries the RateLimit headers of its client', async () => {
    const { post, sealed } = setup({ limit: 5 });
    const r = await post(sealed().outer);
    assert.equal(r.status, 200);
    assert.equal(r.headers['RateLimit-Policy'], '"hourly";q=5;w=3600');
    assert.equal(r.headers.RateLimit, '"hourly";r=4;t=3600');
    assert.equal(r.headers['Retry-After'], undefined);
  });

  test('past the limit: 429, Retry-After counts down with the clock, and the sealed message names the same seconds', async () => {
    const { post, sealed, clock } = setup({ limit: 1 });
    assert.equal((await post(sealed().outer)).status, 200);
    clock.advance(1_000_500);
    const s = sealed();
    const r = await post(s.outer);
    assert.equal(r.status, 429);
    assert.equal(r.headers['Retry-After'], '2600');
    assert.equal(r.headers.RateLimit, '"hourly";r=0;t=2600');
    const opened = s.open((JSON.parse(r.body) as { response: string }).response);
    assert.deepEqual(opened.ok && opened.value, { request_id: s.requestId, error: { code: 'rate_limited', message: 'too many requests: retry in 2600 s' } });
    const { status, outcome, client, module, fn, requestId, error } = r.log;
    assert.deepEqual({ status, outcome, client, call: `${module}.${fn}`, requestId, error }, { status: 429, outcome: 'rate_limited', client: 'alice', call: 'supermath.factorial', requestId: s.requestId, error: 'rate_limited' });
  });

  test('an address past its failures gets 429 too_many_failures with the seconds left in its window', async () => {
    const { post, clock } = setup({ failedAuthPerIp: 2 });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    assert.equal((await post(bad)).status, 401);
    assert.equal((await post(bad)).status, 401);
    clock.advance(20_500);
    const r = await post(bad);
    assert.deepEqual([r.status, r.headers['Retry-After'], errorOf(r)], [429, '40', 'too_many_failures']);
  });

  test('an authenticated client is served from an address that has just failed 200 times', async () => {
    const { post, sealed } = setup({ failedAuthPerIp: 100 });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    for (let i = 0; i < 200; i++) await post(bad);
    assert.equal((await post(bad)).status, 429);
    const r = await post(sealed().outer);
    assert.equal(r.status, 200);
    assert.equal((await post(bad)).status, 429, 'its failures are still refused with 429');
  });

  test('behind a trusted proxy, failures count against the forwarded address, and an honest client there is served', async () => {
    const { post, sealed } = setup({ failedAuthPerIp: 100, trustProxy: ['127.0.0.1', '10.0.0.0/8'] });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    const via = (xForwardedFor: string) => ({ remoteAddress: '127.0.0.1', xForwardedFor });
    for (let i = 0; i < 200; i++) await post(bad, via('203.0.113.5, 10.1.1.1'));
    assert.equal((await post(bad, via('203.0.113.5'))).status, 429, 'the attacker behind the proxy is blocked');
    assert.equal((await post(bad, via('198.51.100.7'))).status, 401, 'another address behind the same proxy is not');
    assert.equal((await post(sealed().outer, via('203.0.113.5'))).status, 200, 'an authenticated request from the attacker\'s address is served');
    assert.equal((await post(sealed().outer, { remoteAddress: '127.0.0.1', forwarded: 'for=198.51.100.7;proto=https' })).status, 200);
  });

  test('behind a proxy that writes X-Forwarded-For (the default), a Forwarded header the client sent names no one', async () => {
    const { post } = setup({ failedAuthPerIp: 5, trustProxy: ['127.0.0.1'] });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    const statuses = [];
    // The attacker rotates its own Forwarded; the proxy appends the address it saw to X-Forwarded-For.
    for (let i = 0; i < 20; i++) statuses.push((await post(bad, { remoteAddress: '127.0.0.1', forwarded: `for=198.51.100.${i}`, xForwardedFor: '203.0.113.5' })).status);
    assert.deepEqual([statuses.filter((x) => x === 401).length, statuses.filter((x) => x === 429).length], [5, 15]);
  });

  test('proxyHeader "forwarded" reads Forwarded, and then X-Forwarded-For is the client\'s to write', async () => {
    const { post } = setup({ failedAuthPerIp: 3, trustProxy: ['127.0.0.1'], proxyHeader: 'forwarded' });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    for (let i = 0; i < 3; i++) await post(bad, { remoteAddress: '127.0.0.1', forwarded: 'for=203.0.113.5', xForwardedFor: `198.51.100.${i}` });
    assert.equal((await post(bad, { remoteAddress: '127.0.0.1', forwarded: 'for="[2001:db8::1]:4711", for=203.0.113.5', xForwardedFor: '198.51.100.99' })).status, 429);
  });

  test('a hop that cannot be read counts against the nearest address that can, never against the proxy', async () => {
    const { post } = setup({ failedAuthPerIp: 3, trustProxy: ['127.0.0.1'], proxyHeader: 'forwarded' });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    for (const hop of ['for=unknown', 'for=_hidden', 'for=garbled::::', 'for=unknown']) await post(bad, { remoteAddress: '127.0.0.1', forwarded: `for=203.0.113.5, ${hop}` });
    assert.equal((await post(bad, { remoteAddress: '127.0.0.1', forwarded: 'for=203.0.113.5' })).status, 429, 'counted against the address that could be read');
    assert.equal((await post(bad, { remoteAddress: '127.0.0.1', forwarded: 'for=198.51.100.7' })).status, 401, 'the proxy itself was not blocked');
    for (let i = 0; i < 4; i++) await post(bad, { remoteAddress: '127.0.0.1', forwarded: 'for=unknown' });
    assert.equal((await post(bad, { remoteAddress: '127.0.0.1', forwarded: 'for=198.51.100.8' })).status, 401, 'a chain that names no one is not the proxy either');
  });

  test('an IPv4-mapped address in hex is its IPv4 address; ::1 and :: share no /64 with real addresses', async () => {
    const { post } = setup({ failedAuthPerIp: 3 });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    for (const remoteAddress of ['::ffff:909:901', '9.9.9.1', '::ffff:9.9.9.1']) await post(bad, { remoteAddress });
    assert.equal((await post(bad, { remoteAddress: '9.9.9.1' })).status, 429, 'one address in three spellings');
    for (let i = 0; i < 3; i++) await post(bad, { remoteAddress: '::1' });
    assert.equal((await post(bad, { remoteAddress: '::1' })).status, 429);
    assert.equal((await post(bad, { remoteAddress: '::ffff:198.51.100.1' })).status, 401, 'a dual-stack IPv4 client does not share the loopback\'s key');
    assert.equal((await post(bad, { remoteAddress: '::' })).status, 401);
  });

  test('forwarding headers from a peer that is not a trusted proxy are ignored', async () => {
    const { post } = setup({ failedAuthPerIp: 3, trustProxy: ['127.0.0.1'] });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    for (let i = 0; i < 3; i++) await post(bad, { remoteAddress: '192.0.2.9', xForwardedFor: `198.51.100.${i}` });
    assert.equal((await post(bad, { remoteAddress: '192.0.2.9', xForwardedFor: '198.51.100.99' })).status, 429);
  });

  test('IPv6 failures are counted per /64', async () => {
    const { post } = setup({ failedAuthPerIp: 3 });
    const bad = { client: 'nobody', server: SERVER, request: 'ps2.AAAA' };
    for (const host of ['1', '2', 'ffff:1']) await post(bad, { remoteAddress: `2001:db8:0:7::${host}` });
    assert.equal((await post(bad, { remoteAddress: '2001:db8:0:7:abcd::9' })).status, 429);
    assert.equal((await post(bad, { remoteAddress: '2001:db8:0:8::1' })).status, 401, 'the next /64 is another host');
  });

  test('a store that cannot decide is 503 with Retry-After; any other failure is a plain 500 with the detail only in the log', async () => {
    const failing = (e: Error) => () => ({ prepare: async () => undefined, admit: () => Promise.reject(e), health: () => ({ store: 'x', reachable: false }), close: async () => undefined });
    const down = setup({ store: failing(new PsimbolsError('store_unavailable', 'connection refused')) });
    const r503 = await down.post(down.sealed().outer);
    assert.deepEqual([r503.status, r503.headers['Retry-After'], errorOf(r503), r503.log.error], [503, '5', 'unavailable', 'store_unavailable']);
    const buggy = setup({ store: failing(new TypeError('x is not a function')) });
    const r500 = await buggy.post(buggy.sealed().outer);
    assert.deepEqual([r500.status, r500.body, r500.log.detail], [500, '{"error":"internal","message":"internal error"}\n', 'x is not a function']);
  });
});

describe('GET /readyz', () => {
  test('answers what readiness says: 200, or 503 with its terse line; HEAD without a body', async () => {
    let state = { ready: false, text: 'psimbols not ready: draining\n' };
    const handler = createHandler({ processor: setup().processor, bodyLimit: 1024, health: () => 'psimbols ok\n', readiness: () => state });
    const get = (method: string) => handler.handle({ method, url: '/readyz', contentType: undefined, contentLength: undefined, remoteAddress: '10.0.0.1' }, async () => Buffer.alloc(0));
    const down = await get('GET');
    assert.deepEqual([down.status, down.body], [503, 'psimbols not ready: draining\n']);
    assert.deepEqual([(await get('HEAD')).status, (await get('HEAD')).body], [503, '']);
    state = { ready: true, text: 'psimbols ready store=memory\n' };
    assert.equal((await get('GET')).status, 200);
  });
});
