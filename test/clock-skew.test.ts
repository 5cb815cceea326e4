import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sealCall } from '../src/client/client.js';
import { openClock } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type V2Key } from '../src/protocol/keys.js';
import { runCli, runProcess } from './helpers/cli.js';
import { post, startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { NO_PYTHON, python, PYTHON_PACKAGE as PACKAGE } from './helpers/python.js';

// A client whose clock is off gets, for a request its key sealed, the server's time sealed for
// that request; it corrects its offset, seals once more and is served. Nothing else changes: a
// forgery, an unknown client, a wrong key and a replay keep the one 401 (test/adversarial.test.ts).

async function skewedServer(aheadSeconds: number, limit = 10): Promise<TestServer> {
  return startTestServer({ now: () => Date.now() + aheadSeconds * 1000, clients: { alice: { keys: [generateKeySpec()], requestsPerHour: limit } } });
}

async function callFrom(t: TestServer, ...flags: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = await tempDir();
  try {
    const file = join(dir.path, 'client.json');
    await writeFile(file, JSON.stringify(t.client('alice')), { mode: 0o600 });
    return await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', file, '--server', t.url, ...flags]);
  } finally {
    await dir.remove();
  }
}

describe('a skewed clock heals itself', () => {
  test('a request the key sealed, stamped 600 s early, gets the server\'s time sealed for it; the stale token is still refused', async () => {
    const t = await skewedServer(600);
    try {
      const sealed = sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 });
      const first = await post(t.url, sealed.outer);
      assert.equal(first.status, 401);
      const body = JSON.parse(first.text) as { error: string; client: string; clock: string };
      assert.equal(body.error, 'clock_skew');
      const key = prepareKey(t.client('alice').key) as V2Key;
      const opened = openClock(body.clock, { client: 'alice', server: t.client('alice').server, key, requestToken: sealed.outer.request });
      assert.ok(opened.ok && opened.value.request_id === sealed.requestId);
      assert.ok(opened.ok && Math.abs(opened.value.clock.now - (Date.now() / 1000 + 600)) < 5);
      // Bound to its request: it does not open for another.
      const other = sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 });
      assert.equal(openClock(body.clock, { client: 'alice', server: t.client('alice').server, key, requestToken: other.outer.request }).ok, false);
      assert.equal((await post(t.url, sealed.outer)).status, 401, 'the stale token itself is never served');
      assert.deepEqual(t.access.map((a) => a.reason), ['stale', 'stale']);
    } finally {
      await t.close();
    }
  });

  test('call corrects its clock, is served, and says so with --verbose; the refused request did not count', async () => {
    const t = await skewedServer(600, 1);
    try {
      const r = await callFrom(t, '--verbose');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '6\n');
      assert.match(r.stderr, /clock is (599|600|601) s behind the server's/);
      assert.equal((await callFrom(t)).code, 5, 'the limit of 1 was spent by the one served request');
    } finally {
      await t.close();
    }
  });

  test('a clock ahead is corrected too; one more than a day off is not, and says to fix it', async () => {
    const behind = await skewedServer(-600);
    const far = await skewedServer(2 * 86_400);
    try {
      assert.equal((await callFrom(behind)).stdout, '6\n');
      const r = await callFrom(far);
      assert.equal(r.code, 4);
      assert.match(r.stderr, /more than a day.*set the clock right/);
    } finally {
      await Promise.all([behind.close(), far.close()]);
    }
  });

  test('--batch corrects once and serves every line', async () => {
    const t = await skewedServer(600);
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'client.json');
      await writeFile(file, JSON.stringify(t.client('alice')), { mode: 0o600 });
      const lines = [1, 2, 3].map((n) => JSON.stringify({ module: 'supermath', function: 'factorial', params: { n } })).join('\n');
      const r = await runCli(['call', '--batch', '-', '--client-config', file, '--server', t.url], { input: lines });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { value: number }).value), [1, 2, 6]);
    } finally {
      await t.close();
      await dir.remove();
    }
  });
});

const PY_CALL = `
import json, sys, warnings
sys.path.insert(0, sys.argv[2])
import psimbols
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    client = psimbols.Client.from_config(sys.argv[1], endpoint=sys.argv[3])
    try:
        out = {'value': client.call('supermath', 'factorial', n=3)}
    except psimbols.PsimbolsError as e:
        out = {'error': type(e).__name__, 'exit': e.exit_code, 'message': str(e)}
    out['warnings'] = [str(w.message) for w in caught]
print(json.dumps(out))
`;

describe('the Python client with a skewed clock', { skip: python === undefined ? NO_PYTHON : undefined }, () => {
  test('corrects it once, warns, and is served; more than a day off it refuses to', async () => {
    const near = await skewedServer(600);
    const far = await skewedServer(-2 * 86_400);
    const dir = await tempDir();
    try {
      const run = async (t: TestServer): Promise<{ value?: number; error?: string; exit?: number; message?: string; warnings: string[] }> => {
        const file = join(dir.path, 'client.json');
        await writeFile(file, JSON.stringify(t.client('alice')), { mode: 0o600 });
        const r = await runProcess(python!, ['-c', PY_CALL, file, PACKAGE, t.url], { env: { PATH: process.env.PATH ?? '' } });
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as { value?: number; warnings: string[] };
      };
      const served = await run(near);
      assert.equal(served.value, 6, JSON.stringify(served));
      assert.ok(served.warnings.some((w) => /clock is (599|600|601) s behind the server's/.test(w)), served.warnings.join('\n'));
      const refused = await run(far);
      assert.deepEqual([refused.error, refused.exit], ['AuthError', 4]);
      assert.match(refused.message ?? '', /more than a day/);
    } finally {
      await Promise.all([near.close(), far.close()]);
      await dir.remove();
    }
  });
});
