import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from '../src/client/client.js';
import { compileAllow } from '../src/server/modules/module-api.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, runCli, spawnServe } from './helpers/cli.js';
import { fixture, startTestServer, tempDir, type TestServer } from './helpers/server.js';


describe('user modules', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      config: { modules: [{ path: fixture('misbehaving.mjs') }, { path: fixture('inline-hang.mjs') }], limits: { maxConcurrentCalls: 2 } },
    });
  });
  after(() => t.close());
  const call = (module: string, fn: string, params: Record<string, unknown> = {}) => request(t.client('alice'), module, fn, params, { endpoint: t.url });

  test('a function that throws answers function_failed without its internal message', async () => {
    const r = await call('bad', 'throws');
    assert.deepEqual('error' in r && r.error, { code: 'function_failed', message: 'the function failed' });
    assert.equal(t.access.at(-1)?.detail, 'secret internal detail');
  });

  test('a FunctionError reaches the client with its code and message', async () => {
    const r = await call('bad', 'typed', { id: 'x1' });
    assert.deepEqual('error' in r && r.error, { code: 'not_found', message: 'no record x1' });
  });

  test('an isolated function that never returns times out', async () => {
    const r = await call('bad', 'never');
    assert.deepEqual('error' in r && r.error, { code: 'timeout', message: 'the call did not finish within 300 ms' });
  });

  test('an isolated synchronous loop is stopped by terminating its worker, and the pool serves on', async () => {
    const r = await call('bad', 'loops');
    assert.equal('error' in r && r.error.code, 'timeout');
    const again = await call('bad', 'echo', { s: 'hi' });
    assert.deepEqual('return' in again && again.return, { value: 'hi', comment: 'echo hi' });
  });

  test('an inline function that never resolves still gets a timeout answer', async () => {
    const r = await call('inline', 'never');
    assert.equal('error' in r && r.error.code, 'timeout');
  });

  test('a value that is not JSON becomes function_failed', async () => {
    const r = await call('bad', 'bigint');
    assert.equal('error' in r && r.error.code, 'function_failed');
  });

  test('params are validated before the function runs', async () => {
    const r = await call('bad', 'echo', { s: 'far too long for it' });
    assert.equal('error' in r && r.error.code, 'invalid_params');
    assert.match('error' in r ? r.error.message : '', /^s: /);
  });

  test('calls past the concurrency cap are answered busy', async () => {
    const results = await Promise.all([call('inline', 'slow', { ms: 300 }), call('inline', 'slow', { ms: 300 }), call('inline', 'slow', { ms: 300 })]);
    const codes = results.map((r) => ('error' in r ? r.error.code : 'ok')).sort();
    assert.deepEqual(codes, ['busy', 'ok', 'ok']);
  });

  test('the server still answers supermath after misbehaving calls', async () => {
    await Promise.all([call('bad', 'throws'), call('bad', 'loops'), call('inline', 'never'), call('bad', 'bigint')]);
    const r = await call('supermath', 'factorial', { n: 5 });
    assert.deepEqual('return' in r && r.return, { value: 120, comment: '5! = 120' });
  });
});

describe('allow-lists', () => {
  test('patterns match modules, functions and everything', () => {
    const allow = compileAllow(['supermath.factorial', 'text.*', 'other']);
    assert.equal(allow('supermath', 'factorial'), true);
    assert.equal(allow('supermath', 'gcd'), false);
    assert.equal(allow('text', 'anything'), true);
    assert.equal(allow('other', 'x'), true);
    assert.equal(compileAllow(['*'])('any', 'thing'), true);
  });

  test('a call outside the client allow-list is an authenticated forbidden error', async () => {
    const t = await startTestServer({ config: { defaults: { allow: ['supermath.factorial'] } } });
    try {
      const r = await request(t.client('alice'), 'supermath', 'gcd', { a: 4, b: 6 }, { endpoint: t.url });
      assert.deepEqual('error' in r && r.error, { code: 'forbidden', message: 'client "alice" may not call supermath.gcd' });
      const ok = await request(t.client('alice'), 'supermath', 'factorial', { n: 3 }, { endpoint: t.url });
      assert.equal('return' in ok && ok.return.value, 6);
      const listing = await request(t.client('alice'), 'psimbols', 'functions', {}, { endpoint: t.url });
      assert.deepEqual('return' in listing && (listing.return.value as { function: string }[]).map((f) => f.function), ['factorial']);
    } finally {
      await t.close();
    }
  });
});

describe('supermath', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());
  const value = async (fn: string, params: Record<string, unknown>) => {
    const r = await request(t.client('alice'), 'supermath', fn, params, { endpoint: t.url });
    return 'return' in r ? r.return.value : r.error.code;
  };

  test('fibonacci, gcd and is_prime give exact answers', async () => {
    assert.equal(await value('fibonacci', { n: 10 }), 55);
    assert.equal(await value('fibonacci', { n: 100 }), '354224848179261915075');
    assert.equal(await value('gcd', { a: 12, b: -18 }), 6);
    assert.equal(await value('is_prime', { n: 2 ** 31 - 1 }), true);
    assert.equal(await value('is_prime', { n: '9007199254740991' }), false);
    assert.equal(await value('is_prime', { n: 1 }), false);
  });

  test('inputs are bounded so one request cannot burn the CPU', async () => {
    assert.equal(await value('factorial', { n: 5001 }), 'invalid_params');
    assert.equal(await value('factorial', { n: 2.5 }), 'invalid_params');
    assert.equal(await value('factorial', { n: 3, extra: 1 }), 'invalid_params');
    assert.equal(typeof (await value('factorial', { n: 5000 })), 'string');
  });
});

describe('the deadline of an isolated call', () => {
  test('starts when a worker begins the call, not while a cold worker loads the module', async () => {
    const t = await startTestServer({ config: { modules: [{ path: fixture('slow-start.mjs') }] } });
    try {
      const r = await request(t.client('alice'), 'slowstart', 'ping', {}, { endpoint: t.url });
      assert.deepEqual('return' in r && r.return, { value: 'pong' }, JSON.stringify(r));
    } finally {
      await t.close();
    }
  });
});

describe('modules written anywhere', () => {
  test('a module outside any package imports psimbols and zod, inline and isolated, through the real binary', async () => {
    const dir = await tempDir();
    try {
      const source = (name: string) => `import { defineModule, FunctionError } from 'psimbols';
import { z } from 'zod';
export default defineModule({
  name: '${name}',
  functions: {
    up: {
      params: z.strictObject({ s: z.string().max(100) }),
      run: ({ s }) => {
        if (s === '') throw new FunctionError('empty', 'nothing to shout');
        return { value: s.toUpperCase() };
      },
    },
  },
});
`;
      // No package.json, no node_modules: the files alone, in a directory of their own.
      await mkdir(join(dir.path, 'mods'));
      await writeFile(join(dir.path, 'mods', 'inline.ts'), source('inline_up'));
      await writeFile(join(dir.path, 'mods', 'isolated.mjs'), source('isolated_up'));
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      assert.equal((await runCli(['add-client', 'user'], { env })).code, 0);
      const path = join(dir.path, 'server.json');
      const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      await writeFile(path, JSON.stringify({ ...config, modules: [{ path: 'mods/inline.ts', isolate: false }, { path: 'mods/isolated.mjs' }] }), { mode: 0o600 });
      const served = await spawnServe(['--port', String(await freePort())], env);
      try {
        const call = (...args: string[]) => runCli(['call', ...args, '--server', served.url], { env });
        assert.deepEqual([(await call('inline_up', 'up', 's=hi')).stdout], ['HI\n']);
        assert.deepEqual([(await call('isolated_up', 'up', 's=hey')).stdout], ['HEY\n']);
        const typed = await call('isolated_up', 'up', 's=');
        assert.deepEqual([typed.code, typed.stderr], [1, 'psimbols: isolated_up.up: empty: nothing to shout\n']);
        const listed = await runCli(['functions', '--json', '--server', served.url], { env });
        const schema = (JSON.parse(listed.stdout) as { module: string; params: { properties?: Record<string, unknown> } }[]).find((f) => f.module === 'inline_up');
        assert.ok(schema?.params.properties?.s, 'its zod schema is the server\'s zod: it becomes JSON Schema');
      } finally {
        await served.stop();
      }
    } finally {
      await dir.remove();
    }
  });
});
