import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseClientConfig } from '../src/config/client-config.js';
import { parseServerConfig } from '../src/config/server-config.js';
import { BIN, freePort, runCli, runProcess, spawnServe, type Served } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';
import { atRoot } from './helpers/root.js';

const examples = `${atRoot('examples')}/`;

// Run in a directory of the test's own: the script writes its batch files where it runs.
const sh = (script: string, args: string[], env: Record<string, string>, cwd: string) => runProcess('sh', [script, ...args], { env, cwd });

describe('examples/', () => {
  test('the example configs are valid as shipped, and the client config is the server\'s ci-runner', async () => {
    const server = parseServerConfig(JSON.parse(await readFile(join(examples, 'server.json'), 'utf8')), 'examples/server.json');
    const client = parseClientConfig(JSON.parse(await readFile(join(examples, 'client.json'), 'utf8')), 'examples/client.json');
    assert.deepEqual(Object.keys(server.clients).sort(), ['123', 'ci-runner']);
    assert.deepEqual(server.modules, [{ path: 'modules/textutil.ts' }]);
    const registered = server.clients[client.client];
    assert.equal(client.server, registered?.server);
    assert.deepEqual(client.key, registered?.keys[0]);
    assert.equal(server.clients['123']?.keys[0]?.mode, 'CBC', 'the seed-format client');
  });

  describe('against the example server config', () => {
    let dir: { path: string; remove: () => Promise<void> };
    let served: Served;
    let env: Record<string, string>;
    before(async () => {
      dir = await tempDir();
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/`;
      // The example as shipped, moved to a free port, its module path made absolute (it imports
      // 'psimbols', which resolves from inside this package).
      const text = (await readFile(join(examples, 'server.json'), 'utf8')).replaceAll('http://127.0.0.1:9393/', url).replace('"port": 9393', `"port": ${port}`);
      // Keys are written 0600, as psimbols itself writes them (a 0644 file draws a warning).
      await writeFile(join(dir.path, 'server.json'), text.replace('"modules/textutil.ts"', JSON.stringify(join(examples, 'modules', 'textutil.ts'))), { mode: 0o600 });
      await writeFile(join(dir.path, 'client.json'), (await readFile(join(examples, 'client.json'), 'utf8')).replace('http://127.0.0.1:9393/', url), { mode: 0o600 });
      env = { PSIMBOLS_CONFIG_DIR: dir.path };
      served = await spawnServe([], env);
    });
    after(async () => {
      await served.stop();
      await dir.remove();
    });

    test('the CI script prints the value and branches on exit codes', async () => {
      const wrapper = join(dir.path, 'psimbols');
      await writeFile(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
      const ok = await sh(join(examples, 'ci-call.sh'), ['5'], { ...env, PSIMBOLS: wrapper }, dir.path);
      assert.deepEqual([ok.code, ok.stdout], [0, 'factorial(5) = 120\nprimes up to 5: 3 (exit 0)\n'], ok.stderr);
      const bad = await sh(join(examples, 'ci-call.sh'), ['-1'], { ...env, PSIMBOLS: wrapper }, dir.path);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /the server refused the input/);
      const downConfig = join(dir.path, 'down.json');
      const shipped = await readFile(join(examples, 'client.json'), 'utf8');
      await writeFile(downConfig, shipped.replace('http://127.0.0.1:9393/', `http://127.0.0.1:${await freePort()}/`), { mode: 0o600 });
      const down = await sh(join(examples, 'ci-call.sh'), ['5'], { ...env, PSIMBOLS: wrapper, PSIMBOLS_CLIENT_CONFIG: downConfig }, dir.path);
      assert.deepEqual([down.code, down.stderr.trim().split('\n').at(-1)], [0, 'server unreachable: skipping this step']);
    });

    test('the TypeScript example module answers, with its typed error', async () => {
      // Each assertion shows stderr: a failure says why (the first call once timed out on a loaded
      // machine while a cold worker loaded the module; the deadline now starts with the call).
      const reversed = await runCli(['call', 'textutil', 'reverse', 's=héllo'], { env });
      assert.equal(reversed.stdout, 'olléh\n', reversed.stderr);
      const slug = await runCli(['call', 'textutil', 'slug', 'title=Hello, World!'], { env });
      assert.equal(slug.stdout, 'hello-world\n', slug.stderr);
      const empty = await runCli(['call', 'textutil', 'slug', 'title=!!!'], { env });
      assert.deepEqual([empty.code, empty.stderr], [1, 'psimbols: textutil.slug: empty_slug: "!!!" has no ASCII letters or digits\n']);
    });

    test('the legacy client of the example works and is limited to factorial', async () => {
      const legacy = join(dir.path, 'legacy.json');
      const url = served.url;
      await writeFile(legacy, JSON.stringify({ client: '123', server: url, key: { type: 'AES', mode: 'CBC', data: '12345678901234567890123456789012' } }), { mode: 0o600 });
      assert.equal((await runCli(['call', 'supermath', 'factorial', 'n=3', '--client-config', legacy], { env })).stdout, '6\n');
      assert.equal((await runCli(['call', 'supermath', 'gcd', 'a=1', 'b=2', '--client-config', legacy], { env })).code, 1);
      assert.match(served.stderr(), /legacy client: AES-CBC without authentication/);
    });
  });
});
