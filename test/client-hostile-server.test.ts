import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKeySpec } from '../src/protocol/keys.js';
import { runCli } from './helpers/cli.js';
import { ESCAPES, hostileServer, REDIRECT_TO, type Behaviour } from './helpers/hostile-server.js';
import { tempDir } from './helpers/server.js';

// `psimbols call` against a server that answers every way a broken or malicious one could: what
// it reads, how long it waits and what it prints stay bounded, and every failure has its exit code.

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
    assert.ok(!ESCAPES.includes('\\x1b'));
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
