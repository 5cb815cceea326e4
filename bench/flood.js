// node bench/flood.js: what a flood of refused requests costs the log. One `serve` (the real
// binary, JSON log to a file), 8 connections sending requests with random 60 KB client ids from
// one address for --seconds (5); prints the requests sent, the log's growth and bytes a request.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateKeySpec } from '../dist/index.js';
import { arg, freePort, startServe, stop } from '../scripts/lib.mjs';

const SECONDS = Number(arg('seconds', 5));
const dir = mkdtempSync(join(tmpdir(), 'psimbols-bench-flood-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}/`;
writeFileSync(join(dir, 'server.json'), JSON.stringify({ listen: { host: '127.0.0.1', port }, clients: { alice: { server: url, keys: [generateKeySpec()] } } }), { mode: 0o600 });
const child = await startServe({ configDir: dir, url });
const log = join(dir, 'serve.log');
const before = statSync(log).size;
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
const statuses = {};
const send = () =>
  new Promise((resolve) => {
    const body = JSON.stringify({ client: randomBytes(30_000).toString('hex'), server: url, request: `ps2.${randomBytes(80).toString('base64url')}` });
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      res.resume().on('end', resolve);
    });
    req.on('error', resolve);
    req.end(body);
  });
const end = Date.now() + SECONDS * 1000;
try {
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (Date.now() < end) await send();
  }));
  await stop(child);
  const sent = Object.values(statuses).reduce((a, b) => a + b, 0);
  const grew = statSync(log).size - before;
  console.log(`${sent} requests in ${SECONDS} s (statuses ${JSON.stringify(statuses)}); the log grew ${grew} bytes: ${(grew / sent).toFixed(1)} bytes a request`);
} finally {
  agent.destroy();
  rmSync(dir, { recursive: true, force: true });
}
