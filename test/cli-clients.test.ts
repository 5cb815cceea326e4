import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { main } from '../src/cli/main.js';
import type { Io } from '../src/cli/io.js';
import { loadServerConfig } from '../src/config/store.js';
import { answerPrompt, BIN, fakeTty, freePort, runCli, runProcess, spawnServe, type Served } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

describe('psimbols keygen', () => {
  test('prints a 32-byte base64url key on stdout and its key id on stderr', async () => {
    const r = await runCli(['keygen']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    assert.equal(Buffer.from(r.stdout.trim(), 'base64url').length, 32);
    assert.match(r.stderr, /^kid [0-9a-f]{16}\n$/);
  });

  test('-o writes the key with mode 0600 and refuses to overwrite without --force', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'k.key');
      const first = await runCli(['keygen', '-o', file]);
      assert.deepEqual([first.code, first.stdout], [0, '']);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const key = await readFile(file, 'utf8');
      const again = await runCli(['keygen', '-o', file]);
      assert.deepEqual([again.code, again.stderr], [2, `psimbols: ${file}: already exists (use --force to overwrite)\n`]);
      assert.equal(await readFile(file, 'utf8'), key);
      assert.equal((await runCli(['keygen', '-o', file, '--force'])).code, 0);
      assert.notEqual(await readFile(file, 'utf8'), key);
    } finally {
      await dir.remove();
    }
  });

  test('--id FILE prints the key id of a key that exists, as wg pubkey does; - reads stdin', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'k.key');
      const made = await runCli(['keygen', '-o', file]);
      const kid = made.stderr.replace(/^kid /, '');
      assert.deepEqual(await runCli(['keygen', '--id', file]), { code: 0, stdout: kid, stderr: '' });
      assert.equal((await runCli(['keygen', '--id', '-'], { input: await readFile(file, 'utf8') })).stdout, kid);
      await writeFile(join(dir.path, 'bad.key'), 'not a key\n');
      const bad = await runCli(['keygen', '--id', join(dir.path, 'bad.key')]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /not a key/);
    } finally {
      await dir.remove();
    }
  });
});

describe('client management against a running server', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let env: Record<string, string>;
  let served: Served;
  let base: string;
  before(async () => {
    dir = await tempDir();
    env = { PSIMBOLS_CONFIG_DIR: dir.path };
    const port = await freePort();
    base = `http://127.0.0.1:${port}/`;
    served = await spawnServe(['--port', String(port)], env);
  });
  after(async () => {
    await served.stop();
    await dir.remove();
  });
  const call = (configFile: string) => runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', configFile], { env });

  test('add-client prints a seed-format config that works at once, without a restart', async () => {
    const r = await runCli(['add-client', 'ci-runner', '--requests-per-hour', '50'], { env });
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(r.stdout) as { client: string; server: string; key: { mode: string } };
    assert.equal(config.client, 'ci-runner');
    assert.equal(config.server, base);
    assert.equal(config.key.mode, 'GCM');
    const file = join(dir.path, 'ci.json');
    await writeFile(file, r.stdout);
    assert.equal(await eventually(async () => (await call(file)).stdout === '6\n'), true);
  });

  test('add-client refuses an existing id without --force and validates ids', async () => {
    const dup = await runCli(['add-client', 'local'], { env });
    assert.deepEqual([dup.code, dup.stderr], [2, 'psimbols: client "local" already exists (use --force to replace it)\n']);
    assert.equal((await runCli(['add-client', 'bad id'], { env })).code, 2);
  });

  test('add-client -o writes 0600; --key-file uses a keygen key; --allow restricts', async () => {
    const keyFile = join(dir.path, 'k.key');
    await runCli(['keygen', '-o', keyFile], { env });
    const out = join(dir.path, 'restricted.json');
    const r = await runCli(['add-client', 'restricted', '--key-file', keyFile, '--allow', 'supermath.gcd', '-o', out], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    const written = JSON.parse(await readFile(out, 'utf8')) as { key: { data: string } };
    assert.equal(written.key.data, (await readFile(keyFile, 'utf8')).trim());
    assert.equal(await eventually(async () => (await call(out)).code === 1), true);
    const gcd = await runCli(['call', 'supermath', 'gcd', 'a=4', 'b=6', '--client-config', out], { env });
    assert.equal(gcd.stdout, '2\n');
    const fns = await runCli(['functions', '--client-config', out], { env });
    assert.equal(fns.stdout, 'supermath.gcd a b  - greatest common divisor of two safe integers\n');
  });

  test('a legacy client is warned about and works in the seed format', async () => {
    const out = join(dir.path, 'legacy.json');
    const r = await runCli(['add-client', 'seed', '--legacy-key', '12345678901234567890123456789012', '-o', out], { env });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /warning: a legacy client uses AES-CBC without authentication/);
    assert.deepEqual(JSON.parse(await readFile(out, 'utf8')).key, { type: 'AES', mode: 'CBC', data: '12345678901234567890123456789012' });
    assert.equal(await eventually(async () => (await call(out)).stdout === '6\n'), true);
  });

  test('rotate-key on a legacy client keeps its CBC key accepted until --finish', async () => {
    const oldFile = join(dir.path, 'seed2-old.json');
    const newFile = join(dir.path, 'seed2-new.json');
    assert.equal((await runCli(['add-client', 'seed2', '--legacy-key', '12345678901234567890123456789012', '-o', oldFile], { env })).code, 0);
    assert.equal(await eventually(async () => (await call(oldFile)).code === 0), true);
    const rotated = await runCli(['rotate-key', 'seed2', '-o', newFile], { env });
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stderr, /the old one, its legacy CBC key, stays accepted until "psimbols rotate-key seed2 --finish"/);
    assert.equal((JSON.parse(await readFile(newFile, 'utf8')) as { key: { mode: string } }).key.mode, 'GCM');
    assert.equal(await eventually(async () => (await call(newFile)).code === 0), true);
    assert.equal((await call(oldFile)).code, 0, 'the seed-format client still works');
    assert.equal((await runCli(['rotate-key', 'seed2', '--finish'], { env })).code, 0);
    assert.equal(await eventually(async () => (await call(oldFile)).code === 4), true);
    assert.equal((await call(newFile)).code, 0);
  });

  test('list-clients shows key ids, never keys', async () => {
    const r = await runCli(['list-clients', '--json'], { env });
    const rows = JSON.parse(r.stdout) as { client: string; kids: string[] }[];
    assert.ok(rows.some((row) => row.client === 'local'));
    const secret = (JSON.parse(await readFile(join(dir.path, 'client.json'), 'utf8')) as { key: { data: string } }).key.data;
    const text = await runCli(['list-clients'], { env });
    assert.match(text.stdout, /^CLIENT\s+MODE\s+KEYS/);
    assert.ok(!text.stdout.includes(secret) && !r.stdout.includes(secret));
  });

  test('rotate-key keeps the old key accepted until --finish', async () => {
    const oldFile = join(dir.path, 'rot-old.json');
    const newFile = join(dir.path, 'rot-new.json');
    await runCli(['add-client', 'rot', '-o', oldFile], { env });
    assert.equal(await eventually(async () => (await call(oldFile)).code === 0), true);
    const rotated = await runCli(['rotate-key', 'rot', '-o', newFile], { env });
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stderr, /the old one stays accepted until "psimbols rotate-key rot --finish"/);
    assert.equal(await eventually(async () => (await call(newFile)).code === 0), true);
    assert.equal((await call(oldFile)).code, 0);
    assert.equal((await runCli(['rotate-key', 'rot', '--finish'], { env })).code, 0);
    assert.equal(await eventually(async () => (await call(oldFile)).code === 4), true);
    assert.equal((await call(newFile)).code, 0);
  });

  test('remove-client stops a client at once', async () => {
    const file = join(dir.path, 'gone.json');
    await runCli(['add-client', 'gone', '-o', file], { env });
    assert.equal(await eventually(async () => (await call(file)).code === 0), true);
    const asked = await runCli(['remove-client', 'gone'], { env });
    assert.deepEqual([asked.code, asked.stderr], [2, 'psimbols: removing client "gone" needs --yes when nobody is at a terminal to confirm: psimbols remove-client gone --yes\n'], 'without a terminal, --yes says it, as gh does');
    assert.equal((await call(file)).code, 0, 'kept');
    const r = await runCli(['remove-client', 'gone', '--yes'], { env });
    assert.equal(r.code, 0);
    assert.equal(await eventually(async () => (await call(file)).code === 4), true);
    const again = await runCli(['remove-client', 'gone', '--yes'], { env });
    assert.deepEqual([again.code, again.stderr], [2, 'psimbols: no client "gone" in the server config\n']);
  });

  test('without a TTY a missing id fails with a message naming it, never a prompt', async () => {
    for (const env2 of [env, { ...env, CI: '1' }]) {
      const r = await runCli(['add-client'], { env: env2 });
      assert.deepEqual([r.code, r.stdout], [2, '']);
      assert.equal(r.stderr, 'psimbols: missing argument <id> (no prompt without a terminal, with --no-input, or in CI)\n');
    }
  });
});

describe('client ids that are also names every JavaScript object has', () => {
  test('add-client, list-clients, rotate-key and remove-client work for each, and remove-client refuses one never added', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const ids = ['constructor', 'toString', 'valueOf', 'hasOwnProperty'];
      assert.equal((await runCli(['add-client', 'plain'], { env })).code, 0);
      for (const id of ids) {
        const never = await runCli(['remove-client', id, '--yes'], { env });
        assert.deepEqual([never.code, never.stderr], [2, `psimbols: no client "${id}" in the server config\n`], `${id} was never there`);
        const added = await runCli(['add-client', id], { env });
        assert.equal(added.code, 0, added.stderr);
        assert.equal((JSON.parse(added.stdout) as { client: string }).client, id);
      }
      const listed = await runCli(['list-clients', '--json'], { env });
      assert.deepEqual((JSON.parse(listed.stdout) as { client: string }[]).map((r) => r.client), ['local', 'plain', ...ids]);
      for (const id of ids) {
        const rotated = await runCli(['rotate-key', id, '-o', join(dir.path, `${id}.json`)], { env });
        assert.equal(rotated.code, 0, rotated.stderr);
        assert.equal((await runCli(['rotate-key', id, '--finish'], { env })).code, 0);
        assert.equal((await runCli(['add-client', id], { env })).code, 2, 'already exists');
        assert.equal((await runCli(['remove-client', id, '--yes'], { env })).code, 0);
      }
      assert.deepEqual(Object.keys((await loadServerConfig(join(dir.path, 'server.json'))).clients), ['local', 'plain']);
    } finally {
      await dir.remove();
    }
  });
});

describe('key files others can read', () => {
  test('a 0644 server.json or client.json is used, with one warning naming the file and the chmod that fixes it', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const client = join(dir.path, 'open.json');
      assert.equal((await runCli(['add-client', 'open', '-o', client], { env })).code, 0);
      const server = join(dir.path, 'server.json');
      await chmod(server, 0o644);
      await chmod(client, 0o644);
      const listed = await runCli(['list-clients'], { env });
      assert.equal(listed.code, 0);
      assert.equal(listed.stderr, `psimbols: warning: ${server} holds keys and can be read by other users (mode 0644): run "chmod 600 ${server}"\n`);
      const sealed = await runCli(['call', 'supermath', 'factorial', 'n=3', '--offline', '--client-config', client], { env });
      assert.equal(sealed.code, 0);
      assert.match(sealed.stderr, new RegExp(`^psimbols: warning: ${client} holds keys .* run "chmod 600 ${client}"\n$`));
      await chmod(client, 0o600);
      assert.equal((await runCli(['call', 'supermath', 'factorial', 'n=3', '--offline', '--client-config', client], { env })).stderr, '');
    } finally {
      await dir.remove();
    }
  });
});

describe('prompts', () => {
  test('a person at a terminal is asked for a missing client id; stdout keeps only the config', async () => {
    const dir = await tempDir();
    try {
      const stdin = fakeTty();
      const stderr = fakeTty();
      const stdout = new PassThrough();
      let printed = '';
      answerPrompt(stdin, stderr, 'Client id', 'carol');
      stdout.on('data', (d) => (printed += d.toString()));
      const io: Io = { env: { PSIMBOLS_CONFIG_DIR: dir.path }, stdin, stdout, stderr };
      const code = await main(['add-client'], io);
      assert.equal(code, 0);
      assert.equal((JSON.parse(printed) as { client: string }).client, 'carol');
      assert.deepEqual(Object.keys((await loadServerConfig(join(dir.path, 'server.json'))).clients), ['local', 'carol'], 'the first run made local too');
    } finally {
      await dir.remove();
    }
  });

  test('--no-input fails instead of asking, even at a terminal', async () => {
    const dir = await tempDir();
    try {
      let text = '';
      const stderr = fakeTty();
      stderr.on('data', (d) => (text += d.toString()));
      const io: Io = { env: { PSIMBOLS_CONFIG_DIR: dir.path }, stdin: fakeTty(), stdout: new PassThrough(), stderr };
      assert.equal(await main(['--no-input', 'add-client'], io), 2);
      assert.match(text, /missing argument <id>/);
    } finally {
      await dir.remove();
    }
  });
});

describe('psimbols serve as a process', () => {
  test('SIGHUP reloads the clients without a file watch; SIGTERM stops it with exit 0', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const port = await freePort();
      const served = await spawnServe(['--port', String(port), '--no-watch'], env);
      const file = join(dir.path, 'late.json');
      assert.equal((await runCli(['add-client', 'late', '-o', file], { env })).code, 0);
      // Not watched: the process holds no inotify instance (a watch would be one), so the change
      // cannot be seen; no time to wait out.
      const fds = await readdir(`/proc/${served.child.pid}/fd`);
      const links = await Promise.all(fds.map((fd) => readlink(`/proc/${served.child.pid}/fd/${fd}`).catch(() => '')));
      assert.equal(links.filter((l) => l.includes('inotify')).length, 0, links.join(' '));
      assert.equal((await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', file], { env })).code, 4, 'not watched: not yet known');
      served.child.kill('SIGHUP');
      assert.equal(await eventually(async () => (await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', file], { env })).code === 0), true);
      assert.equal(await served.stop('SIGTERM'), 0);
      assert.match(served.stderr(), /"msg":"stopped"/);
    } finally {
      await dir.remove();
    }
  });
});

// The process boundary is the subject: stdout is a device that refuses every byte.
describe('add-client is all or nothing, stdout included', () => {
  test('> /dev/full: exit 2, and neither the client nor a first run is left behind', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const full = await runProcess('sh', ['-c', `"${process.execPath}" "${BIN}" add-client bob > /dev/full`], { env });
      assert.equal(full.code, 2, full.stderr);
      assert.match(full.stderr, /cannot write the client config to stdout \(ENOSPC\), so the change is undone/);
      assert.deepEqual(await readdir(dir.path), [], 'no half-made first run');
      assert.equal((await runCli(['add-client', 'carol', '-o', join(dir.path, 'carol.json')], { env })).code, 0);
      assert.equal((await runProcess('sh', ['-c', `"${process.execPath}" "${BIN}" add-client bob > /dev/full`], { env })).code, 2);
      const config = await loadServerConfig(join(dir.path, 'server.json'));
      assert.deepEqual(Object.keys(config.clients).sort(), ['carol', 'local']);
      const again = await runCli(['add-client', 'bob'], { env });
      assert.equal(again.code, 0, again.stderr);
    } finally {
      await dir.remove();
    }
  });

  test('-o naming a dangling symbolic link: refused before anything is written', async () => {
    const dir = await tempDir();
    try {
      const link = join(dir.path, 'out', 'link.json');
      await mkdir(join(dir.path, 'out'));
      await symlink(join(dir.path, 'nowhere', 'x.json'), link);
      const configDir = join(dir.path, 'config');
      const r = await runCli(['add-client', 'dan', '-o', link], { env: { PSIMBOLS_CONFIG_DIR: configDir } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /already exists \(use --force to overwrite\)/);
      assert.deepEqual(await readdir(configDir).catch(() => []), []);
    } finally {
      await dir.remove();
    }
  });
});
