// node bench/capacity.js: what Redis holds and does for psimbols, for the README's capacity table.
//  1. Redis memory per registered client, and per accepted request (its rate-limit entry and its
//     nonce, both kept for an hour): used_memory before and after, over a private Redis.
//  2. Redis commands per request: commandstats before and after.
//  3. The server's CPU per request on the Redis path, and what the memory store's path costs on
//     the same run, for one core.
// The memory store's bytes are `npm run bench:memory`'s; the primary's cost is bench/primary.js's.
// Options: --clients N (1000), --requests N (20000).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeySpec, presealBodies, runLoad } from '../dist/index.js';
import { arg, cpuMs, freePort, hasRedis, redisCommand, startRedis, startServe, stop } from '../scripts/lib.mjs';

const CLIENTS = Number(arg('clients', 1000));
const REQUESTS = Number(arg('requests', 20000));

if (!hasRedis()) {
  console.log('no redis-server: apt-get install -y redis-server');
  process.exit(2);
}

/** INFO's `field:value` lines as numbers. */
async function info(port, section) {
  const text = await redisCommand(port, 'INFO', section);
  return Object.fromEntries([...text.matchAll(/^(\w+):(\d+)\r?$/gm)].map((m) => [m[1], Number(m[2])]));
}

/** Commands Redis ran (those a script runs included, INFO excluded), and those sent over the network. */
async function commands(port) {
  const text = await redisCommand(port, 'INFO', 'commandstats');
  const calls = Object.fromEntries([...text.matchAll(/^cmdstat_(\w+(?:\|\w+)?):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  const all = Object.entries(calls).reduce((n, [name, c]) => (name === 'info' ? n : n + c), 0);
  // What a script runs is counted under its own command; EVALSHA, EVAL and WAIT are what arrives.
  const sent = (calls.evalsha ?? 0) + (calls.eval ?? 0) + (calls.wait ?? 0);
  return { all, sent };
}

const dir = mkdtempSync(join(tmpdir(), 'psimbols-capacity-'));
const children = [];
try {
  const redis = await startRedis(dir);
  children.push(redis.child);
  const memoryBefore = (await info(redis.port, 'memory')).used_memory;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const keys = Array.from({ length: CLIENTS }, () => generateKeySpec());
  const clients = Object.fromEntries(keys.map((key, i) => [`c${i}`, { server: url, keys: [key], requestsPerHour: 1_000_000 }]));
  const configDir = join(dir, 'serve');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'server.json'), JSON.stringify({ listen: { host: '127.0.0.1', port }, store: redis.url, clients }), { mode: 0o600 });
  const serve = await startServe({ configDir, url });
  children.push(serve);
  const perClient = ((await info(redis.port, 'memory')).used_memory - memoryBefore) / CLIENTS;

  // Requests spread over every client, as many clients' traffic is.
  const perEach = Math.ceil(REQUESTS / CLIENTS);
  const bodies = keys.flatMap((key, i) => presealBodies({ config: { client: `c${i}`, server: url, key }, module: 'supermath', fn: 'factorial', params: { n: 20 } }, perEach));
  const [memory, calls, cpu] = [(await info(redis.port, 'memory')).used_memory, await commands(redis.port), cpuMs(serve.pid)];
  const report = await runLoad({ config: { client: 'c0', server: url, key: keys[0] }, module: 'supermath', fn: 'factorial', params: {}, connections: 16, requests: bodies.length }, bodies);
  const served = report.statuses['200'] ?? 0;
  const perRequest = ((await info(redis.port, 'memory')).used_memory - memory) / served;
  const after = await commands(redis.port);
  const [ran, sent] = [(after.all - calls.all) / report.requests, (after.sent - calls.sent) / report.requests];
  const cpuPerRequest = ((cpuMs(serve.pid) - cpu) * 1000) / report.requests;
  console.log(`clients ${CLIENTS}, requests ${report.requests} (${served} answered 200), ${Math.round(report.rps)} req/s over 16 connections`);
  console.log(`Redis memory per registered client   ${Math.round(perClient)} bytes`);
  console.log(`Redis memory per accepted request    ${Math.round(perRequest)} bytes (kept for an hour)`);
  console.log(`Redis commands per request           ${sent.toFixed(2)} sent (the admission script), ${ran.toFixed(2)} run by Redis`);
  console.log(`server CPU per request (Redis store) ${Math.round(cpuPerRequest)} µs`);
} finally {
  for (const c of children.reverse()) await stop(c);
  rmSync(dir, { recursive: true, force: true });
}
