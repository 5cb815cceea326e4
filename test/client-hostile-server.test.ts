import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKeySpec } from '../src/protocol/keys.js';
import { runCli, runProcess } from './helpers/cli.js';
import { hostileServer, REDIRECT_TO, type Behaviour } from './helpers/hostile-server.js';
import { tempDir } from './helpers/server.js';
import { NO_PYTHON, python, PYTHON_PACKAGE as PACKAGE } from './helpers/python.js';

// `psimbols call` against a server that answers every way a broken or malicious one could: what
// it reads, how long it waits and what it prints stay bounded, and every failure has its exit code.
// The Python client, in clients/python, against the same servers.

const CAP = 8 * 1024 * 1024;
let dir: Awaited<ReturnType<typeof tempDir>>;
let config: string;

before(async () => {
  dir = await tempDir();
  config = join(dir.path, 'client.json');
  await writeFile(config, JSON.stringify({ client: 'alice', server: 'http://psimbols.test/', key: generateKeySpec() }), { mode: 0o600 });
});
after(() => dir.remove());

async function call(b: Behaviour, ...flags: string[]): Promise<{ code: number | null; stderr: string; stdout: string; ms: number; sent: number }> {
  const server = await hostileServer(b);
  const start = performance.now();
  try {
    const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', config, '--server', server.url, '--timeout', '1', ...flags]);
    return { ...r, ms: performance.now() - start, sent: server.sent() };
  } finally {
    await server.close();
  }
}

describe('call against a hostile server', () => {
  test('an endless body is refused at the cap, unread past it (exit 6)', async () => {
    const r = await call('huge', '--timeout', '0');
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /larger than 8388608 bytes.*--max-response-bytes/);
    // What the server managed to write: the cap, and what sockets buffer on the way.
    assert.ok(r.sent < CAP + 8 * 1024 * 1024, `the server wrote ${r.sent} bytes`);
    const small = await call('huge', '--timeout', '0', '--max-response-bytes', '65536');
    assert.equal(small.code, 6);
    assert.ok(small.sent < 65536 + 8 * 1024 * 1024, `the server wrote ${small.sent} bytes`);
  });

  for (const b of ['drip-body', 'drip-headers'] as const) {
    test(`${b}: the timeout bounds the whole attempt (exit 3)`, async () => {
      const r = await call(b);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /no answer .* within/);
      assert.ok(r.ms < 8000, `took ${r.ms} ms`);
    });
  }

  test('a connection closed without an answer, or in the middle of the body, is a network error (exit 3)', async () => {
    for (const b of ['close', 'short-body'] as const) {
      const r = await call(b);
      assert.equal(r.code, 3, `${b}: ${r.stderr}`);
      assert.match(r.stderr, /cannot reach/);
    }
  });

  test('a status line that is not HTTP is a protocol error (exit 6)', async () => {
    const r = await call('bad-status');
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /not HTTP/);
  });

  test('a redirect is not followed, and named (exit 6)', async () => {
    const r = await call('redirect');
    assert.equal(r.code, 6, r.stderr);
    assert.ok(r.stderr.includes(REDIRECT_TO), r.stderr);
    assert.match(r.stderr, /does not follow redirects/);
  });

  test('escapes in an unauthenticated error body reach the terminal escaped', async () => {
    const r = await call('escapes');
    assert.equal(r.code, 6, r.stderr);
    assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f]/);
    assert.ok(r.stderr.includes('\\x1b]0;pwned\\x07\\x1b[2J\\x0dpsimbols: all good\\x0a'), r.stderr);
  });
});

describe('inspect', () => {
  test("escapes a token's unverified client and server fields", async () => {
    const body = JSON.stringify({ client: '\u001b]0;x\u0007evil', server: 'http://a/\u001b[2J', request: 'AAAA' });
    const r = await runCli(['inspect', body]);
    assert.doesNotMatch(r.stdout, /[\u0000-\u0009\u000b-\u001f\u007f]/);
    assert.match(r.stdout, /client {6}\\x1b\]0;x\\x07evil, server http:\/\/a\/\\x1b\[2J/);
  });
});


describe('the Python client against a hostile server', { skip: python === undefined ? NO_PYTHON : undefined }, () => {
  test('bounded in size and time, every failure one of its own errors with the cause chained, nothing printed raw', async () => {
    const behaviours = ['huge', 'drip-body', 'drip-headers', 'close', 'bad-status', 'short-body', 'redirect', 'escapes'] as const;
    const servers = await Promise.all(behaviours.map((b) => hostileServer(b)));
    try {
      const spec = { config, servers: Object.fromEntries(behaviours.map((b, i) => [b, servers[i]!.url])), options: { huge: { timeout: 0 } } };
      const r = await runProcess(python!, [join(PACKAGE, 'tests', 'hostile.py'), JSON.stringify(spec)], { env: { PATH: process.env.PATH ?? '' } });
      assert.equal(r.code, 0, r.stderr);
      type Outcome = { error?: string; code?: string; exit?: number; message?: string; cause?: string | null; seconds: number; escaped?: string };
      const o = JSON.parse(r.stdout) as Record<(typeof behaviours)[number], Outcome>;
      const summary = (x: Outcome): unknown[] => [x.error ?? x.escaped, x.exit];
      assert.deepEqual(summary(o.huge), ['ProtocolError', 6]);
      assert.match(o.huge.message ?? '', /larger than 8388608 bytes/);
      assert.ok(servers[0]!.sent() < CAP + 8 * 1024 * 1024, `the server wrote ${servers[0]!.sent()} bytes`);
      for (const b of ['drip-body', 'drip-headers'] as const) {
        assert.deepEqual(summary(o[b]), ['Timeout', 3], b);
        assert.ok(o[b].seconds < 8, `${b}: ${o[b].seconds} s`);
      }
      assert.deepEqual([summary(o.close), o.close.cause], [['NetworkError', 3], 'RemoteDisconnected']);
      assert.deepEqual([summary(o['short-body']), o['short-body'].cause], [['NetworkError', 3], 'IncompleteRead']);
      assert.deepEqual([summary(o['bad-status']), o['bad-status'].cause], [['ProtocolError', 6], 'BadStatusLine']);
      assert.deepEqual(summary(o.redirect), ['ProtocolError', 6]);
      assert.ok(o.redirect.message?.includes(REDIRECT_TO), o.redirect.message);
      assert.deepEqual(summary(o.escapes), ['ProtocolError', 6]);
      assert.doesNotMatch(o.escapes.message ?? '', /[\u0000-\u001f\u007f]/);
      assert.ok(o.escapes.message?.includes('\\x1b]0;pwned\\x07'), o.escapes.message);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
