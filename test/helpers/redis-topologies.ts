import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cli.js';
import { redisCommand, redisNode } from './redis.js';
import { eventually } from './wait.js';

// A Redis Cluster of three masters (with a replica each, when asked) and a Sentinel-watched
// master with one replica, each from Debian's redis-server on free ports in a temporary
// directory, for the store's tests.

export type Topology = {
  readonly url: string;
  /** Kills a master: the first node of a cluster, or the Sentinel's current master. */
  killMaster(): Promise<void>;
  /** Starts again what killMaster killed: a cluster node rejoins empty; a Sentinel master comes back as a replica. */
  restartMaster(): Promise<void>;
  /** One command to the current master (Sentinel's; a cluster's first node). */
  master(...args: string[]): Promise<string>;
  /**
   * A planned, graceful switch of the master (of `key`'s slot, in a Cluster) to its replica:
   * SENTINEL FAILOVER or CLUSTER FAILOVER. Resolves once the replica answers as master; the old
   * master may not yet know.
   */
  switchover(key?: string): Promise<void>;
  /** Every former master follows the new one, and every replica is in sync: WAIT can succeed. */
  settled(): Promise<boolean>;
  remove(): Promise<void>;
};

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')}: exit ${code}\n${out}`))));
  });
}

const ok = async (check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> => {
  if (!(await eventually(() => check().catch(() => false), ms))) throw new Error(`${what} did not happen within ${ms} ms`);
};

/** Three masters; with replicas, each has one and a Cluster URL with the default replicaAcks (1). */
// A port that freePort() found free can be taken by another test process before redis-server
// binds it: a topology that does not come up is removed whole and started again on new ports.
async function retried(start: () => Promise<Topology>, attempts = 3): Promise<Topology> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      if (i >= attempts) throw e;
    }
  }
}

/** Three masters; with replicas, each has one and a Cluster URL with the default replicaAcks (1). */
export const startCluster = (o: { replicas?: boolean } = {}): Promise<Topology> => retried(() => startClusterOnce(o));

/** A master, its replica and a Sentinel that watches them (quorum 1). */
export const startSentinel = (): Promise<Topology> => retried(startSentinelOnce);

/** Runs `body`; if it fails, stops what was started and removes `root` before rethrowing. */
async function orRemove<T>(root: string, nodes: readonly { stop(): Promise<void> }[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(root, { recursive: true, force: true });
    throw e;
  }
}

async function startClusterOnce(o: { replicas?: boolean }): Promise<Topology> {
  const root = await mkdtemp(join(tmpdir(), 'psimbols-cluster-'));
  const nodes: { port: number; node: ReturnType<typeof redisNode> }[] = [];
  for (let i = 0; i < (o.replicas ? 6 : 3); i++) {
    const [port, bus] = [await freePort(), await freePort()];
    const dir = join(root, String(i));
    await mkdir(dir);
    nodes.push({ port, node: redisNode(port, dir, ['--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000']) });
  }
  const healthy = async (): Promise<boolean> => (await Promise.all(nodes.map((n) => redisCommand(n.port, 'CLUSTER', 'INFO')))).every((i) => i.includes('cluster_state:ok'));
  await orRemove(root, nodes.map((n) => n.node), async () => {
    await Promise.all(nodes.map((n) => n.node.start()));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes', ...(o.replicas ? ['--cluster-replicas', '1'] : [])]);
    await ok(healthy, 'the cluster becoming ok');
    if (o.replicas) await ok(async () => (await Promise.all(nodes.map((n) => redisCommand(n.port, 'INFO', 'replication')))).filter((i) => i.includes('master_link_status:up')).length === 3, 'the replicas syncing');
  });
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  const first = nodes[0]!;
  return {
    url: `redis+cluster://${addresses.slice(0, 3).join(',')}${o.replicas ? '' : '?replicaAcks=0'}`,
    killMaster: () => first.node.stop(),
    master: (...args) => redisCommand(first.port, ...args),
    switchover: async (key = '') => {
      const slot = /:(\d+)/.exec(await redisCommand(first.port, 'CLUSTER', 'KEYSLOT', key))?.[1] ?? '';
      // After a switchover of the same master, the old one is listed as the new one's replica
      // only once the cluster's gossip has reached the node asked.
      let replica: number | undefined;
      await ok(async () => (replica = await replicaOfSlot(nodes.map((n) => n.port), Number(slot))) !== undefined, `a replica of slot ${slot}`);
      await redisCommand(replica!, 'CLUSTER', 'FAILOVER');
      await ok(async () => (await redisCommand(replica!, 'ROLE')).includes('master'), 'the replica taking over');
    },
    settled: async () => {
      const infos = await Promise.all(nodes.map((n) => redisCommand(n.port, 'INFO', 'replication')));
      return infos.filter((i) => i.includes('role:master')).length === 3 && infos.filter((i) => i.includes('master_link_status:up')).length === nodes.length - 3;
    },
    restartMaster: async () => {
      await first.node.start();
      await ok(healthy, 'the cluster becoming ok again');
    },
    remove: async () => {
      await Promise.all(nodes.map((n) => n.node.stop()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

// The port of the replica of the master that serves `slot`, from CLUSTER NODES; undefined while
// it lists none.
async function replicaOfSlot(ports: readonly number[], slot: number): Promise<number | undefined> {
  const lines = (await redisCommand(ports[0]!, 'CLUSTER', 'NODES')).split('\n');
  const master = lines.find((l) => l.includes('master') && l.split(' ').slice(8).some((range) => {
    const [from = -1, to = from] = range.split('-').map(Number);
    return slot >= from && slot <= to;
  }));
  const id = master?.split(' ')[0];
  const replica = lines.find((l) => id !== undefined && l.split(' ')[3] === id);
  const port = Number(/:(\d+)@/.exec(replica ?? '')?.[1]);
  return Number.isInteger(port) ? port : undefined;
}

async function startSentinelOnce(): Promise<Topology> {
  const root = await mkdtemp(join(tmpdir(), 'psimbols-sentinel-'));
  const [a, b, s] = [await freePort(), await freePort(), await freePort()];
  for (const d of ['a', 'b', 's']) await mkdir(join(root, d));
  const servers = new Map([
    [a, redisNode(a, join(root, 'a'))],
    [b, redisNode(b, join(root, 'b'), ['--replicaof', '127.0.0.1', String(a)])],
  ]);
  const conf = join(root, 's', 'sentinel.conf');
  await writeFile(conf, ['sentinel monitor psimbols 127.0.0.1 ' + a + ' 1', 'sentinel down-after-milliseconds psimbols 1000', 'sentinel failover-timeout psimbols 5000', ''].join('\n'));
  const sentinel = redisNode(s, join(root, 's'), [conf, '--sentinel']);
  await orRemove(root, [sentinel, ...servers.values()], async () => {
    await Promise.all([...servers.values()].map((n) => n.start()));
    await ok(async () => (await redisCommand(b, 'INFO', 'replication')).includes('master_link_status:up'), 'the replica syncing');
    await sentinel.start();
    await ok(async () => (await redisCommand(s, 'SENTINEL', 'replicas', 'psimbols')).includes(String(b)), 'sentinel finding the replica');
  });
  const masterPort = async (): Promise<number> => Number(/\$\d+\r\n(\d+)\r\n$/.exec(await redisCommand(s, 'SENTINEL', 'get-master-addr-by-name', 'psimbols'))?.[1]);
  let killed: number | undefined;
  return {
    url: `redis+sentinel://127.0.0.1:${s}/psimbols/0`,
    killMaster: async () => {
      killed = await masterPort();
      await servers.get(killed)?.stop();
      await ok(async () => (await masterPort()) !== killed, 'sentinel failing over');
    },
    master: async (...args) => redisCommand(await masterPort(), ...args),
    switchover: async () => {
      const before = await masterPort();
      await redisCommand(s, 'SENTINEL', 'FAILOVER', 'psimbols');
      await ok(async () => (await masterPort()) !== before, 'sentinel switching over');
    },
    settled: async () => {
      const infos = await Promise.all([a, b].map((port) => redisCommand(port, 'INFO', 'replication')));
      return infos.filter((i) => i.includes('role:master')).length === 1 && infos.some((i) => i.includes('master_link_status:up'));
    },
    // Back as a replica of the new master, as an operator brings it back. Sentinel would make it
    // one too, but only some seconds after it sees it (16 s here, unloaded).
    restartMaster: async () => {
      if (killed === undefined) return;
      await servers.get(killed)?.start();
      await redisCommand(killed, 'REPLICAOF', '127.0.0.1', String(await masterPort()));
    },
    remove: async () => {
      await Promise.all([sentinel.stop(), ...[...servers.values()].map((n) => n.stop())]);
      await rm(root, { recursive: true, force: true });
    },
  };
}
