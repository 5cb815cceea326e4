// The V8 code cache of `call`'s bundle (dist/cli-call/main.cjs.cache), made at build time: the
// launcher compiles the bundle with it, which cut loading the bundle from about 12 ms to 3. It is
// made after a representative call has run (`call --offline`, which seals a request and prints
// it), so the functions a call compiles lazily are in it too. V8 checks the cache against the
// source and its own version: under another Node it is refused and the bundle compiles as usual.
'use strict';
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { compileBundle } = require('../bin/load-call.cjs');

const dir = mkdtempSync(join(tmpdir(), 'psimbols-call-cache-'));
const key = { type: 'AES', mode: 'GCM', encoding: 'base64url', data: 'A'.repeat(43) };
writeFileSync(join(dir, 'client.json'), JSON.stringify({ client: 'cache', server: 'http://127.0.0.1:9/', key }), { mode: 0o600 });
const { script, exports: bundle } = compileBundle(undefined);
process.argv = [process.argv[0], 'psimbols', 'call', 'supermath', 'factorial', 'n=3', '--offline', '--client-config', join(dir, 'client.json')];
process.stdout.write = () => true;
bundle.run('call');
process.on('exit', () => {
  writeFileSync(join(__dirname, '../dist/cli-call/main.cjs.cache'), script.createCachedData());
  rmSync(dir, { recursive: true, force: true });
});
