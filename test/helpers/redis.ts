import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, gone } from './cli.js';

// Each test starts its own redis-server on a free port in a temporary directory and stops it;
// no test ever touches a Redis it did not start. In CI (PSIMBOLS_REQUIRE_REDIS=1) a missing
// redis-server is a failure; on a developer machine those tests are skipped with a hint.

export const redisMissing = (): string | undefined => {
  if (spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0) return undefined;
  const hint = 'redis-server or redis-cli not found: install them with "apt-get install -y redis-server redis-tools" to run the Redis tests';
  if (process.env.PSIMBOLS_REQUIRE_REDIS) throw new Error(hint);
  return hint;
};

export type TestRedis = {
  readonly port: number;
  readonly url: string;
  /** Runs one command through redis-cli-free RESP over a socket. */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that holds connections open but never answers. */
  pause(): void;
  resume(): void;
  remove(): Promise<void>;
};

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(port, '127.0.0.1');
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      s.destroy();
    });
    s.on('error', () => resolve(false));
  });
}

/** One redis-server process on `port`, started and stopped at will; its data lives in `dir`. */
export function redisNode(port: number, dir: string, args: readonly string[] = []): { start(): Promise<void>; stop(): Promise<void>; signal(s: NodeJS.Signals): void } {
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    // A replica's full sync waits 5 s by default (repl-diskless-sync-delay), for more replicas to join.
    const own = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--repl-diskless-sync-delay', '0'];
    const started = spawn('redis-server', [...args, ...own], { stdio: 'ignore' });
    child = started;
    for (let i = 0; i < 200 && started.exitCode === null; i++) {
      // Ours, not another test's that took the port first: the answering process is the one spawned.
      if (await ping(port)) {
        if ((await redisCommand(port, 'INFO', 'server')).includes(`process_id:${started.pid}\r\n`)) return;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // It exited (a port another process took meanwhile), never answered, or another answered.
    await stop();
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || gone(c)) return;
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    });
  };
  return { start, stop, signal: (s) => void child?.kill(s) };
}

/** One command in RESP over a socket to the Redis on `port`; the first reply chunk as text. */
export const redisCommand = (port: number, ...args: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    const s = createConnection(port, '127.0.0.1');
    const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    s.on('connect', () => s.write(payload));
    s.on('data', (d) => {
      resolve(d.toString());
      s.destroy();
    });
    s.on('error', reject);
  });

export async function startRedis(): Promise<TestRedis> {
  // A port found free can be taken by another test process before redis-server binds it: try another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'psimbols-redis-'));
    try {
      return await startRedisOn(port, dir);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      if (attempt >= 3) throw e;
    }
  }
}

async function startRedisOn(port: number, dir: string): Promise<TestRedis> {
  const node = redisNode(port, dir);
  await node.start();
  const signal = (s: NodeJS.Signals) => (): void => node.signal(s);
  const remove = async (): Promise<void> => {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  };
  return { port, url: `redis://127.0.0.1:${port}/0`, command: (...args) => redisCommand(port, ...args), stop: node.stop, start: node.start, pause: signal('SIGSTOP'), resume: signal('SIGCONT'), remove };
}
