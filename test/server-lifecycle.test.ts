import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { request, sealCall } from '../src/client/client.js';
import { addClient } from '../src/config/edits.js';
import { loadServerConfig, toJsonText, updateServerConfig } from '../src/config/store.js';
import { generateKeySpec } from '../src/protocol/keys.js';
import { parseServerConfig } from '../src/config/server-config.js';
import { startServer } from '../src/server/http/start-server.js';
import { BIN } from './helpers/cli.js';
import { fixture, post, startTestServer, tempDir } from './helpers/server.js';
import { eventually } from './helpers/wait.js';



describe('hot reload of clients', () => {
  test('a valid new config file is picked up without a restart; an invalid one keeps the old clients serving', async () => {
    const dir = await tempDir();
    const path = join(dir.path, 'server.json');
    const t = await startTestServer({ configPath: path });
    try {
      await writeFile(path, toJsonText(t.config), { mode: 0o600 });
      const bob = generateKeySpec();
      await updateServerConfig(path, (c) => addClient(c, 'bob', { key: bob, server: 'http://psimbols.test:9393/' }));
      const bobConfig = { client: 'bob', server: 'http://psimbols.test:9393/', key: bob };
      const served = await eventually(async () => (await post(t.url, sealCall(bobConfig, 'supermath', 'factorial', { n: 2 }).outer)).status === 200);
      assert.equal(served, true, 'bob is accepted after the file changed');

      await writeFile(path, '{ "clients": { broken');
      const reported = await eventually(async () => t.messages.some((m) => m.startsWith('error config not reloaded')));
      assert.equal(reported, true);
      assert.equal((await post(t.url, sealCall(bobConfig, 'supermath', 'factorial', { n: 2 }).outer)).status, 200);
      assert.equal((await post(t.url, sealCall(t.client('alice'), 'supermath', 'factorial', { n: 2 }).outer)).status, 200);
      // The broken file is the operator's: nothing rewrote it.
      await assert.rejects(loadServerConfig(path), /not valid JSON/);
    } finally {
      await t.close();
      await dir.remove();
    }
  });

  test('a flag given to serve stands over the file on every reload, and is not taken for a change to the file', async () => {
    const dir = await tempDir();
    const path = join(dir.path, 'server.json');
    const messages: string[] = [];
    const file = parseServerConfig({ listen: { host: '127.0.0.1', port: 0 }, store: 'redis://127.0.0.1:1/0', clients: { alice: { server: 'http://psimbols.test/', keys: [generateKeySpec()] } } }, 'test');
    await writeFile(path, toJsonText(file), { mode: 0o600 });
    const server = await startServer({ config: file, flags: { store: 'memory' }, configPath: path, watch: false, log: { access: () => undefined, log: (level, m) => void messages.push(`${level} ${m}`) } });
    try {
      assert.equal(await server.reload(), true);
      assert.equal(await server.reload(), true);
      assert.deepEqual(messages.filter((m) => m.includes('take effect on restart')), [], 'the file\'s store never changed');
      assert.match(await (await fetch(server.url)).text(), /store=memory/, 'the flag still decides the store');
    } finally {
      await server.close();
      await dir.remove();
    }
  });

  test('reload() (what SIGHUP calls) swaps clients in, names settings that need a restart, and reports false for an invalid file', async () => {
    const dir = await tempDir();
    const path = join(dir.path, 'server.json');
    const t = await startTestServer({ configPath: path });
    try {
      const without = { ...t.config, clients: { alice: t.config.clients.alice! } };
      await writeFile(path, toJsonText(without));
      assert.equal(await t.server.reload(), true);
      assert.equal(t.messages.filter((m) => m.includes('take effect on restart')).length, 0);
      await writeFile(path, toJsonText({ ...without, limits: { ...without.limits, bodyBytes: 1024, futureSeconds: 30 } }));
      assert.equal(await t.server.reload(), true);
      assert.deepEqual(t.messages.filter((m) => m.includes('take effect on restart')), ['warn changes to limits.bodyBytes take effect on restart']);
      assert.equal((await post(t.url, sealCall(t.client('old'), 'supermath', 'factorial', { n: 2 }).outer)).status, 401);
      await writeFile(path, toJsonText({ ...without, clients: { alice: { keys: [] } } }));
      assert.equal(await t.server.reload(), false);
      assert.equal((await post(t.url, sealCall(t.client('alice'), 'supermath', 'factorial', { n: 2 }).outer)).status, 200);
    } finally {
      await t.close();
      await dir.remove();
    }
  });
});

describe('slow and idle connections', () => {
  const open = (url: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const s = connect(Number(u.port), u.hostname, () => resolve(s));
      // Read what the server sends (a 408), or the socket never sees its end.
      s.resume();
      s.on('error', reject);
    });
  const closed = (s: Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));

  test('hundreds of idle sockets do not stop a real client, and are closed by the header timeout', async () => {
    const t = await startTestServer({ timeouts: { headersMs: 500, requestMs: 1000 } });
    try {
      const idle = await Promise.all(Array.from({ length: 300 }, () => open(t.url)));
      const start = performance.now();
      const r = await request(t.client('alice'), 'supermath', 'factorial', { n: 3 }, { endpoint: t.url });
      assert.ok('return' in r && r.return.value === 6);
      assert.ok(performance.now() - start < 1000, 'served while the idle sockets were open');
      await Promise.all(idle.map(closed));
      assert.equal(idle.every((s) => s.destroyed), true);
    } finally {
      await t.close();
    }
  });

  test('a body that trickles in is cut off by the request timeout of the config file', async () => {
    const t = await startTestServer({ config: { limits: { headersTimeoutMs: 500, requestTimeoutMs: 800 } } });
    try {
      const s = await open(t.url);
      let reply = '';
      s.on('data', (d) => (reply += d.toString()));
      s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"client"');
      const timer = setInterval(() => s.writable && s.write(' '), 100);
      await closed(s);
      clearInterval(timer);
      assert.match(reply, /^HTTP\/1\.1 408/);
    } finally {
      await t.close();
    }
  });
});

describe('slow headers', () => {
  test('headers that trickle in are cut off with 408 by the header timeout', async () => {
    const t = await startTestServer({ timeouts: { headersMs: 500, requestMs: 1000 } });
    try {
      const u = new URL(t.url);
      const reply = await new Promise<string>((resolve) => {
        const s = connect(Number(u.port), u.hostname, () => s.write('POST / HTTP/1.1\r\n'));
        let text = '';
        const timer = setInterval(() => s.writable && s.write('X-Slow: 1\r\n'), 100);
        s.on('data', (d) => (text += d.toString()));
        s.on('close', () => {
          clearInterval(timer);
          resolve(text);
        });
      });
      assert.match(reply, /^HTTP\/1\.1 408/);
    } finally {
      await t.close();
    }
  });
});

describe('graceful shutdown', () => {
  test('in-flight requests finish, then the server stops accepting', async () => {
    const t = await startTestServer({ config: { modules: [{ path: fixture('inline-hang.mjs') }] } });
    const g = globalThis as { inlineSlowStarted?: number };
    const before = g.inlineSlowStarted ?? 0;
    const inflight = request(t.client('alice'), 'inline', 'slow', { ms: 400 }, { endpoint: t.url });
    assert.equal(await eventually(async () => (g.inlineSlowStarted ?? 0) > before), true, 'the call is under way');
    const closing = t.close();
    const r = await inflight;
    assert.deepEqual('return' in r && r.return, { value: 400 });
    await closing;
    await assert.rejects(request(t.client('alice'), 'supermath', 'factorial', { n: 3 }, { endpoint: t.url }), { code: 'network' });
  });

  test('serve handles SIGTERM, SIGINT and SIGHUP before it says it listens, so a signal sent on that line drains it', async () => {
    const dir = await tempDir();
    try {
      // The probe reports the handlers at the moment the line is written: a supervisor that
      // signals as soon as it reads the line, before they were there, killed serve outright.
      const child = spawn(process.execPath, ['--import', pathToFileURL(fixture('signal-probe.mjs')).href, BIN, 'serve', '--port', '0'], { env: { PATH: process.env.PATH ?? '', PSIMBOLS_CONFIG_DIR: dir.path }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += String(d)));
      child.stderr.resume();
      const exited = new Promise<[number | null, string | null]>((r) => child.once('exit', (code, signal) => r([code, signal])));
      assert.ok(await eventually(async () => out.includes('handlers'), 10_000), out);
      const counts = /handlers (\d+) (\d+) (\d+)/.exec(out)?.slice(1).map(Number) ?? [];
      child.kill('SIGTERM');
      assert.deepEqual(await exited, [0, null]);
      assert.ok(counts.length === 3 && counts.every((n) => n >= 1), out);
    } finally {
      await dir.remove();
    }
  });
});

describe('readiness apart from liveness', () => {
  test('GET /readyz is 200 while serving; GET / and /healthz are liveness; a drain closes the listener, so probes are refused', async () => {
    const t = await startTestServer();
    const ready = await fetch(new URL('/readyz', t.url));
    assert.deepEqual([ready.status, await ready.text()], [200, 'psimbols ready store=memory\n']);
    assert.equal((await fetch(new URL('/healthz', t.url))).status, 200);
    assert.equal((await fetch(new URL('/readyz', t.url), { method: 'POST' })).status, 405);
    await t.close();
    await assert.rejects(fetch(new URL('/readyz', t.url)));
  });
});
