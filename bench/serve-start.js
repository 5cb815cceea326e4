// npm run bench:serve-start: the CPU `psimbols serve` spends from its start until it answers,
// read from /proc when it first answers; the median of --runs N (20) starts, in-memory store, on a
// config made by the first run. Every worker a cluster restarts, and every test that starts a
// server, pays it. Without NODE_EXTRA_CA_CERTS (see bench/call.js); --with-extra-ca keeps it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cpuMs, freePort, median, startServe, stop } from '../scripts/lib.mjs';

const RUNS = Number(arg('runs', 20));
const dir = mkdtempSync(join(tmpdir(), 'psimbols-bench-start-'));
const { NODE_EXTRA_CA_CERTS: extraCa, ...rest } = process.env;
const env = { ...rest, ...(process.argv.includes('--with-extra-ca') && extraCa ? { NODE_EXTRA_CA_CERTS: extraCa } : {}) };
try {
  const costs = [];
  for (let i = 0; i <= RUNS; i++) {
    const port = await freePort();
    const child = await startServe({ configDir: dir, url: `http://127.0.0.1:${port}/healthz`, args: ['--port', String(port), '--no-watch'], env });
    // The first run writes the config: not counted.
    if (i > 0) costs.push(cpuMs(child.pid));
    await stop(child);
  }
  console.log(`NODE_EXTRA_CA_CERTS ${env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'}; serve to its first answer, ${RUNS} starts: median ${median(costs)} ms of CPU (${Math.min(...costs)} to ${Math.max(...costs)})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
