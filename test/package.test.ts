import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runProcess } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';
import { ROOT } from './helpers/root.js';

// The published package: dist/ ships built (prepack), and its package.json carries no install
// script, so installing it runs none (npm 11 warns of any); a clone's npm ci still builds.


describe('the published package', () => {
  test('prepack hides prepare from the tarball\'s package.json, and postpack puts it back byte for byte', async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; files: string[] };
    assert.match(manifest.scripts.prepack ?? '', /npm run build && node scripts\/pack-manifest\.mjs disable/);
    assert.equal(manifest.scripts.postpack, 'node scripts/pack-manifest.mjs enable');
    assert.ok(manifest.files.includes('dist'));
    for (const hook of ['preinstall', 'install', 'postinstall']) assert.equal(manifest.scripts[hook], undefined, hook);
    const dir = await tempDir();
    try {
      const copy = join(dir.path, 'package.json');
      await copyFile(join(ROOT, 'package.json'), copy);
      const before = await readFile(copy, 'utf8');
      const script = join(ROOT, 'scripts', 'pack-manifest.mjs');
      assert.equal((await runProcess(process.execPath, [script, 'disable', copy])).code, 0);
      const packed = JSON.parse(await readFile(copy, 'utf8')) as { scripts: Record<string, string> };
      assert.equal(packed.scripts.prepare, undefined);
      assert.equal(packed.scripts._prepare, 'npm run build');
      assert.equal((await runProcess(process.execPath, [script, 'enable', copy])).code, 0);
      assert.equal(await readFile(copy, 'utf8'), before);
    } finally {
      await dir.remove();
    }
  });
});
