import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { presealBodies, runLoad } from '../../src/client/load-generator.js';
import { generateKeySpec, type V2KeySpec } from '../../src/protocol/keys.js';
import { freePort, spawnServe } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';

// A bounded run at full rate with many clients against the real binary. PSIMBOLS_SOAK_SECONDS
// sets its length (default 60). Memory must level off: the replay window is short here (6 s),
// so the store turns over many times within the run.

// At least 20 s: the warm sample is taken at 15 s at the earliest, after the first sweep (11 s).
const SECONDS = Math.max(20, Number(process.env.PSIMBOLS_SOAK_SECONDS ?? 60));
const CLIENTS = 200;
const LIMITED = 10; // clients with a small quota, for intended 429s

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

test(`soak: ${SECONDS} s at full rate, ${CLIENTS} clients`, { timeout: (SECONDS + 120) * 1000 }, async (ctx) => {
  const dir = await tempDir();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const keys: V2KeySpec[] = Array.from({ length: CLIENTS }, () => generateKeySpec());
  const clients = Object.fromEntries(keys.map((key, i) => [`c${i}`, { server: url, keys: [key], requestsPerHour: i < LIMITED ? 50 : 10_000_000 }]));
  await writeFile(join(dir.path, 'server.json'), JSON.stringify({ listen: { port }, limits: { pastSeconds: 5, futureSeconds: 5 }, clients }));
  const served = await spawnServe([], { PSIMBOLS_CONFIG_DIR: dir.path });
  const pid = served.child.pid!;
  try {
    const statuses: Record<string, number> = {};
    let unlimited429 = 0;
    const samples: { t: number; rss: number }[] = [];
    const start = Date.now();
    let batch = 0;
    let requests = 0;
    while (Date.now() - start < SECONDS * 1000) {
      const i = batch++ % CLIENTS;
      // Each batch is sealed just before it is sent and must go out within the 5 s timestamp
      // window: 1000 requests take 2.5 s even at 400 req/s (the project machine sends ~6000).
      const o = { config: { client: `c${i}`, server: url, key: keys[i]! }, module: 'supermath', fn: 'factorial', params: { n: 20 }, connections: 16, requests: 1000 };
      const report = await runLoad(o, presealBodies(o, 1000));
      requests += report.requests;
      for (const [s, n] of Object.entries(report.statuses)) statuses[s] = (statuses[s] ?? 0) + n;
      if (i >= LIMITED) unlimited429 += report.statuses['429'] ?? 0;
      samples.push({ t: (Date.now() - start) / 1000, rss: rssKiB(pid) });
    }
    await sleep(100);
    // Warm once a third of the run has passed and the store has been swept at least once (11 s).
    const warm = samples.find((s) => s.t >= Math.max(SECONDS / 3, 15))!;
    const peak = Math.max(...samples.filter((s) => s.t >= warm.t).map((s) => s.rss));
    const end = samples.at(-1)!;
    ctx.diagnostic(`${requests} requests in ${SECONDS} s (${Math.round(requests / SECONDS)} req/s); statuses ${JSON.stringify(statuses)}`);
    ctx.diagnostic(`RSS: first sample ${(samples[0]!.rss / 1024).toFixed(1)} MiB, warm (${warm.t.toFixed(0)} s) ${(warm.rss / 1024).toFixed(1)} MiB, peak after that ${(peak / 1024).toFixed(1)} MiB, end ${(end.rss / 1024).toFixed(1)} MiB`);
    assert.deepEqual(Object.keys(statuses).sort(), ['200', '429']);
    assert.ok((statuses['429'] ?? 0) > 0, 'the limited clients got 429s');
    assert.equal(unlimited429, 0, 'only the limited clients got 429s');
    // After the warm-up, memory stays within a small margin: no growth with requests served.
    assert.ok(end.rss <= warm.rss * 1.15 + 8 * 1024, `RSS grew from ${warm.rss} KiB to ${end.rss} KiB`);
  } finally {
    await served.stop();
    await dir.remove();
  }
});
