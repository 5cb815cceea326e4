// npm run bench:call: `psimbols call` start-up as a whole process, with hyperfine -N, against
// its floor `node -e "import('ky')"` (ky is a fixed choice, and every call loads it) and
// `node -e 0`, in the same hyperfine run, through the launcher that npm links (bin/psimbols.js),
// against a local server. Prints each median and call / import('ky') (target <= 1.15).
// Without NODE_EXTRA_CA_CERTS, which some machines set (this project's does) and users rarely
// do: on Node 20 it makes every process parse a CA bundle at start, a fixed cost that dilutes
// every ratio. --with-extra-ca keeps it. Options: --runs N (40).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, BIN, freePort, startServe, stop } from '../scripts/lib.mjs';

const RUNS = Number(arg('runs', 40));
if (spawnSync('hyperfine', ['--version']).status !== 0) {
  console.error('hyperfine not found: install it with "apt-get install -y hyperfine"');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'psimbols-bench-call-'));
const { NODE_EXTRA_CA_CERTS: extraCa, ...rest } = process.env;
const env = { ...rest, ...(process.argv.includes('--with-extra-ca') && extraCa ? { NODE_EXTRA_CA_CERTS: extraCa } : {}), PSIMBOLS_CONFIG_DIR: dir };
console.log(`NODE_EXTRA_CA_CERTS ${env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'}; ${RUNS} runs of each command, after 5 warm-up runs`);
const port = await freePort();
// The first run writes the "local" client config that `call` uses.
const serve = await startServe({ configDir: dir, url: `http://127.0.0.1:${port}/`, args: ['--port', String(port)], env });
try {
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
  await stop(serve);
  rmSync(dir, { recursive: true, force: true });
}
