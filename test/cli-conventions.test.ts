import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Io } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';
import { loadServerConfig } from '../src/config/store.js';
import { answerPrompt, BIN, fakeTty, freePort, runBinary, runCli, runProcess, spawnServe, type Served, serveInProcess } from './helpers/cli.js';
import { fixture, LEGACY_KEY, tempDir } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

// What people used to httpie, gh and age expect of a command line, through the real binary.

describe('- means standard input or output', () => {
  test('keygen -o - and add-client -o - print; --key-file - and --legacy-key-file - read stdin', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const key = await runCli(['keygen', '-o', '-'], { cwd: dir.path });
      assert.match(key.stdout, /^[A-Za-z0-9_-]{43}\n$/);
      const added = await runCli(['add-client', 'k', '--key-file', '-', '-o', '-'], { env, input: key.stdout, cwd: dir.path });
      assert.equal(added.code, 0, added.stderr);
      assert.equal((JSON.parse(added.stdout) as { key: { data: string } }).key.data, key.stdout.trim());
      const seed = await runCli(['add-client', 'seed', '--legacy-key-file', '-'], { env, input: `${LEGACY_KEY}\n` });
      assert.equal(seed.code, 0, seed.stderr);
      assert.deepEqual((JSON.parse(seed.stdout) as { key: unknown }).key, { type: 'AES', mode: 'CBC', data: LEGACY_KEY });
      assert.ok(!(await readdir(dir.path)).includes('-'), 'no file named -');
      const twice = await runCli(['add-client', 'x', '--key-file', '-', '--legacy-key-file', '-'], { env });
      assert.equal(twice.code, 2);
    } finally {
      await dir.remove();
    }
  });
});

describe('call items and configs', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let env: Record<string, string>;
  let served: Pick<Served, 'stop' | 'stderr'>;
  before(async () => {
    dir = await tempDir();
    env = { PSIMBOLS_CONFIG_DIR: dir.path };
    const port = await freePort();
    // The first run (the real binary) writes the configs; the server then runs here, with a module.
    const first = await spawnServe(['--port', String(port)], env);
    await first.stop();
    const path = join(dir.path, 'server.json');
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...config, modules: [{ path: fixture('misbehaving.mjs') }] }), { mode: 0o600 });
    served = await serveInProcess(env, port);
  });
  after(async () => {
    await served.stop();
    await dir.remove();
  });

  test('n=@- reads the value from stdin; --params @FILE reads the object from a file', async () => {
    const r = await runCli(['call', 'supermath', 'factorial', 'n=@-'], { env, input: '5\n' });
    assert.deepEqual([r.code, r.stdout], [0, '120\n'], r.stderr);
    const file = join(dir.path, 'p.json');
    await writeFile(file, '{"n": 4}');
    const p = await runCli(['call', 'supermath', 'factorial', '--params', `@${file}`], { env });
    assert.deepEqual([p.code, p.stdout], [0, '24\n'], p.stderr);
  });

  test('a key given twice is refused; a number sent where a string is wanted gets a hint', async () => {
    const twice = await runCli(['call', 'supermath', 'factorial', 'n=3', 'n=4'], { env });
    assert.deepEqual([twice.code, twice.stderr], [2, 'psimbols: bad item "n=4": n is given twice\n']);
    const hint = await runCli(['call', 'bad', 'echo', 's=123'], { env });
    assert.equal(hint.code, 1);
    assert.match(hint.stderr, /invalid_params: s: .*expected string.* \(to send 123 as a string, write s:='"123"'\)\n$/);
    assert.deepEqual((await runCli(['call', 'bad', 'echo', `s:="123"`], { env })).stdout, '123\n');
  });

  test('integers too large for a double keep every digit; as raw JSON they are refused with the way that keeps them', async () => {
    // 2^61 - 1, a Mersenne prime, and 2^53 + 1, divisible by 3.
    assert.deepEqual((await runCli(['call', 'supermath', 'is_prime', 'n=2305843009213693951'], { env })).stdout, 'true\n');
    assert.deepEqual((await runCli(['call', 'supermath', 'is_prime', 'n=9007199254740993'], { env })).stdout, 'false\n');
    const raw = await runCli(['call', 'supermath', 'is_prime', 'n:=9007199254740993'], { env });
    assert.deepEqual([raw.code, raw.stderr], [2, 'psimbols: bad item "n:=9007199254740993": a number this large loses digits as JSON: send it as a string of digits, as key=DIGITS does\n']);
  });

  test('a seed client config with its "comment" field works unchanged', async () => {
    const local = JSON.parse(await readFile(join(dir.path, 'client.json'), 'utf8')) as Record<string, unknown>;
    const seed = join(dir.path, 'seed.json');
    await writeFile(seed, JSON.stringify({ comment: 'handed over by the ops team', ...local }), { mode: 0o600 });
    const r = await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', seed], { env });
    assert.deepEqual([r.code, r.stdout], [0, '6\n'], r.stderr);
  });

  test('the JSON access log gives latencies to the hundredth of a millisecond', async () => {
    assert.equal((await runCli(['call', 'supermath', 'factorial', 'n=3'], { env })).code, 0);
    assert.equal(await eventually(async () => /"status":200/.test(served.stderr())), true);
    const ms = [...served.stderr().matchAll(/"ms":([\d.]+)/g)].map((m) => m[1] ?? '');
    assert.ok(ms.length > 0 && ms.every((v) => /^\d+(\.\d{1,2})?$/.test(v)), ms.join(' '));
  });
});

describe('serving on every address', () => {
  test('serve --host 0.0.0.0 warns that clients are told a loopback URL; so does add-client', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const served = await spawnServe(['--host', '0.0.0.0', '--port', String(await freePort())], env);
      try {
        assert.match(served.stderr(), /listening on every address, but add-client tells new clients http:\/\/127\.0\.0\.1:\d+\/, which only this machine reaches: set \\"server\\" in the config/);
      } finally {
        await served.stop();
      }
      const path = join(dir.path, 'server.json');
      const config = JSON.parse(await readFile(path, 'utf8')) as { listen: Record<string, unknown> };
      await writeFile(path, JSON.stringify({ ...config, listen: { ...config.listen, host: '0.0.0.0' } }), { mode: 0o600 });
      const added = await runCli(['add-client', 'remote'], { env });
      assert.equal(added.code, 0);
      assert.match(added.stderr, /warning: the server listens on every address, but this client was told http:\/\/127\.0\.0\.1:\d+\/.*pass --server URL/);
      assert.doesNotMatch((await runCli(['add-client', 'remote2', '--server', 'https://psimbols.example.com/'], { env })).stderr, /warning/);
    } finally {
      await dir.remove();
    }
  });
});

describe('remove-client asks first at a terminal', () => {
  const removeAt = async (dir: string, answer: string, args: string[] = []): Promise<number> => {
    const stdin = fakeTty();
    const stderr = fakeTty();
    answerPrompt(stdin, stderr, 'Remove client', answer);
    const io: Io = { env: { PSIMBOLS_CONFIG_DIR: dir }, stdin, stdout: new PassThrough(), stderr };
    return main(['remove-client', 'gone', ...args], io);
  };

  test('no keeps the client; yes removes it; --yes does not ask', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      assert.equal((await runCli(['add-client', 'gone'], { env })).code, 0);
      const clients = async () => Object.keys((await loadServerConfig(join(dir.path, 'server.json'))).clients);
      assert.equal(await removeAt(dir.path, 'n'), 2);
      assert.ok((await clients()).includes('gone'), 'kept');
      assert.equal(await removeAt(dir.path, 'y'), 0);
      assert.ok(!(await clients()).includes('gone'));
      assert.equal((await runCli(['add-client', 'gone'], { env })).code, 0);
      assert.equal(await removeAt(dir.path, 'unused', ['--yes']), 0);
      assert.ok(!(await clients()).includes('gone'));
    } finally {
      await dir.remove();
    }
  });
});

describe('one style of error', () => {
  test('commander\'s errors start with "psimbols:" as psimbols\' own do', async () => {
    const r = await runCli(['bench', '--connections', 'many']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^psimbols: option '-c, --connections <n>' argument 'many' is invalid/);
  });
});

describe('shell completion and help topics', () => {
  test('the bash script, sourced in a real bash, completes commands, flags and client ids', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      for (const id of ['ci-runner', 'deploy']) assert.equal((await runCli(['add-client', id], { env })).code, 0);
      // `psimbols` on the PATH, as an installed one would be.
      const bin = join(dir.path, 'bin');
      await mkdir(bin);
      await writeFile(join(bin, 'psimbols'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
      const complete = (words: string[]) => `COMP_WORDS=(${words.map((w) => `"${w}"`).join(' ')}); COMP_CWORD=${words.length - 1}; _psimbols; echo "\${COMPREPLY[*]}"`;
      const script = ['eval "$(psimbols completion bash)"', complete(['psimbols', 'rot']), complete(['psimbols', 'remove-client', '']), complete(['psimbols', 'call', '--ret']), complete(['psimbols', 'bench', '--conn'])].join('\n');
      const r = await runProcess('bash', ['--norc', '--noprofile', '-c', script], { env: { ...env, PATH: `${bin}:${process.env.PATH ?? ''}` } });
      assert.equal(r.stderr, '');
      assert.deepEqual(r.stdout.trim().split('\n'), ['rotate-key', 'local ci-runner deploy', '--retry', '--connections']);
      for (const shell of ['zsh', 'fish']) assert.equal((await runCli(['completion', shell])).code, 0);
      assert.equal((await runCli(['completion', 'tcsh'])).code, 2);

      // Values of flags and arguments; the ids of the config the command line names.
      const other = join(dir.path, 'other');
      assert.equal((await runCli(['add-client', 'elsewhere'], { env: { PSIMBOLS_CONFIG_DIR: other } })).code, 0);
      const values = ['eval "$(psimbols completion bash)"', complete(['psimbols', 'serve', '--log-format', '']), complete(['psimbols', 'completion', '']), complete(['psimbols', 'help', 'env']), complete(['psimbols', 'remove-client', '--config-dir', other, ''])].join('\n');
      const v = await runProcess('bash', ['--norc', '--noprofile', '-c', values], { env: { ...env, PATH: `${bin}:${process.env.PATH ?? ''}` } });
      assert.deepEqual(v.stdout.trim().split('\n'), ['text json journal', 'bash zsh fish', 'environment', 'local elsewhere']);

      // With no psimbols on PATH (npx), the script runs the psimbols that printed it.
      const printed = await runBinary(['completion', 'bash'], { env });
      const npx = [printed.stdout, complete(['psimbols', 'rotate-key', ''])].join('\n');
      const n = await runProcess('bash', ['--norc', '--noprofile', '-c', npx], { env: { ...env, PATH: '/usr/bin:/bin' } });
      assert.equal(n.stdout.trim(), 'local ci-runner deploy', n.stderr);
    } finally {
      await dir.remove();
    }
  });

  test('psimbols help environment lists every variable it reads', async () => {
    const r = await runCli(['help', 'environment']);
    assert.equal(r.code, 0);
    for (const name of ['PSIMBOLS_CONFIG_DIR', 'XDG_CONFIG_HOME', 'PSIMBOLS_SERVER_CONFIG', 'PSIMBOLS_CLIENT_CONFIG', 'NO_COLOR', 'FORCE_COLOR', 'CI', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'LISTEN_FDS', 'JOURNAL_STREAM']) assert.match(r.stdout, new RegExp(name));
  });
});

describe('--json for people and for programs', () => {
  test('indented and coloured on a terminal, one compact line when piped', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      assert.equal((await runCli(['add-client', 'a'], { env })).code, 0);
      const piped = await runCli(['list-clients', '--json'], { env });
      assert.equal(piped.stdout.trim().split('\n').length, 1);
      const stdout = fakeTty();
      let shown = '';
      stdout.on('data', (d) => (shown += String(d)));
      const io: Io = { env, stdin: fakeTty(), stdout, stderr: fakeTty() };
      assert.equal(await main(['list-clients', '--json'], io), 0);
      assert.match(shown, /^\[\n  \{\n/);
      assert.match(shown, /\u001b\[36m"client"\u001b\[39m: \u001b\[32m"a"\u001b\[39m/);
      shown = '';
      assert.equal(await main(['--no-color', 'list-clients', '--json'], io), 0);
      assert.doesNotMatch(shown, /\u001b\[/);
      // Warnings are yellow on a terminal too.
      await chmod(join(dir.path, 'server.json'), 0o644);
      const stderr = fakeTty();
      let warned = '';
      stderr.on('data', (d) => (warned += String(d)));
      assert.equal(await main(['list-clients'], { ...io, stderr }), 0);
      assert.match(warned, /^\u001b\[33mpsimbols: warning: .*server\.json holds keys/);
    } finally {
      await dir.remove();
    }
  });
});
