import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sealRequest } from '../src/protocol/envelope.js';
import { generateKeySpec, prepareKey, type KeySpec, type V2Key } from '../src/protocol/keys.js';
import { BIN, freePort, runCli, spawnServe } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';
import { fileProblem } from '../src/errors.js';
import { redisMissing, startRedis } from './helpers/redis.js';

// A command that fails changes nothing and says what to do next; output that cannot be written
// is an error. Through the real binary.

const withDir = async (body: (dir: string, env: Record<string, string>) => Promise<void>): Promise<void> => {
  const dir = await tempDir();
  try {
    await body(dir.path, { PSIMBOLS_CONFIG_DIR: dir.path });
  } finally {
    await dir.remove();
  }
};

describe('a command that fails changes nothing', () => {
  test('add-client -o onto an existing file, or into a directory that cannot be written, registers nothing', async () => {
    await withDir(async (dir, env) => {
      assert.equal((await runCli(['add-client', 'first'], { env })).code, 0);
      const before = await readFile(join(dir, 'server.json'), 'utf8');
      const existing = join(dir, 'existing.json');
      await writeFile(existing, 'keep me', { mode: 0o600 });
      const r = await runCli(['add-client', 'newone', '-o', existing], { env });
      assert.deepEqual([r.code, r.stderr], [2, `psimbols: ${existing}: already exists (use --force to overwrite)\n`]);
      for (const target of ['/proc/x.json', join(dir, 'missing', 'x.json')]) {
        const bad = await runCli(['add-client', 'newone', '-o', target], { env });
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, /^psimbols: cannot write /);
      }
      assert.equal(await readFile(join(dir, 'server.json'), 'utf8'), before, 'the server config is untouched');
      assert.equal(await readFile(existing, 'utf8'), 'keep me');
      assert.equal((await runCli(['add-client', 'newone'], { env })).code, 0, 'the id is still free');
    });
  });

  test('rotate-key -o onto an existing file without --force keeps the old key', async () => {
    await withDir(async (dir, env) => {
      assert.equal((await runCli(['add-client', 'ci2'], { env })).code, 0);
      const before = await readFile(join(dir, 'server.json'), 'utf8');
      const out = join(dir, 'ci2.json');
      await writeFile(out, '{}', { mode: 0o600 });
      const r = await runCli(['rotate-key', 'ci2', '-o', out], { env });
      assert.equal(r.code, 2);
      assert.equal(await readFile(join(dir, 'server.json'), 'utf8'), before);
    });
  });

  test('serve -c naming a file that does not exist is an error and creates nothing', async () => {
    await withDir(async (dir, env) => {
      const typo = join(dir, 'typo.json');
      const r = await runCli(['serve', '-c', typo], { env });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /typo\.json: no such file \(named by -c\); serve creates a config on a first run only at the default location/);
      const viaEnv = await runCli(['serve'], { env: { ...env, PSIMBOLS_SERVER_CONFIG: typo } });
      assert.equal(viaEnv.code, 2);
      assert.match(viaEnv.stderr, /named by PSIMBOLS_SERVER_CONFIG/);
      assert.deepEqual(await readdir(dir), []);
    });
  });

  test('keygen -o into a directory that does not exist does not create it', async () => {
    await withDir(async (dir) => {
      const r = await runCli(['keygen', '-o', join(dir, 'no', 'such', 'k.key')]);
      assert.deepEqual([r.code, r.stdout], [2, '']);
      assert.match(r.stderr, /cannot write .*k\.key: the directory .*such does not exist/);
      assert.deepEqual(await readdir(dir), []);
    });
  });
});

describe('the first run, whichever command makes it', () => {
  test('add-client before the first serve creates the local client and client.json, and call then works', async () => {
    await withDir(async (dir, env) => {
      const port = await freePort();
      const added = await runCli(['add-client', 'ci'], { env });
      assert.equal(added.code, 0, added.stderr);
      assert.match(added.stderr, /wrote the "local" client config/);
      assert.deepEqual((await readdir(dir)).sort(), ['client.json', 'server.json']);
      const served = await spawnServe(['--port', String(port)], env);
      try {
        // The local client names the default port, where a first `psimbols serve` would listen;
        // this one listens on a free port, so the call is sent there.
        const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', served.url], { env });
        assert.deepEqual([r.code, r.stdout], [0, '6\n'], r.stderr);
      } finally {
        await served.stop();
      }
    });
  });
});

describe('errors that say what to do', () => {
  /** A port another server holds on 127.0.0.1, for the length of `body`. */
  const withBusyPort = (body: (port: number, env: Record<string, string>) => Promise<void>): Promise<void> =>
    withDir(async (_dir, env) => {
      const busy: Server = createServer();
      await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
      try {
        await body((busy.address() as { port: number }).port, env);
      } finally {
        busy.close();
      }
    });

  test('a port in use is a usage error with a hint, not an internal error', async () => {
    await withBusyPort(async (port, env) => {
      const r = await runCli(['serve', '--port', String(port)], { env });
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`port ${port} is in use on 127\\.0\\.0\\.1: pick another with --port`));
    });
  });

  test('a port in use with --workers 2, or a metrics address in use, is the same usage error', async () => {
    await withBusyPort(async (port, env) => {
      const workers = await runCli(['serve', '--port', String(port), '--workers', '2'], { env });
      assert.equal(workers.code, 2, workers.stderr);
      assert.match(workers.stderr, new RegExp(`port ${port} is in use on 127\\.0\\.0\\.1: pick another with --port`));
      const metrics = await runCli(['serve', '--port', '0', '--metrics', `127.0.0.1:${port}`], { env });
      assert.equal(metrics.code, 2, metrics.stderr);
      assert.match(metrics.stderr, new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\): pick another address with --metrics`));
    });
  });

  test('--workers and --metrics values are checked: a usage error naming the flag', async () => {
    for (const args of [['--workers', '0'], ['--workers', 'many'], ['--metrics', '9464'], ['--metrics', 'host:99999']]) {
      const r = await runCli(['serve', ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, new RegExp(`option '${args[0]} <`));
    }
  });

  test('a host that does not resolve is a usage error naming where the URL came from', async () => {
    await withDir(async (_dir, env) => {
      assert.equal((await runCli(['add-client', 'h'], { env })).code, 0);
      const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--server', 'http://no-such-host.invalid/'], { env });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /no such host no-such-host\.invalid; check --server, or "server" in the client config/);
    });
  });

  test('a flag value is blamed on the flag: --server notaurl for add-client and call, bench -c is no more', async () => {
    await withDir(async (_dir, env) => {
      for (const args of [['add-client', 'y1', '--server', 'notaurl'], ['call', 'm', 'f', '--server', 'notaurl']]) {
        const r = await runCli(args, { env });
        assert.equal(r.code, 2);
        assert.match(r.stderr, /option '--server <url>' argument 'notaurl' is invalid\. expected an http:\/\/ or https:\/\/ URL\./);
      }
      assert.equal((await runCli(['bench', '-c', '4'], { env })).code, 2, '-c means --config only');
    });
  });
});

describe('output that cannot be written', () => {
  test('keygen > /dev/full exits 2 and says so', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(`"${process.execPath}" "${BIN}" keygen > /dev/full`, { shell: true, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /psimbols: cannot write the output \(ENOSPC\)/);
  });

  test('a reader that goes away (| head -c 1) ends it quietly, with the status of SIGPIPE', async () => {
    await withDir(async (_dir, env) => {
      for (let i = 0; i < 3; i++) assert.equal((await runCli(['add-client', `c${i}`], { env })).code, 0);
      const r = await new Promise<{ status: string; stderr: string }>((resolve) => {
        const child = spawn('bash', ['--norc', '--noprofile', '-c', `set -o pipefail; "${process.execPath}" "${BIN}" list-clients --json | head -c 1 >/dev/null; echo "\${PIPESTATUS[0]}"`], { env: { ...env, PATH: process.env.PATH ?? '' } });
        let out = '';
        let stderr = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', () => resolve({ status: out.trim(), stderr }));
      });
      assert.equal(r.stderr, '');
      assert.ok(['0', '141'].includes(r.status), r.status);
      // A reader gone before anything is written: the write must fail, and does so quietly, 141.
      const gone = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'list-clients', '--json'], { env: { ...env, PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.destroy();
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.deepEqual([gone.code, gone.stderr], [141, '']);
    });
  });
});

describe('why did I get 401', () => {
  test('inspect shows a token without a key, opens it with one, and says exactly why the server would refuse it', async () => {
    await withDir(async (dir, env) => {
      const clientFile = join(dir, 'alice.json');
      assert.equal((await runCli(['add-client', 'alice', '-o', clientFile, '--server', 'http://psimbols.test/'], { env })).code, 0);
      const body = (await runCli(['call', 'supermath', 'factorial', 'n=3', '--offline', '--client-config', clientFile], { env })).stdout;
      const bare = await runCli(['inspect', '-'], { env, input: body });
      assert.equal(bare.code, 0);
      assert.match(bare.stdout, /^client +alice, server http:\/\/psimbols\.test\/\nformat +ps2, request\nkey id +[0-9a-f]{16}\ntimestamp +\S+ \(\d+ s ago\)\nnonce +\S{43}\nciphertext +\d+ bytes\nverdict +\(give --client-config or -c/);
      const opened = await runCli(['inspect', '-', '--client-config', clientFile], { env, input: body });
      assert.match(opened.stdout, /verdict +opens\nplaintext +\{"request_id":"[^"]+","run":\{"module":"supermath","function":"factorial","params":\{"n":3\}\}\}\n$/);
      const config = JSON.parse(await readFile(clientFile, 'utf8')) as { key: KeySpec };
      const stale = JSON.stringify({ client: 'alice', server: 'http://psimbols.test/', request: sealRequest({ request_id: 'x', run: { module: 'm', function: 'f', params: {} } }, { client: 'alice', server: 'http://psimbols.test/', key: prepareKey(config.key) as V2Key, now: Math.floor(Date.now() / 1000) - 400 }) });
      const old = await runCli(['inspect', stale, '-c', join(dir, 'server.json')], { env });
      assert.match(old.stdout, /verdict +refused: it is stamped too long ago \(\d{3} s off; the window is −300 s … \+60 s\)/);
      const moved = JSON.stringify({ ...(JSON.parse(body) as object), server: 'http://elsewhere.test/' });
      assert.match((await runCli(['inspect', moved, '-c', join(dir, 'server.json')], { env })).stdout, /verdict +refused: it does not open with this key for this client id and server URL/);
      const ghost = JSON.stringify({ ...(JSON.parse(body) as object), client: 'ghost' });
      assert.match((await runCli(['inspect', ghost, '-c', join(dir, 'server.json')], { env })).stdout, /verdict +refused: no client of this id is registered/, 'the server\'s own steps, unknown_client included');
      // Scripts branch on the exit code: 0 opens, 4 the server would refuse it, 2 not a token.
      assert.equal(opened.code, 0);
      assert.equal(old.code, 4);
      assert.equal((await runCli(['inspect', ghost, '-c', join(dir, 'server.json')], { env })).code, 4);
      assert.equal((await runCli(['inspect', 'ps2.!!not base64', '-c', join(dir, 'server.json')], { env })).code, 2);
      assert.equal((await runCli(['inspect', 'ps2.!!not base64'], { env })).code, 2);
      // --json: typed fields, numbers as numbers, an ISO time, and a verdict code beside its message.
      const json = JSON.parse((await runCli(['inspect', stale, '-c', join(dir, 'server.json'), '--json'], { env })).stdout) as Record<string, unknown> & { verdict: { code: string; message: string; off_seconds: number } };
      assert.equal(json.format, 'ps2');
      assert.equal(json.kind, 'request');
      assert.equal(typeof json.age_seconds, 'number');
      assert.equal(typeof json.ciphertext_bytes, 'number');
      assert.equal(new Date(String(json.timestamp)).toISOString(), json.timestamp);
      assert.equal(json.verdict.code, 'stale');
      assert.ok(json.verdict.off_seconds >= 400);
      const openedJson = JSON.parse((await runCli(['inspect', '-', '--client-config', clientFile, '--json'], { env, input: body })).stdout) as { verdict: { code: string }; plaintext: { run: { params: { n: number } } } };
      assert.deepEqual([openedJson.verdict.code, openedJson.plaintext.run.params.n], ['opens', 3]);
    });
  });

  test('a 401 says what the client can see: another URL than the one bound in, the server log, inspect', async () => {
    await withDir(async (dir, env) => {
      const served = await spawnServe(['--port', String(await freePort())], env);
      try {
        const local = JSON.parse(await readFile(join(dir, 'client.json'), 'utf8')) as Record<string, unknown>;
        const wrong = join(dir, 'wrong.json');
        await writeFile(wrong, JSON.stringify({ ...local, key: generateKeySpec() }), { mode: 0o600 });
        const endpoint = served.url.replace('127.0.0.1', 'localhost');
        const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', wrong, '--server', endpoint], { env });
        assert.equal(r.code, 4);
        assert.match(r.stderr, /refused the request \(401\): check the client id, the key and the clock\. It was sent to http:\/\/localhost:\d+\/ but is bound to http:\/\/127\.0\.0\.1:\d+\/ .* The server's log names the reason; "psimbols inspect" explains a token/);
      } finally {
        await served.stop();
      }
    });
  });
});

describe('errors that point at the line, the file and the flag', () => {
  test('a JSON syntax error in a config names its line and column, as jq does', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'server.json');
      await writeFile(file, '{\n  "clients": {},\n  "store": "memory",\n  "workers": }\n', { mode: 0o600 });
      const r = await runCli(['list-clients', '-c', file]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /server\.json: not valid JSON at line 4, column 14: unexpected "}"/);
    });
  });

  test('a module that does not compile names file:line:column and the compiler\'s message', async () => {
    await withDir(async (dir) => {
      const module = join(dir, 'bad.ts');
      await writeFile(module, 'import { defineModule } from "psimbols";\nexport default defineModule({\n  name: "bad",\n  functions: { f: x y }\n});\n');
      const config = join(dir, 'server.json');
      await writeFile(config, JSON.stringify({ modules: [{ path: module }], clients: {} }), { mode: 0o600 });
      const r = await runCli(['serve', '-c', config, '--port', '0']);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(`${module}:4:20: Expected "}" but found "y"`), r.stderr);
    });
  });

  test('a Redis database that is not a number, or that this Redis does not have, is a usage error naming --store', { skip: redisMissing() }, async () => {
    const redis = await startRedis();
    try {
      await withDir(async (_dir, env) => {
        for (const db of ['abc', '-1']) {
          const r = await runCli(['serve', '--port', '0', '--store', `redis://127.0.0.1:${redis.port}/${db}`], { env });
          assert.equal(r.code, 2);
          assert.match(r.stderr, /--store/);
        }
        const r = await runCli(['serve', '--port', '0', '--store', `redis://127.0.0.1:${redis.port}/99`], { env });
        assert.equal(r.code, 2);
        assert.match(r.stderr, /--store.*database 99, which this Redis does not have \(it has 16: 0 to 15\)/);
        assert.doesNotMatch(r.stderr, /listening/);
      });
    } finally {
      await redis.remove();
    }
  });
});

describe('file errors in words', () => {
  test('a missing --batch file, and a read-only file system, say what happened, not only the code', async () => {
    const r = await runCli(['call', '--batch', '/nonexistent/lines.jsonl']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--batch: cannot read \/nonexistent\/lines\.jsonl: no such file or directory \(ENOENT\)/);
    assert.equal(fileProblem(Object.assign(new Error('x'), { code: 'EROFS' })), 'the file system is read-only (EROFS)');
    assert.equal(fileProblem(Object.assign(new Error('x'), { code: 'EACCES' })), 'permission denied (EACCES)');
  });
});
