import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseClientConfig } from '../src/config/client-config.js';
import { addClient, clientConfigFor, finishRotation, removeClient, rotateKey } from '../src/config/edits.js';
import { clientConfigPath, configDir } from '../src/config/paths.js';
import { emptyServerConfig, parseServerConfig } from '../src/config/server-config.js';
import { loadServerConfig, updateServerConfig, writeFileAtomic } from '../src/config/store.js';
import { generateKeySpec } from '../src/protocol/keys.js';
import { acquireLock } from '../src/config/lock.js';
import { tempDir } from './helpers/server.js';
import { runCli } from './helpers/cli.js';

describe('config paths', () => {
  test('flag, then environment, then XDG, then ~/.config', () => {
    assert.equal(configDir({ PSIMBOLS_CONFIG_DIR: '/e' }, '/f'), '/f');
    assert.equal(configDir({ PSIMBOLS_CONFIG_DIR: '/e', XDG_CONFIG_HOME: '/x' }), '/e');
    assert.equal(configDir({ XDG_CONFIG_HOME: '/x', HOME: '/h' }), '/x/psimbols');
    assert.equal(configDir({ HOME: '/h' }), '/h/.config/psimbols');
    assert.equal(clientConfigPath({ PSIMBOLS_CLIENT_CONFIG: '/c.json' }, '/d'), '/c.json');
    assert.equal(clientConfigPath({}, '/d'), '/d/client.json');
  });
});

describe('config validation', () => {
  test('client config errors name the file and the field', () => {
    const good = { client: 'a', server: 'http://h:1/', key: generateKeySpec() };
    assert.deepEqual(parseClientConfig(good, 'c.json'), good);
    assert.throws(() => parseClientConfig({ ...good, client: 'a b' }, 'c.json'), { code: 'config_invalid', message: /^c\.json: client: / });
    assert.throws(() => parseClientConfig({ ...good, server: 'ftp://x' }, 'c.json'), { message: /^c\.json: server: / });
    assert.throws(() => parseClientConfig({ ...good, key: { ...good.key, data: 'short' } }, 'c.json'), { message: /^c\.json: key\.data: must be 32 bytes/ });
    assert.throws(() => parseClientConfig({ ...good, extra: 1 }, 'c.json'), { message: /^c\.json: extra: is not a known field/ });
    assert.throws(() => parseClientConfig([], 'c.json'), { message: /^c\.json: \(top level\)/ });
  });

  test('the seed client config with a CBC key is valid', () => {
    const seed = { client: '123', server: 'http://psimbols.example.com:9393/', key: { type: 'AES', mode: 'CBC', data: '12345678901234567890123456789012' } };
    assert.deepEqual(parseClientConfig(seed, 'seed.json'), seed);
  });

  test('server config errors name the file, the field and the rule', () => {
    assert.throws(() => parseServerConfig({ listen: { port: 70000 } }, 's.json'), { message: /^s\.json: listen\.port: / });
    assert.throws(() => parseServerConfig({ clients: { a: { keys: [{ type: 'AES', mode: 'GCM', encoding: 'base64url', data: 'x' }] } } }, 's.json'), {
      message: /^s\.json: clients\.a\.keys\[0\]\.data: must be 32 bytes/,
    });
    assert.throws(() => parseServerConfig({ limits: { pastSeconds: 7200 } }, 's.json'), { message: /^s\.json: limits\.pastSeconds: / });
    assert.throws(() => parseServerConfig({ limits: { headersTimeoutMs: 40_000 } }, 's.json'), { message: /^s\.json: limits\.headersTimeoutMs: must not be more than requestTimeoutMs/ });
    assert.throws(() => parseServerConfig({ lisen: {} }, 's.json'), { message: /^s\.json: \(top level\): unknown field "lisen"/ });
    assert.throws(() => parseServerConfig({ clients: { 'bad id': { keys: [generateKeySpec()] } } }, 's.json'), { message: /clients\.bad id: is not a valid client id/ });
    const cbc = { type: 'AES', mode: 'CBC', data: '1234567890123456' };
    assert.throws(() => parseServerConfig({ clients: { a: { keys: [cbc, generateKeySpec()] } } }, 's.json'), { message: /clients\.a\.keys: a legacy/ });
    assert.throws(() => parseServerConfig({ clients: { a: { keys: [generateKeySpec(), cbc, cbc] } } }, 's.json'), { message: /clients\.a\.keys: a legacy/ });
    assert.ok(parseServerConfig({ clients: { a: { keys: [generateKeySpec(), cbc] } } }, 's.json'), 'the old key of a rotation to ps2');
  });
});

describe('config edits', () => {
  test('add, refuse a duplicate without force, rotate, finish and remove', () => {
    const k1 = generateKeySpec();
    const k2 = generateKeySpec();
    let c = addClient(emptyServerConfig(), 'ci', { key: k1, requestsPerHour: 10, allow: ['supermath.*'] });
    assert.deepEqual(clientConfigFor(c, 'ci'), { client: 'ci', server: 'http://127.0.0.1:9393/', key: k1 });
    assert.throws(() => addClient(c, 'ci', { key: k2 }), { code: 'client_exists' });
    assert.throws(() => addClient(c, '-bad', { key: k2 }), { code: 'usage' });
    c = rotateKey(c, 'ci', k2);
    assert.deepEqual(c.clients.ci?.keys, [k2, k1]);
    c = finishRotation(c, 'ci');
    assert.deepEqual(c.clients.ci?.keys, [k2]);
    assert.deepEqual(rotateKey(c, 'ci', k1, true).clients.ci?.keys, [k1]);
    assert.deepEqual(Object.keys(removeClient(c, 'ci').clients), []);
    assert.throws(() => removeClient(c, 'nobody'), { code: 'client_not_found' });
  });
});

describe('config store', () => {
  test('writes atomically with mode 0600 and refuses to overwrite unless told to', async () => {
    const dir = await tempDir();
    try {
      await assert.rejects(writeFileAtomic(join(dir.path, 'sub', 'f.json'), 'one', false), { code: 'io', message: /the directory .*sub does not exist/ });
      assert.deepEqual(await readdir(dir.path), [], 'no directory is made for a file');
      const path = join(dir.path, 'f.json');
      await writeFileAtomic(path, 'one', false);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      await assert.rejects(writeFileAtomic(path, 'two', false), { code: 'file_exists' });
      assert.equal(await readFile(path, 'utf8'), 'one');
      await writeFileAtomic(path, 'two', true);
      assert.equal(await readFile(path, 'utf8'), 'two');
      assert.equal((await stat(path)).mode & 0o777, 0o600);
    } finally {
      await dir.remove();
    }
  });

  test('an invalid file is reported with file and field and never overwritten', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'server.json');
      const broken = '{"clients": {"a": {"keys": []}}}';
      await writeFile(path, broken);
      await assert.rejects(
        updateServerConfig(path, (c) => addClient(c, 'b', { key: generateKeySpec() }), emptyServerConfig),
        { code: 'config_invalid', message: `${path}: clients.a.keys: must hold at least one key` },
      );
      assert.equal(await readFile(path, 'utf8'), broken);
    } finally {
      await dir.remove();
    }
  });

  test('a stale lock left by a killed process is taken over', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'server.json');
      await writeFile(`${path}.lock`, '');
      const old = new Date(Date.now() - 60_000);
      await utimes(`${path}.lock`, old, old);
      await updateServerConfig(path, (c) => addClient(c, 'a', { key: generateKeySpec() }), emptyServerConfig);
      assert.deepEqual(Object.keys((await loadServerConfig(path)).clients), ['a']);
    } finally {
      await dir.remove();
    }
  });

  test('a waiter killed inside a takeover leaves its marker: the next one takes the marker over, then the lock', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'server.json');
      const [holder, waiter] = [await exitedPid(), await exitedPid()];
      await writeFile(`${path}.lock`, `${holder} aaaa`);
      await writeFile(`${path}.lock.takeover.aaaa`, `${waiter} bbbb`);
      // Before, every later writer looped on the marker at full CPU, for ever.
      let tries = 0;
      const triedTakeOver = async (): Promise<void> => {
        if (++tries > 10) throw new Error(`${tries} takeovers tried: spinning`);
      };
      const release = await acquireLock(path, { triedTakeOver });
      assert.ok(tries <= 3, `${tries} takeovers tried`);
      await release();
      assert.deepEqual(await readdir(dir.path), [], 'the lock, the marker and the marker\'s marker are gone');
    } finally {
      await dir.remove();
    }
  });

  test('a live process inside a takeover is waited for, not spun on', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'server.json');
      const marker = `${path}.lock.takeover.aaaa`;
      await writeFile(`${path}.lock`, `${await exitedPid()} aaaa`);
      await writeFile(marker, `${process.pid} bbbb`);
      const at: number[] = [];
      const release = await acquireLock(path, { triedTakeOver: async () => void (at.push(performance.now()) === 4 && (await unlink(marker))) });
      // The marker's owner finished at the fourth try; the fifth took the lock over. Before, the
      // four came back to back; paced as any wait for the lock, they are 5, 10 and 15 ms apart.
      assert.equal(at.length, 5);
      assert.ok(at[3]! - at[0]! >= 25, `four tries in ${(at[3]! - at[0]!).toFixed(1)} ms`);
      await release();
    } finally {
      await dir.remove();
    }
  });

  test('a waiter that judged a finished holder stale never removes the lock the next holder took meanwhile', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'server.json');
      const lock = `${path}.lock`;
      await writeFile(lock, `${await exitedPid()} finished-holder`);
      let next: (() => Promise<void>) | undefined;
      let waiterHolds = false;
      let tried!: () => void;
      const triedOnce = new Promise<void>((r) => (tried = r));
      const waiter = acquireLock(path, {
        // The interleaving that once gave two holders: after the waiter read a pid and found it
        // dead, that holder's lock went away normally and another process took the lock.
        judgedStale: async () => {
          if (next) return;
          await unlink(lock);
          next = await acquireLock(path);
        },
        triedTakeOver: async () => tried(),
      }).then((release) => {
        waiterHolds = true;
        return release;
      });
      await triedOnce;
      const held = await readFile(lock, 'utf8');
      assert.match(held, new RegExp(`^${process.pid} `), 'the next holder\'s lock is still there');
      assert.equal(waiterHolds, false, 'the waiter does not hold it too');
      await next!();
      const release = await waiter;
      assert.equal(waiterHolds, true);
      await release();
      assert.deepEqual(await readdir(dir.path), [], 'no lock, marker or candidate is left');
    } finally {
      await dir.remove();
    }
  });

  test('two waiters taking over the same stale lock at once: one holds it, then the other', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'server.json');
      await writeFile(`${path}.lock`, `${await exitedPid()} dead-holder`);
      let arrive!: () => void;
      let count = 0;
      const both = new Promise<void>((r) => (arrive = r));
      // Both judge the lock stale before either takes it over.
      const judgedStale = async () => {
        if (++count === 2) arrive();
        await both;
      };
      const holders: string[] = [];
      const take = (name: string) =>
        acquireLock(path, { judgedStale }).then(async (release) => {
          holders.push(`${name}+`);
          await new Promise((r) => setImmediate(r));
          holders.push(`${name}-`);
          await release();
        });
      await Promise.all([take('a'), take('b')]);
      assert.ok(['a+,a-,b+,b-', 'b+,b-,a+,a-'].includes(holders.join(',')), holders.join(','));
    } finally {
      await dir.remove();
    }
  });
});

/** The pid of a process that has exited. */
function exitedPid(): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('exit', () => resolve(child.pid!));
  });
}

describe('edits keep the file as it was written', () => {
  test('add-client and remove-client touch only the clients they name; fields never written stay absent', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'server.json');
      const old = { keys: [generateKeySpec()], requestsPerHour: 5 };
      await writeFile(path, JSON.stringify({ listen: { port: 9000 }, clients: { old } }, null, 2), { mode: 0o600 });
      assert.equal((await runCli(['add-client', 'bob', '-c', path, '-o', join(dir.path, 'bob.json')])).code, 0);
      const written = JSON.parse(await readFile(path, 'utf8')) as { listen: unknown; clients: Record<string, unknown> };
      assert.deepEqual(Object.keys(written), ['listen', 'clients'], 'no default filled in');
      assert.deepEqual(written.listen, { port: 9000 });
      assert.deepEqual(written.clients.old, old, 'the other client as written');
      assert.deepEqual(Object.keys(written.clients), ['old', 'bob']);
      assert.equal((await runCli(['remove-client', 'old', '--yes', '-c', path])).code, 0);
      assert.deepEqual(Object.keys(JSON.parse(await readFile(path, 'utf8')) as object), ['listen', 'clients']);
    } finally {
      await dir.remove();
    }
  });
});
