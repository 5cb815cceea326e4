// node bench/scrapes.js: what 64 concurrent scrapers of the metrics port cost honest traffic.
// One `serve --metrics`, its honest throughput measured alternately without and with 64 scraper
// loops (each GET /metrics again as soon as it is answered), rounds interleaved; the ratio of the
// medians is the figure (target: with / without >= 0.5). Options: --rounds N (3), --requests N
// (20000), --connections N (16), --workers N (1).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeySpec, presealBodies, runLoad } from '../dist/index.js';
import { arg, freePort, median, startServe, stop } from '../scripts/lib.mjs';

const ROUNDS = Number(arg('rounds', 3));
const REQUESTS = Number(arg('requests', 20000));
const CONNECTIONS = Number(arg('connections', 16));
const WORKERS = Number(arg('workers', 1));
const SCRAPERS = 64;

const dir = mkdtempSync(join(tmpdir(), 'psimbols-bench-scrapes-'));
const [port, metricsPort] = [await freePort(), await freePort()];
const url = `http://127.0.0.1:${port}/`;
const key = generateKeySpec();
writeFileSync(join(dir, 'server.json'), JSON.stringify({ listen: { host: '127.0.0.1', port }, metrics: { listen: `127.0.0.1:${metricsPort}` }, clients: { bench: { server: url, keys: [key], requestsPerHour: 1e9 } } }), { mode: 0o600 });
const child = await startServe({ configDir: dir, url, args: ['--workers', String(WORKERS)] });

let scraping = false;
let scrapes = 0;
const scrapeOnce = () =>
  new Promise((resolve) => {
    const req = request(`http://127.0.0.1:${metricsPort}/metrics`, (res) => res.resume().on('end', resolve));
    req.on('error', resolve);
    req.end();
  });
async function scraper() {
  while (scraping) {
    await scrapeOnce();
    scrapes++;
  }
}

const o = { config: { client: 'bench', server: url, key }, module: 'supermath', fn: 'factorial', params: { n: 20 }, connections: CONNECTIONS, requests: REQUESTS };
const rps = { without: [], with: [] };
try {
  await runLoad(o, presealBodies(o, REQUESTS));
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of r % 2 ? ['with', 'without'] : ['without', 'with']) {
      scraping = mode === 'with';
      const scrapers = scraping ? Array.from({ length: SCRAPERS }, scraper) : [];
      const report = await runLoad(o, presealBodies(o, REQUESTS));
      scraping = false;
      await Promise.all(scrapers);
      rps[mode].push(report.rps);
    }
  }
  const fmt = (xs) => `${median(xs).toFixed(0)} (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  console.log(`--workers ${WORKERS}; ${ROUNDS} rounds of ${REQUESTS} requests over ${CONNECTIONS} connections; ${scrapes} scrapes in all`);
  console.log(`honest req/s without scrapers ${fmt(rps.without)}`);
  console.log(`honest req/s with ${SCRAPERS} scrapers ${fmt(rps.with)}`);
  console.log(`with / without ${(median(rps.with) / median(rps.without)).toFixed(2)} (target >= 0.5)`);
} finally {
  await stop(child);
  rmSync(dir, { recursive: true, force: true });
}
