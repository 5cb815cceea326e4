import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sealCall } from '../src/client/client.js';
import { generateKeySpec } from '../src/protocol/keys.js';
import { freePort, serveInProcess, spawnServe, type Served } from './helpers/cli.js';
import { redisMissing, startRedis } from './helpers/redis.js';
import { startCluster, startSentinel } from './helpers/redis-topologies.js';
import { post, tempDir } from './helpers/server.js';
import { eventually, past503 } from './helpers/wait.js';

// Two psimbols instances behind an imaginary load balancer, sharing one Redis: on one Redis, two
// `psimbols serve` processes, as the README runs them; on a Cluster and with Sentinel, two servers
// in this process (what they share is the Redis alone, and each start of serve costs 0.25 s).

const LB = 'http://lb.psimbols.test/';

type Instance = Pick<Served, 'url' | 'stderr' | 'stop'>;
const processes = async (env: Record<string, string>): Promise<Instance> => spawnServe(['--port', String(await freePort())], env);
const inProcess = async (env: Record<string, string>): Promise<Instance> => serveInProcess(env, await freePort());

const topologies: { name: string; start: () => Promise<{ url: string; remove(): Promise<void> }>; instance: (env: Record<string, string>) => Promise<Instance> }[] = [
  { name: 'one Redis', start: startRedis, instance: processes },
  { name: 'a Redis Cluster of three masters', start: startCluster, instance: inProcess },
  { name: 'Redis with Sentinel', start: startSentinel, instance: inProcess },
];

for (const topology of topologies) describe(`several instances on ${topology.name}`, { skip: redisMissing() }, () => {
  let redis: { url: string; remove(): Promise<void> };
  let dir: { path: string; remove: () => Promise<void> };
  let a: Instance;
  let b: Instance;
  const keys = { seq: generateKeySpec(), conc: generateKeySpec(), replay: generateKeySpec() };
  before(async () => {
    redis = await topology.start();
    dir = await tempDir();
    const clients = Object.fromEntries(Object.entries(keys).map(([id, key]) => [id, { server: LB, keys: [key], requestsPerHour: 10 }]));
    await writeFile(join(dir.path, 'server.json'), JSON.stringify({ store: redis.url, clients }));
    const env = { PSIMBOLS_CONFIG_DIR: dir.path };
    [a, b] = await Promise.all([topology.instance(env), topology.instance(env)]);
    // As a load balancer would, send nothing until both are ready: an instance serves before
    // its first connection to Redis is made when that takes over 2 s (onStoreError=closed: 503).
    const ready = async (s: Instance): Promise<boolean> => (await fetch(new URL('readyz', s.url))).ok;
    assert.ok(await eventually(async () => (await ready(a)) && ready(b), 10_000), `${a.stderr()}\n${b.stderr()}`);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.remove();
    await dir?.remove();
  });
  const config = (id: keyof typeof keys) => ({ client: id, server: LB, key: keys[id] });
  // A client as `call --retry` is: a 503 is sealed afresh and sent again. On a loaded machine an
  // instance's first request can outlast the 200 ms Redis command timeout (its WAIT, with
  // Sentinel); a 503 takes nothing off the quota, and what is counted here is what was served.
  const send = (url: string, id: keyof typeof keys): Promise<number> => past503(async () => (await post(url, sealCall(config(id), 'supermath', 'factorial', { n: 3 }).outer)).status);

  test('2N requests spread across both give exactly N successes and N 429s', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push(await send(i % 2 ? a.url : b.url, 'seq'));
    const logs = `${a.stderr()}\n${b.stderr()}`;
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200), logs);
    assert.deepEqual(statuses.slice(10), Array(10).fill(429), logs);
  });

  test('also when the 2N are sent concurrently', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => send(i % 2 ? a.url : b.url, 'conc')),
    );
    assert.equal(statuses.filter((s) => s === 200).length, 10);
    assert.equal(statuses.filter((s) => s === 429).length, 10);
  });

  test('a request accepted by instance A is refused as a replay by instance B', async () => {
    let outer: unknown;
    assert.equal(await past503(async () => (await post(a.url, (outer = sealCall(config('replay'), 'supermath', 'factorial', { n: 3 }).outer))).status), 200);
    assert.equal(await past503(async () => (await post(b.url, outer)).status), 401);
    // Log lines are written in batches: give the batch a moment.
    await eventually(async () => b.stderr().includes('"reason":"replayed"'));
    assert.match(b.stderr(), /"reason":"replayed"/);
  });

  test('health says the store is reachable; serve\'s log names it without a password', async () => {
    assert.match(await (await fetch(a.url)).text(), /store=redis\n$/);
    if (topology.instance === processes) assert.ok(a.stderr().includes(`"store":"${redis.url}"`), a.stderr());
  });
});
