// npm run bench:call: `psimbols call` start-up as a whole process, with hyperfine -N, against
// its floor `node -e "import('ky')"` (ky is a fixed choice, and every call loads it) and
// `node -e 0`, in the same hyperfine run, through the launcher that npm links (bin/psimbols.js),
// against a local server. Prints each median and call / import('ky') (target <= 1.15).
// Options: --runs N (40).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, freePort } from '../scripts/lib.mjs';

const RUNS = Number(arg('runs', 40));
const BIN = fileURLToPath(new URL('../bin/psimbols.js', import.meta.url));
if (spawnSync('hyperfine', ['--version']).status !== 0) {
  console.error('hyperfine not found: install it with "apt-get install -y hyperfine"');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'psimbols-bench-call-'));
const env = { ...process.env, PSIMBOLS_CONFIG_DIR: dir };
const port = await freePort();
const serve = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--log-format', 'json'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
try {
  // The first run writes the "local" client config that `call` uses.
  await new Promise((resolve, reject) => {
    let log = '';
    serve.stderr.on('data', (d) => ((log += d), log.includes('listening on') && resolve()));
    serve.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${log}`)));
  });
  const json = join(dir, 'hyperfine.json');
  const commands = ['node -e 0', `node -e "import('ky')"`, `node ${BIN} call supermath factorial n=3`];
  const r = spawnSync('hyperfine', ['-N', '--warmup', '5', '--runs', String(RUNS), '--export-json', json, ...commands], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const [empty, ky, call] = JSON.parse(readFileSync(json, 'utf8')).results.map((x) => x.median * 1000);
  console.log(`node -e 0               ${empty.toFixed(1)} ms`);
  console.log(`node -e "import('ky')"  ${ky.toFixed(1)} ms`);
  console.log(`psimbols call n=3       ${call.toFixed(1)} ms`);
  console.log(`call / import('ky')     ${(call / ky).toFixed(3)} (target <= 1.15); call / node -e 0 ${(call / empty).toFixed(2)}`);
} finally {
  serve.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
