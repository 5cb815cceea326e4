import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { parseServerConfig } from '../src/config/server-config.js';
import { generateKeySpec } from '../src/protocol/keys.js';
import { paced, sharedCollection } from '../src/server/http/metrics-server.js';
import { startServer } from '../src/server/http/start-server.js';
import { createLogger } from '../src/server/observe/log.js';
import { post } from './helpers/server.js';

// What a sender that holds no key can cost the operator: each bound of docs/SECURITY.md, "What an
// unauthenticated sender can cost", shown by sending what breaks it.

const SERVER = 'http://psimbols.test/';

async function serverWithLog(limits: Record<string, number>) {
  let text = '';
  const config = parseServerConfig({ listen: { host: '127.0.0.1', port: 0 }, limits, clients: { alice: { server: SERVER, keys: [generateKeySpec()] } } }, 'test');
  const server = await startServer({ config, log: createLogger((line) => void (text += line), 'json'), watch: false });
  return { server, text: () => text };
}

const lines = (text: string): { msg: string; [k: string]: unknown }[] => text.trim().split('\n').map((l) => JSON.parse(l) as { msg: string });

describe('the log, under a flood of refused requests', () => {
  test('an id that breaks the id rule is logged as invalid with its length; every line stays under 300 bytes', async () => {
    const s = await serverWithLog({ failedAuthPerIp: 1_000_000 });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await post(s.server.url, { client: randomBytes(30_000).toString('hex'), server: SERVER, request: `ps2.${randomBytes(80).toString('base64url')}` });
        assert.equal(r.status, 401);
      }
    } finally {
      await s.server.close();
    }
    const access = lines(s.text()).filter((l) => l.msg === 'request');
    assert.equal(access.length, 20);
    assert.deepEqual(new Set(access.map((l) => l.client)), new Set(['<invalid id: 60000 chars>']));
    const longest = Math.max(...s.text().trim().split('\n').map((l) => Buffer.byteLength(l)));
    assert.ok(longest <= 300, `a line of ${longest} bytes`);
  });

  test('an address over its failure limit gets one access line a window, then one line saying how many were left out', async () => {
    const s = await serverWithLog({ failedAuthPerIp: 5, failedAuthWindowSeconds: 300 });
    const sent = 200;
    try {
      const statuses = [];
      for (let i = 0; i < sent; i++) statuses.push((await post(s.server.url, { client: `ghost-${i}`, server: SERVER, request: 'ps2.AAAA' })).status);
      assert.deepEqual([statuses.filter((x) => x === 401).length, statuses.filter((x) => x === 429).length], [5, sent - 5]);
    } finally {
      await s.server.close();
    }
    const all = lines(s.text());
    const access = all.filter((l) => l.msg === 'request');
    assert.deepEqual(access.map((l) => l.status), [401, 401, 401, 401, 401, 429], 'five failures, then the first blocked one');
    const left = all.filter((l) => l.msg === 'access lines left out for an address over its failure limit');
    assert.deepEqual(left.map((l) => l.suppressed), [sent - 6]);
    assert.ok(Buffer.byteLength(s.text()) < 300 * 10, `${Buffer.byteLength(s.text())} bytes of log for ${sent} requests`);
  });
});

describe('the metrics port, under many scrapers and slow ones', () => {
  test('concurrent scrapes share one collection, and its text is reused for a second', async () => {
    let collections = 0;
    let t = 0;
    const collect = sharedCollection(async () => `text ${++collections}`, 1000, () => t);
    assert.deepEqual(new Set(await Promise.all(Array.from({ length: 64 }, collect))), new Set(['text 1']));
    t = 999;
    assert.equal(await collect(), 'text 1');
    t = 1000;
    assert.equal(await collect(), 'text 2');
    assert.equal(collections, 2);
  });

  test('answers go out at most one every 50 ms, in turn', async () => {
    let t = 0;
    const ran: number[] = [];
    const inTurn = paced(50, () => t);
    inTurn(() => ran.push(1));
    assert.deepEqual(ran, [1], 'the first at once');
    const done = new Promise<void>((r) => inTurn(() => (ran.push(2), r())));
    assert.deepEqual(ran, [1], 'the second waits its turn');
    await done;
    assert.deepEqual(ran, [1, 2]);
    t = 1000;
    inTurn(() => ran.push(3));
    assert.deepEqual(ran, [1, 2, 3], 'after a quiet while, at once again');
  });

  test('has the request port\'s timeouts: a half-sent request is closed; and at most 32 connections', async () => {
    const config = parseServerConfig({ listen: { host: '127.0.0.1', port: 0 }, limits: { headersTimeoutMs: 500, requestTimeoutMs: 1000 } }, 'test');
    const server = await startServer({ config, log: createLogger(() => undefined, 'json'), watch: false, metrics: { host: '127.0.0.1', port: 0 } });
    try {
      const { port } = new URL(server.metricsUrl!);
      // Each socket reads, or it would never see the server close it.
      const open = () => connect(Number(port), '127.0.0.1').resume();
      const half = open();
      half.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      const started = performance.now();
      await new Promise((r) => half.on('close', r));
      assert.ok(performance.now() - started < 10_000, 'closed by the headers timeout, not left open');
      const sockets = Array.from({ length: 40 }, open);
      let closed = 0;
      await new Promise<void>((r) => sockets.forEach((s) => s.on('close', () => ++closed === 8 && r())));
      assert.equal(sockets.filter((x) => !x.destroyed).length, 32, 'the eight past the cap are closed at once, the rest kept');
      sockets.forEach((s) => s.destroy());
    } finally {
      await server.close();
    }
  });
});
