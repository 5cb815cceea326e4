import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadServerConfig } from '../src/config/store.js';
import { BIN, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';

// The config file under concurrent writers, killed writers and hand edits, through the real binary.

describe('config file safety', () => {
  test('20 concurrent add-client processes leave a valid 0600 file with all 20 clients', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => runCli(['add-client', `c${i}`], { env })));
      assert.deepEqual(results.map((r) => r.code), Array(20).fill(0), results.map((r) => r.stderr).join(''));
      const path = join(dir.path, 'server.json');
      const config = await loadServerConfig(path);
      // The first of them made the first run's `local` client too, and its client.json.
      assert.deepEqual(Object.keys(config.clients).sort(), [...Array.from({ length: 20 }, (_, i) => `c${i}`), 'local'].sort());
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.deepEqual((await readdir(dir.path)).sort(), ['client.json', 'server.json']);
    } finally {
      await dir.remove();
    }
  });

  test('writers killed at every moment of their write never leave a broken file, and the next writer is not blocked', async (ctx) => {
    const dir = await tempDir();
    try {
      const env = { PATH: process.env.PATH ?? '', PSIMBOLS_CONFIG_DIR: dir.path };
      const path = join(dir.path, 'server.json');
      assert.equal((await runCli(['add-client', 'first'], { env })).code, 0);
      // Killed a set time after the writer's first file appears (its lock or its temporary file):
      // a kill at a time from its start lands in Node's start-up, long before any write (30 such
      // kills at 40 to 100 ms landed 0 edits).
      const delays = [0, 1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 30];
      let seenWriting = 0;
      for (const [round, ms] of delays.entries()) {
        const child = spawn(process.execPath, [BIN, 'add-client', `k${round}`], { env, stdio: 'ignore' });
        const exited = new Promise((r) => child.once('exit', r));
        const writing = new Promise<boolean>((resolve) => {
          const watcher = watch(dir.path, (_event, name) => {
            if (name === null || !/\.(lock|tmp)/.test(name)) return;
            watcher.close();
            resolve(true);
          });
          void exited.then(() => (watcher.close(), resolve(false)));
        });
        if (await writing) seenWriting++;
        await sleep(ms);
        child.kill('SIGKILL');
        await exited;
        const config = await loadServerConfig(path);
        assert.ok(config.clients.first, `round ${round}: the old content is there`);
      }
      assert.ok(seenWriting > 0, 'no writer was seen writing');
      const landed = Object.keys((await loadServerConfig(path)).clients).filter((id) => id.startsWith('k')).length;
      const leftovers = (await readdir(dir.path)).filter((f) => f !== 'server.json');
      ctx.diagnostic(`${landed} of ${delays.length} killed writers had landed their edit (${seenWriting} were seen writing); left behind: ${leftovers.join(', ') || 'nothing'}`);
      // A killed writer may leave its lock behind: the next one takes it over at once.
      const start = performance.now();
      const next = await runCli(['add-client', 'after'], { env });
      assert.equal(next.code, 0, next.stderr);
      assert.ok(performance.now() - start < 5000, 'not blocked by a dead process\'s lock');
      assert.ok((await loadServerConfig(path)).clients.after);
      assert.deepEqual((await readdir(dir.path)).sort(), ['client.json', 'server.json'], 'orphaned temporary files and locks are cleaned up');
    } finally {
      await dir.remove();
    }
  });

  test('a hand-broken server config is reported with file and field, and never overwritten', async () => {
    const dir = await tempDir();
    try {
      const env = { PSIMBOLS_CONFIG_DIR: dir.path };
      const path = join(dir.path, 'server.json');
      const broken = '{"clients": {"a": {"keys": [{"type": "AES", "mode": "GCM", "encoding": "base64url", "data": "short"}]}}}\n';
      await writeFile(path, broken, { mode: 0o600 });
      for (const args of [['add-client', 'b'], ['remove-client', 'a', '--yes'], ['rotate-key', 'a'], ['list-clients'], ['serve', '--port', '0']]) {
        const r = await runCli(args, { env });
        assert.equal(r.code, 2, args.join(' '));
        assert.match(r.stderr, new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: clients\\.a\\.keys\\[0\\]\\.data: must be 32 bytes`), args.join(' '));
      }
      assert.equal(await readFile(path, 'utf8'), broken);
    } finally {
      await dir.remove();
    }
  });
});
