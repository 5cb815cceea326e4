import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sealResponse } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type KeySpec, type V2Key } from '../src/protocol/keys.js';
import { freePort, runCli, runProcess, spawnServe } from './helpers/cli.js';
import { makePki } from './helpers/pki.js';
import { LEGACY_KEY, startTestServer, tempDir } from './helpers/server.js';
import { atRoot } from './helpers/root.js';
import { NO_PYTHON as hint, python, PYTHON_PACKAGE as PACKAGE } from './helpers/python.js';

// clients/python against a real `psimbols serve`: its own vectors test, then a live script whose
// every exception class comes from a real refusal. Skipped with a hint where no python3 with
// `cryptography` is found; in CI (PSIMBOLS_REQUIRE_PYTHON=1) that is a failure.

if (python === undefined && process.env.PSIMBOLS_REQUIRE_PYTHON) throw new Error(hint);

const listen = (server: Server): Promise<string> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}/`)));

describe('the Python client', { skip: python === undefined ? hint : undefined }, () => {
  test('passes every vector in test/vectors/, refusals included', async () => {
    const r = await runProcess(python!, ['-m', 'unittest', 'discover', '-s', 'tests'], { cwd: PACKAGE, env: { PATH: process.env.PATH ?? '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Ran 8 tests/);
  });

  test('ships a copy of the vectors, identical to test/vectors/ps2.json', async () => {
    const [ours, theirs] = await Promise.all([readFile(atRoot('test/vectors/ps2.json')), readFile(join(PACKAGE, 'tests', 'vectors', 'ps2.json'))]);
    assert.ok(ours.equals(theirs), 'copy test/vectors/ps2.json to clients/python/tests/vectors/ after regenerating it');
  });

  test('calls a real psimbols serve, and each exception class comes from a real refusal', async () => {
    const dir = await tempDir();
    const silent = createServer(() => undefined);
    let key: KeySpec | undefined;
    let server = '';
    // Answers with a response sealed with the right key, client and server, but for another
    // request: only the binding can refuse it.
    const unbound = createServer((_req, res) => {
      const token = sealResponse({ request_id: 'x', return: { value: 1 } }, { client: 'py', server, key: prepareKey(key!) as V2Key, requestToken: 'ps2.another' });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ client: 'py', server, response: token }));
    });
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/`;
      server = url;
      const file = (name: string) => join(dir.path, `${name}.json`);
      assert.equal((await runCli(['add-client', 'py', '--server', url, '-o', file('good')], { env })).code, 0);
      assert.equal((await runCli(['add-client', 'small', '--server', url, '--requests-per-hour', '10', '-o', file('small')], { env })).code, 0);
      assert.equal((await runCli(['add-client', 'seed', '--server', url, '--legacy-key', LEGACY_KEY, '-o', file('legacy')], { env })).code, 0);
      const good = JSON.parse(await readFile(file('good'), 'utf8')) as { key: KeySpec };
      key = good.key;
      await writeFile(file('wrong'), JSON.stringify({ ...good, key: generateKeySpec() }), { mode: 0o600 });
      const served = await spawnServe(['--port', String(port)], env);
      try {
        const spec = { good: file('good'), small: file('small'), legacy: file('legacy'), wrong: file('wrong'), missing: file('missing'), down: `http://127.0.0.1:${await freePort()}/`, silent: await listen(silent), unbound: await listen(unbound) };
        const r = await runProcess(python!, [join(PACKAGE, 'tests', 'live.py'), JSON.stringify(spec)], { env: { PATH: process.env.PATH ?? '' } });
        assert.equal(r.code, 0, r.stderr);
        const o = JSON.parse(r.stdout) as Record<string, { value?: unknown; error?: string; code?: string; exit?: number; retry_after?: number; message?: string }> & { limited: { value?: unknown; error?: string; retry_after?: number }[]; legacy_warned: boolean };
        assert.deepEqual(o.value, { value: 120 });
        assert.deepEqual([o.function_error?.error, o.function_error?.code, o.function_error?.exit], ['FunctionError', 'invalid_params', 1]);
        assert.deepEqual([o.wrong_key?.error, o.wrong_key?.exit], ['AuthError', 4]);
        assert.deepEqual([o.down?.error, o.down?.code, o.down?.exit], ['NetworkError', 'network', 3]);
        assert.deepEqual([o.timeout?.error, o.timeout?.code, o.timeout?.exit], ['Timeout', 'request_timeout', 3]);
        assert.deepEqual([o.unbound?.error, o.unbound?.exit], ['ProtocolError', 6]);
        assert.match(o.unbound?.message ?? '', /does not open with our key for this request \(bad_tag\)/);
        assert.deepEqual([o.missing?.error, o.missing?.code], ['ConfigError', 'config_missing']);
        assert.deepEqual(o.limited.slice(0, 10).map((x) => x.value), Array(10).fill(2));
        assert.equal(o.limited[10]?.error, 'RateLimited');
        assert.ok((o.limited[10]?.retry_after ?? 0) > 3000, 'retry_after from the server, in seconds');
        assert.deepEqual([o.legacy, o.legacy_warned], [{ value: 24 }, true]);
      } finally {
        await served.stop();
      }
    } finally {
      silent.closeAllConnections();
      silent.close();
      unbound.close();
      await dir.remove();
    }
  });
});

const mypyMissing = spawnSync('mypy', ['--version']).status === 0 ? undefined : 'no mypy: apt-get install -y mypy';
if (mypyMissing && process.env.PSIMBOLS_REQUIRE_PYTHON) throw new Error(mypyMissing);

describe('the Python client as a Python developer expects it', { skip: python === undefined ? hint : undefined }, () => {
  test('installs into a fresh venv offline, with its version, license and py.typed, and leaves the tree as it was', async () => {
    const dir = await tempDir();
    try {
      const venv = join(dir.path, 'venv');
      // A venv without a pip of its own, filled by the pip of the python that made it (--prefix):
      // making the venv's own pip costs seven seconds of CPU, and pip's --python, which runs pip
      // again inside the venv, two. The venv sees the system's cryptography; the probe below
      // checks that the package asks for it, where pip's resolver would cost one more second.
      assert.equal((await runProcess(python!, ['-m', 'venv', '--without-pip', '--system-site-packages', venv])).code, 0);
      const quiet = ['--no-index', '--quiet', '--disable-pip-version-check', '--root-user-action=ignore', '--no-build-isolation', '--no-deps'];
      // Debian's python refuses any install of its pip (PEP 668) unless told that this one is not the system's.
      const pip = await runProcess(python!, ['-m', 'pip', 'install', '--prefix', venv, ...quiet, PACKAGE], { env: { PATH: process.env.PATH ?? '', PIP_BREAK_SYSTEM_PACKAGES: '1' } });
      assert.equal(pip.code, 0, pip.stderr);
      const probe = 'import json, psimbols, importlib.metadata as m; f = [str(p) for p in m.files("psimbols")]; print(json.dumps([psimbols.__version__, m.version("psimbols"), any(p.endswith("LICENSE") for p in f), "psimbols/py.typed" in f, m.requires("psimbols")]))';
      const r = await runProcess(join(venv, 'bin', 'python'), ['-c', probe], { cwd: dir.path });
      assert.equal(r.code, 0, r.stderr);
      const [version, metadata, license, typed, requires] = JSON.parse(r.stdout) as [string, string, boolean, boolean, string[]];
      assert.equal(version, metadata);
      assert.deepEqual([license, typed], [true, true]);
      assert.ok(requires.some((q) => /^cryptography\b/.test(q)), JSON.stringify(requires));
      const left = spawnSync('git', ['status', '--porcelain', '--ignored', PACKAGE], { encoding: 'utf8' }).stdout;
      assert.doesNotMatch(left, /python\/build\/|egg-info/);
    } finally {
      await dir.remove();
    }
  });

  test('mypy --strict accepts code that uses it', { skip: mypyMissing }, async () => {
    const dir = await tempDir();
    try {
      const example = join(dir.path, 'example.py');
      await writeFile(example, ["import psimbols", '', 'def factorial(n: int) -> int:', "    client = psimbols.Client.from_config('client.json', timeout=5.0, retries=2)", "    value = client.call('supermath', 'factorial', n=n)", '    assert isinstance(value, int)', '    return value', ''].join('\n'));
      // mypy's own incremental cache, kept where npm's tools keep theirs (node_modules/.cache): a
      // first run checks the standard library's stubs and cryptography's types (3.3 s of CPU),
      // later ones only what changed (0.3 s). mypy checks every cached module against its file.
      const cache = atRoot('node_modules/.cache/psimbols-mypy');
      const r = await runProcess('mypy', ['--strict', '--cache-dir', cache, example], { env: { PATH: process.env.PATH ?? '', MYPYPATH: PACKAGE } });
      assert.equal(r.code, 0, r.stdout + r.stderr);
    } finally {
      await dir.remove();
    }
  });

  test('call(module, function, /, **params): params named module and function, and integers past 2^53 sent as strings of digits', async () => {
    const script = [
      'import json, sys',
      `sys.path.insert(0, ${JSON.stringify(PACKAGE)})`,
      'import psimbols',
      `c = psimbols.Client('py', 'http://x.test/', ${JSON.stringify(generateKeySpec())})`,
      'seen = {}',
      "c._attempt = lambda m, f, p: seen.update(p) or {'request_id': 'r', 'return': {'value': 1}}",
      "c.call('supermath', 'is_prime', module='a', function='b', n=2305843009213693951, small=[2**53 - 1])",
      'print(json.dumps(seen))',
    ].join('\n');
    const r = await runProcess(python!, ['-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { module: 'a', function: 'b', n: '2305843009213693951', small: [9007199254740991] });
  });

  test('retries= tries again after a 503, each attempt sealed afresh, then gives up with NetworkError', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(503, { 'Retry-After': '0', 'Content-Type': 'application/json' }).end('{"error":"unavailable","message":"x"}');
      });
    });
    try {
      const url = await listen(server);
      const script = [
        'import sys',
        `sys.path.insert(0, ${JSON.stringify(PACKAGE)})`,
        'import psimbols',
        `c = psimbols.Client('py', ${JSON.stringify(url)}, ${JSON.stringify(generateKeySpec())}, retries=2)`,
        'try:',
        "    c.call('supermath', 'factorial', n=3)",
        'except psimbols.NetworkError as e:',
        '    print(e.code)',
      ].join('\n');
      const r = await runProcess(python!, ['-c', script]);
      assert.equal(r.stdout.trim(), 'unavailable', r.stderr);
      assert.equal(bodies.length, 3);
      assert.equal(new Set(bodies).size, 3, 'each attempt sealed afresh');
    } finally {
      server.close();
    }
  });

  test('cafile= trusts an https server\'s CA; a CA that did not sign its certificate raises UntrustedServer (exit 6)', async () => {
    const pki = makePki();
    const t = await startTestServer({ config: { listen: { host: '127.0.0.1', port: 0, tls: { cert: pki.cert, key: pki.key } } } });
    try {
      const client = t.client('alice');
      // Four attempts in one Python process, each with its own options and SSL_CERT_FILE (which
      // OpenSSL reads when a context is made): a Python start with cryptography costs 0.2 s.
      const script = [
        'import json, os, sys',
        `sys.path.insert(0, ${JSON.stringify(PACKAGE)})`,
        'import psimbols',
        'def attempt(cafile, cert_file):',
        '    os.environ.pop("SSL_CERT_FILE", None)',
        '    if cert_file is not None: os.environ["SSL_CERT_FILE"] = cert_file',
        '    options = {} if cafile is None else {"cafile": cafile}',
        `    c = psimbols.Client(${JSON.stringify(client.client)}, ${JSON.stringify(client.server)}, ${JSON.stringify(client.key)}, endpoint=${JSON.stringify(t.url)}, **options)`,
        '    try:',
        "        return {'value': c.call('supermath', 'factorial', n=3)}",
        '    except psimbols.PsimbolsError as e:',
        "        return {'error': type(e).__name__, 'exit': e.exit_code, 'message': str(e)}",
        `print(json.dumps([attempt(${JSON.stringify(pki.ca)}, None), attempt(${JSON.stringify(pki.otherCa)}, None), attempt(None, ${JSON.stringify(pki.ca)}), attempt(None, None)]))`,
      ].join('\n');
      const r = await runProcess(python!, ['-c', script], { env: { PATH: process.env.PATH ?? '' } });
      assert.equal(r.code, 0, r.stderr);
      type Attempt = { value?: number; error?: string; exit?: number; message?: string };
      const [trusted, wrong, system, none] = JSON.parse(r.stdout) as [Attempt, Attempt, Attempt, Attempt];
      assert.deepEqual(trusted, { value: 6 });
      assert.deepEqual([wrong.error, wrong.exit], ['UntrustedServer', 6]);
      assert.match(wrong.message ?? '', /its certificate does not verify .*cafile=/);
      // The system's store, as OpenSSL finds it.
      assert.deepEqual(system, { value: 6 });
      assert.equal(none.error, 'UntrustedServer');
    } finally {
      await t.close();
      pki.remove();
    }
  });
});
