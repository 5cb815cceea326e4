import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseItem, literal } from '../src/cli/items.js';
import { generateKeySpec } from '../src/protocol/keys.js';
import { BIN, fakeTty, freePort, runCli, runProcess, serveInProcess, spawnServe, type Served } from './helpers/cli.js';
import { PassThrough } from 'node:stream';
import type { Io } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';
import { post, startTestServer, tempDir, type TestServer } from './helpers/server.js';
import { atRoot, ROOT } from './helpers/root.js';

describe('the call bundle', () => {
  test('loads with the code cache the build made, and compiles as usual when V8 refuses a cache', async () => {
    const { compileBundle } = createRequire(import.meta.url)(atRoot('bin/load-call.cjs')) as { compileBundle(cache: Buffer | undefined): { script: { cachedDataRejected?: boolean }; exports: { run?: unknown } } };
    // In a process as the launcher runs it: flags of the test runner's (Node 24's) can change V8's verdict.
    const check = "const { compileBundle } = require('./bin/load-call.cjs'); process.stdout.write(String(compileBundle(require('fs').readFileSync('dist/cli-call/main.cjs.cache')).script.cachedDataRejected))";
    const accepted = await runProcess(process.execPath, ['-e', check], { cwd: ROOT });
    assert.equal(accepted.stdout, 'false', `the cache matches the bundle ${accepted.stderr}`);
    const refused = compileBundle(Buffer.from('not a code cache'));
    assert.equal(refused.script.cachedDataRejected, true);
    assert.equal(typeof refused.exports.run, 'function');
  });
});

describe('the item grammar', () => {
  test('key=value sends a number, true, false or null only for exact literals', () => {
    assert.equal(literal('3'), 3);
    assert.equal(literal('-2.5e3'), -2500);
    assert.equal(literal('007'), '007');
    assert.equal(literal('1.'), '1.');
    assert.equal(literal('true'), true);
    assert.equal(literal('True'), 'True');
    assert.equal(literal('null'), null);
    assert.equal(literal('12345678901234567890'), '12345678901234567890');
    assert.equal(literal(''), '');
  });

  test('parses key=value, key:=json and @file forms, and quotes a bad item', () => {
    assert.deepEqual(parseItem('n=3'), { key: 'n', json: false, file: false, text: '3' });
    assert.deepEqual(parseItem('x:=[1,2]'), { key: 'x', json: true, file: false, text: '[1,2]' });
    assert.deepEqual(parseItem('s=a=b'), { key: 's', json: false, file: false, text: 'a=b' });
    assert.deepEqual(parseItem('f=@data.txt'), { key: 'f', json: false, file: true, text: 'data.txt' });
    assert.throws(() => parseItem('novalue'), { code: 'usage', message: 'bad item "novalue": expected key=value or key:=json' });
    assert.throws(() => parseItem('1x=2'), { code: 'usage', message: /^bad item "1x=2"/ });
  });
});

describe('psimbols call against a real psimbols serve', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let served: Served;
  let env: Record<string, string>;
  before(async () => {
    dir = await tempDir();
    env = { PSIMBOLS_CONFIG_DIR: dir.path };
    // Exactly the README's two terminals: serve on a fresh config directory, then call.
    served = await spawnServe(['--port', String(await freePort())], env);
  });
  after(async () => {
    await served.stop();
    await dir.remove();
  });

  test('first run writes a local client, and n=3 prints 6 and nothing else', async () => {
    assert.match(served.stderr(), /first run: created a server config with one client/);
    assert.match(served.stderr(), /"msg":"listening on http:\/\/127\.0\.0\.1:\d+\/".*"store":"memory"/);
    const r = await runCli(['call', 'supermath', 'factorial', 'n=3'], { env });
    assert.deepEqual(r, { code: 0, stdout: '6\n', stderr: '' });
  });

  test('--verbose puts the comment on stderr; --json prints the whole response', async () => {
    const v = await runCli(['call', 'supermath', 'factorial', 'n=4', '--verbose'], { env });
    assert.deepEqual([v.code, v.stdout, v.stderr], [0, '24\n', '4! = 24\n']);
    const j = await runCli(['call', 'supermath', 'factorial', 'n:=5', '--json'], { env });
    const response = JSON.parse(j.stdout) as { request_id: string; return: unknown };
    assert.equal(j.code, 0);
    assert.deepEqual(response.return, { value: 120, comment: '5! = 120' });
    assert.match(response.request_id, /^[0-9a-f-]{36}$/);
  });

  test('large values print as decimal strings, raw', async () => {
    const r = await runCli(['call', 'supermath', 'factorial', 'n=25'], { env });
    assert.equal(r.stdout, '15511210043330985984000000\n');
  });

  test('params come from files, --params JSON and --params - on stdin', async () => {
    const file = join(dir.path, 'n.txt');
    await writeFile(file, '6\n');
    assert.equal((await runCli(['call', 'supermath', 'factorial', `n=@${file}`], { env })).stdout, '720\n');
    assert.equal((await runCli(['call', 'supermath', 'factorial', `n:=@${file}`], { env })).stdout, '720\n');
    assert.equal((await runCli(['call', 'supermath', 'gcd', '--params', '{"a":12,"b":18}'], { env })).stdout, '6\n');
    assert.equal((await runCli(['call', 'supermath', 'gcd', '--params', '-', 'b=8'], { env, input: '{"a":12,"b":18}' })).stdout, '4\n');
    assert.equal((await runCli(['call', 'supermath', 'is_prime', 'n=97'], { env })).stdout, 'true\n');
  });

  test('exit 1 when the function returns an error, with the code on stderr', async () => {
    const r = await runCli(['call', 'supermath', 'factorial', 'n=007'], { env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^psimbols: supermath\.factorial: invalid_params: n: /);
    assert.doesNotMatch(r.stderr, /\x1b\[/, 'no colour without a TTY');
    assert.equal((await runCli(['call', 'supermath', 'nope'], { env })).code, 1);
  });

  test('exit 2 for usage and config errors, quoting the bad item or naming the file', async () => {
    const bad = await runCli(['call', 'supermath', 'factorial', 'n'], { env });
    assert.deepEqual([bad.code, bad.stderr], [2, 'psimbols: bad item "n": expected key=value or key:=json\n']);
    assert.equal((await runCli(['call', 'supermath'], { env })).code, 2);
    assert.equal((await runCli(['call', 'supermath', 'factorial', 'x:=[1,'], { env })).code, 2);
    const missing = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', join(dir.path, 'nope.json')], { env });
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.startsWith(`psimbols: ${join(dir.path, 'nope.json')}: no such file: pass --client-config FILE`), true, missing.stderr);
    const broken = join(dir.path, 'broken.json');
    await writeFile(broken, '{"client":"x"}', { mode: 0o600 });
    const b = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', broken], { env });
    assert.deepEqual([b.code, b.stderr], [2, `psimbols: ${broken}: server: must be an http:// or https:// URL\n`]);
  });

  test('exit 3 when the server cannot be reached', async () => {
    const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', `http://127.0.0.1:${await freePort()}/`], { env });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^psimbols: cannot reach http:\/\/127\.0\.0\.1:\d+\/: nothing is listening there \(ECONNREFUSED\); "psimbols serve" starts the server\n$/);
  });

  test('a stopped server at the URL of the client config: which file holds it, and what to do', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'client.json');
      await writeFile(file, JSON.stringify({ client: 'alice', server: `http://127.0.0.1:${await freePort()}/`, key: generateKeySpec() }), { mode: 0o600 });
      const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', file]);
      assert.equal(r.code, 3);
      assert.ok(r.stderr.includes(`nothing is listening there (ECONNREFUSED); "psimbols serve" starts the server. The URL is "server" in ${file}; if the server listens elsewhere (serve --port), pass --server URL or edit that file`), r.stderr);
    } finally {
      await dir.remove();
    }
  });

  test('exit 3 on a timeout', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as { port: number }).port;
      const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', `http://127.0.0.1:${port}/`, '--timeout', '0.3'], { env });
      assert.deepEqual([r.code, r.stderr], [3, `psimbols: no answer from http://127.0.0.1:${port}/ within 0.3 s\n`], 'in the unit --timeout takes');
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  test('--timeout 0 waits as long as the answer takes', async () => {
    const slow = createServer((_q, res) => void setTimeout(() => res.writeHead(500).end('{"message":"late"}'), 400));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(slow.address() as { port: number }).port}/`;
      assert.equal((await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', url, '--timeout', '0.1'], { env })).code, 3);
      const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', url, '--timeout', '0'], { env });
      assert.deepEqual([r.code, r.stderr], [6, `psimbols: ${url} answered 500: late\n`], 'the answer came, however late');
    } finally {
      slow.close();
    }
  });

  test('a 503 is exit 3, and --retry waits what Retry-After says, within --timeout, saying so with --verbose', async () => {
    const down = createServer((_q, res) => res.writeHead(503, { 'Retry-After': '1', 'Content-Type': 'application/json' }).end('{"error":"unavailable","message":"the server cannot check limits right now"}\n'));
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(down.address() as { port: number }).port}/`;
      const start = performance.now();
      const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', url, '--retry', '1', '--verbose'], { env });
      assert.equal(r.code, 3);
      assert.ok(performance.now() - start >= 1000, 'waited the second the server asked for');
      assert.match(r.stderr, /attempt 1 failed \(.*unavailable \(503\): retry in 1 s\); retrying in 1\.0 s\n/);
      const bounded = await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', url, '--retry', '1', '--verbose', '--timeout', '0.2'], { env });
      assert.match(bounded.stderr, /retrying in 0\.2 s/);
    } finally {
      down.close();
    }
  });

  test('exit 4 when the server refuses authentication', async () => {
    const local = JSON.parse(await readFile(join(dir.path, 'client.json'), 'utf8')) as Record<string, unknown>;
    const wrong = join(dir.path, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ ...local, key: generateKeySpec() }), { mode: 0o600 });
    const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', wrong], { env });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /refused the request \(401\): check the client id, the key and the clock/);
  });

  test('exit 6 for any other server failure', async () => {
    const other = createServer((_q, res) => res.writeHead(500).end('{"message":"boom"}'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (other.address() as { port: number }).port;
      const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', `http://127.0.0.1:${port}/`], { env });
      assert.deepEqual([r.code, r.stderr], [6, `psimbols: http://127.0.0.1:${port}/ answered 500: boom\n`]);
    } finally {
      other.close();
    }
  });

  test('--offline prints a sealed request that the server accepts once', async () => {
    const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--offline'], { env });
    assert.equal(r.code, 0);
    const outer = JSON.parse(r.stdout) as { client: string; server: string; request: string };
    assert.equal(outer.client, 'local');
    assert.match(outer.request, /^ps2\.[A-Za-z0-9_-]+$/);
    assert.equal((await post(served.url, outer)).status, 200);
    assert.equal((await post(served.url, outer)).status, 401);
  });
});

describe('psimbols call --batch', () => {
  test('one JSON line out per line in, in order, with ids, errors and the exit code of the first failure', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const served = await spawnServe(['--port', String(await freePort())], env);
      try {
        const lines = [
          { module: 'supermath', function: 'factorial', params: { n: 3 }, id: 'a' },
          'not json',
          { module: 'supermath', function: 'factorial', params: { n: 9999 } },
          ...Array.from({ length: 30 }, (_, i) => ({ module: 'supermath', function: 'gcd', params: { a: i + 1, b: 6 }, id: i })),
        ].map((l) => (typeof l === 'string' ? l : JSON.stringify(l)));
        const r = await runCli(['call', '--batch', '-', '--concurrency', '4'], { env, input: `${lines.join('\n')}\n\n` });
        assert.equal(r.code, 2, 'the first failure is the line that is not JSON: a usage error');
        const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.equal(out.length, 33, 'one line out per line in; blank lines are not calls');
        assert.deepEqual(out[0], { id: 'a', ok: true, value: 6, comment: '3! = 6' });
        assert.deepEqual(out[1], { ok: false, error: { code: 'usage', message: 'line 2: not JSON' } });
        assert.equal((out[2]?.error as { code: string }).code, 'invalid_params');
        assert.deepEqual(out.slice(3).map((l) => [l.id, l.value]), Array.from({ length: 30 }, (_, i) => [i, [1, 2, 3, 2, 1, 6][i % 6]]));
        const fine = await runCli(['call', '--batch', '-'], { env, input: `${JSON.stringify({ module: 'supermath', function: 'factorial', params: { n: 4 } })}\n` });
        assert.deepEqual([fine.code, fine.stdout], [0, '{"ok":true,"value":24,"comment":"4! = 24"}\n']);
      } finally {
        await served.stop();
      }
    } finally {
      await dir.remove();
    }
  });
});

/** A test server and a client config file for its alice, both removed afterwards. */
async function withServerClient(o: Parameters<typeof startTestServer>[0], body: (t: TestServer, file: string, dir: string) => Promise<void>): Promise<void> {
  const t = await startTestServer(o);
  const dir = await tempDir();
  try {
    const file = join(dir.path, 'client.json');
    await writeFile(file, JSON.stringify(t.client('alice')), { mode: 0o600 });
    await body(t, file, dir.path);
  } finally {
    await t.close();
    await dir.remove();
  }
}

describe('psimbols call --batch, when a line or the reader fails', () => {
  const factorial = (n: number): string => JSON.stringify({ module: 'supermath', function: 'factorial', params: { n } });

  test('a line too deep to seal is that line\'s failure; the lines around it are answered', async () => {
    await withServerClient({}, async (t, file) => {
      const deep = `{"module":"supermath","function":"factorial","params":{"n":${'['.repeat(5000)}1${']'.repeat(5000)}}}`;
      const input = [factorial(3), deep, factorial(4)].join('\n');
      const r = await runCli(['call', '--batch', '-', '--client-config', file, '--server', t.url], { input });
      const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; value?: number; error?: { code: string } });
      assert.deepEqual(out.map((l) => l.ok), [true, false, true], r.stderr);
      assert.deepEqual([out[0]?.value, out[2]?.value], [6, 24]);
      assert.ok(out[1]?.error?.code === 'usage' || out[1]?.error?.code === 'invalid_params', JSON.stringify(out[1]));
      assert.notEqual(r.code, 0);
    });
  });

  test('| head -1 stops sending once the reader is gone, as yes | head does', async () => {
    await withServerClient({ clients: { alice: { keys: [generateKeySpec()], requestsPerHour: 10_000 } } }, async (t, file, dir) => {
      const lines = join(dir, 'lines.jsonl');
      await writeFile(lines, Array.from({ length: 1000 }, () => factorial(3)).join('\n'));
      const r = await runProcess('sh', ['-c', `"${process.execPath}" "${BIN}" call --batch "${lines}" --client-config "${file}" --server ${t.url} | head -1`]);
      assert.equal(r.stdout, '{"ok":true,"value":6,"comment":"3! = 6"}\n');
      assert.ok(t.access.length < 100, `${t.access.length} of 1000 requests were sent`);
    });
  });
});

describe('psimbols call when rate limited', () => {
  test('exit 5 with the wait in seconds', async () => {
    const dir = await tempDir();
    const env = { PSIMBOLS_CONFIG_DIR: dir.path };
    const port = await freePort();
    const added = await runCli(['add-client', 'once', '--requests-per-hour', '1', '--server', `http://127.0.0.1:${port}/`, '-o', join(dir.path, 'once.json')], { env });
    assert.equal(added.code, 0, added.stderr);
    const served = await serveInProcess(env, port);
    try {
      const args = ['call', 'supermath', 'factorial', 'n=3', '--client-config', join(dir.path, 'once.json')];
      assert.equal((await runCli(args, { env })).stdout, '6\n');
      const r = await runCli(args, { env });
      assert.equal(r.code, 5);
      assert.match(r.stderr, /^psimbols: too many requests: retry in 3[56]\d\d s\n$/);
    } finally {
      await served.stop();
      await dir.remove();
    }
  });
});

describe('psimbols bench', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let benchEnv: Record<string, string>;
  let served: Awaited<ReturnType<typeof serveInProcess>>;
  before(async () => {
    dir = await tempDir();
    benchEnv = { PSIMBOLS_CONFIG_DIR: dir.path, PSIMBOLS_CLIENT_CONFIG: join(dir.path, 'bench.json') };
    const port = await freePort();
    await runCli(['add-client', 'bench', '--requests-per-hour', '100000000', '--server', `http://127.0.0.1:${port}/`, '-o', join(dir.path, 'bench.json')], { env: benchEnv });
    await runCli(['add-client', 'small', '--requests-per-hour', '200', '--server', `http://127.0.0.1:${port}/`, '-o', join(dir.path, 'small.json')], { env: benchEnv });
    served = await serveInProcess(benchEnv, port);
  });
  after(async () => {
    await served.stop();
    await dir.remove();
  });

  test('sends fresh requests and reports rate, latency and outcomes, warm-up apart', async () => {
    const r = await runCli(['bench', 'supermath', 'gcd', 'a=12', 'b=18', '-n', '200', '--connections', '4', '--json'], { env: benchEnv });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { requests: number; warmup: number; rps: number; latencyMs: { p50: number; p99: number }; statuses: Record<string, number> };
    assert.equal(report.requests, 200);
    assert.equal(report.warmup, 4, 'one probe per connection');
    assert.deepEqual(report.statuses, { ok: 200 }, 'every request fresh and answered');
    assert.ok(report.rps > 0 && report.latencyMs.p50 <= report.latencyMs.p99);
    // --rate 200 holds the 0.5 s run to 100 requests, one more for each batch a loaded run may be
    // sealed in, and the warm-up before it to 101: a run of -d paced, not flat out.
    const text = await runCli(['bench', '-d', '0.5', '-c', '2', '--rate', '200'], { env: benchEnv });
    assert.equal(text.code, 0, text.stderr);
    const [sent, before] = [/: (\d+) requests over/, /and (\d+) sent before/].map((re) => Number(re.exec(text.stdout)?.[1]));
    assert.ok(sent! <= 105 && sent! > 0, `${sent} requests in 0.5 s at 200 a second`);
    assert.ok(before! <= 2 + 101, `${before} sent before: the probe and the paced warm-up`);
    assert.match(text.stdout, /^supermath\.factorial at http:\/\/127\.0\.0\.1:\d+\/: \d+ requests over 2 connections in (0\.4\d|0\.5\d) s \(and \d+ sent before, to check the quota and warm up: not in these figures, but counted against the hourly limit\)\nrequests\/s +\d+\nlatency ms +p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +max [\d.]+\noutcomes +ok: \d+\n$/);
  });

  test('on a terminal, the progress bar shows time sent against -d, at the report\'s rate', async () => {
    const stderr = fakeTty();
    const stdout = new PassThrough();
    let bar = '';
    let printed = '';
    stderr.on('data', (d) => (bar += String(d)));
    stdout.on('data', (d) => (printed += String(d)));
    const io: Io = { env: benchEnv, stdin: fakeTty(), stdout, stderr };
    assert.equal(await main(['bench', '-d', '0.7', '--connections', '1', '--rate', '100'], io), 0);
    const frames = [...bar.matchAll(/\] +(\d+)% (\d+) req\/s/g)].map((m) => ({ share: Number(m[1]), rate: Number(m[2]) }));
    assert.ok(frames.length >= 5, `${frames.length} frames`);
    assert.ok(frames[0]!.share <= 30, `starts at ${frames[0]!.share}%`);
    assert.ok(frames.every((f, i) => i === 0 || f.share >= frames[i - 1]!.share), 'never goes back');
    assert.ok(frames.filter((f) => f.share === 100).length <= 1, 'does not sit at 100%');
    const reported = Number(/requests\/s +(\d+)/.exec(printed)?.[1]);
    const last = frames.at(-1)!.rate;
    assert.ok(Math.abs(last / reported - 1) < 0.35, `bar ${last} req/s, report ${reported}`);
  });

  test('--rate takes a number of requests a second above 0, and says so otherwise', async () => {
    for (const rate of ['0', '-5', 'fast', '']) {
      const r = await runCli(['bench', '-n', '5', '--rate', rate], { env: benchEnv });
      assert.equal(r.code, 2, rate);
      assert.match(r.stderr, /option '--rate <n>' argument .* is invalid\. expected a number of requests a second above 0/);
    }
    const r = await runCli(['bench', '-n', '5', '--connections', '2', '--rate', '0.5e3', '--json'], { env: benchEnv });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { rate: number }).rate, 500);
  });

  test('function errors are counted apart from successes, and any failure is a non-zero exit', async () => {
    const r = await runCli(['bench', 'supermath', 'nope', '-n', '20', '--connections', '2', '--json'], { env: benchEnv });
    assert.equal(r.code, 1);
    assert.deepEqual((JSON.parse(r.stdout) as { statuses: unknown }).statuses, { 'function error unknown_function': 20 });
    const local = JSON.parse(await readFile(join(dir.path, 'bench.json'), 'utf8')) as Record<string, unknown>;
    const wrong = join(dir.path, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ ...local, key: generateKeySpec() }), { mode: 0o600 });
    const refused = await runCli(['bench', '-n', '10', '--client-config', wrong, '--json'], { env: benchEnv });
    assert.equal(refused.code, 4);
  });

  test('a run larger than the client\'s remaining quota is refused before it starts, naming --requests-per-hour, unless --force', async () => {
    const small = join(dir.path, 'small.json');
    for (const args of [['-d', '10', '--connections', '16'], ['-n', '1000']]) {
      const r = await runCli(['bench', ...args, '--client-config', small], { env: benchEnv });
      assert.equal(r.code, 2, r.stdout);
      assert.match(r.stderr, /this run would send about \d+ requests, but client "small" has \d+ left in its hour .*--requests-per-hour/);
    }
    const call = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', small], { env: benchEnv });
    assert.deepEqual([call.code, call.stdout], [0, '6\n'], 'the refused runs spent only their probes');
    const forced = await runCli(['bench', '-n', '260', '--client-config', small, '--force', '--json'], { env: benchEnv });
    assert.equal(forced.code, 5, 'sent anyway, and the 429s say so');
    assert.ok((JSON.parse(forced.stdout) as { statuses: Record<string, number> }).statuses['429']! > 0);
  });
});

describe('messages that say what to do', () => {
  test('serve on another port than the first run\'s says the local client still points at the first', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const [p, q] = [await freePort(), await freePort()];
      const first = await spawnServe(['--port', String(p)], env);
      await first.stop();
      assert.doesNotMatch(first.stderr(), /points at/);
      const second = await spawnServe(['--port', String(q)], env);
      await second.stop();
      const line = second.stderr().split('\n').find((l) => l.includes('points at')) ?? '';
      assert.match((JSON.parse(line) as { msg: string }).msg, new RegExp(`^the local client's config points at http://127\\.0\\.0\\.1:${p}/, not at this server: "psimbols call" will not reach it; pass --server http://127\\.0\\.0\\.1:${q}/`));
    } finally {
      await dir.remove();
    }
  });

  test('an unknown function suggests the nearest name; params say what is required and what must be whole', async () => {
    await withServerClient({}, async (t, file) => {
      const run = (...args: string[]) => runCli(['call', ...args, '--client-config', file, '--server', t.url]);
      const typo = await run('supermath', 'factorl', 'n=3');
      assert.equal(typo.code, 1);
      assert.match(typo.stderr, /no function "factorl" in module "supermath": did you mean "factorial"\? \("psimbols functions" lists what this client may call\)/);
      assert.match((await run('supermth', 'factorial', 'n=3')).stderr, /no module "supermth": did you mean "supermath"\?/);
      assert.match((await run('supermath', 'factorial')).stderr, /invalid_params: n is required \(a number\)/);
      assert.match((await run('supermath', 'factorial', 'n:=3.5')).stderr, /invalid_params: n must be a whole number/);
    });
  });

  test('add-client warns when --allow names a function the built-in module does not have', async () => {
    const dir = await tempDir();
    try {
      const r = await runCli(['add-client', 'bob', '--allow', 'supermath.factorl', '--allow', 'supermath.gcd', '-o', join(dir.path, 'bob.json')], { env: { PSIMBOLS_CONFIG_DIR: dir.path } });
      assert.equal(r.code, 0);
      assert.match(r.stderr, /warning: --allow supermath\.factorl: the built-in module supermath has no function "factorl" \(did you mean supermath\.factorial\?\)/);
      assert.doesNotMatch(r.stderr, /supermath\.gcd:/);
    } finally {
      await dir.remove();
    }
  });
});
