// What the benchmarks and scripts share: their flags, a free port, starting a private Redis or
// the real `psimbols serve`, stopping a child, the median and a process's CPU time.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../bin/psimbols.js', import.meta.url));

/** The value of `--name VALUE` on the command line, or `fallback`. */
export const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** User plus system CPU time of one process in ms, from /proc/PID/stat (clock ticks of 10 ms); NaN once it is gone. */
export function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** A port on 127.0.0.1 that was free a moment ago. */
export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** True once a child has exited, by itself or by a signal (exitCode is null then). */
export const gone = (child) => child.exitCode !== null || child.signalCode !== null;

export const stop = (child) => new Promise((r) => (gone(child) ? r() : (child.once('exit', r), child.kill('SIGTERM'))));

/** One command in RESP to the Redis (or Sentinel) on `port`; its first reply chunk as text. */
export const redisCommand = (port, ...args) =>
  new Promise((resolve, reject) => {
    const s = createConnection(port, '127.0.0.1');
    s.on('connect', () => s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    s.on('data', (d) => {
      resolve(d.toString());
      s.destroy();
    });
    s.on('error', reject);
  });

export const hasRedis = () => spawnSync('redis-server', ['--version']).status === 0;

/**
 * A private redis-server without persistence, on a free port, its files in `dir`; undefined
 * without redis-server. `conf` (a file, first, as redis-server wants it) and `args` go with it:
 * a replica, or a Sentinel.
 */
export async function startRedis(dir, port, { conf, args = [] } = {}) {
  if (!hasRedis()) return undefined;
  port ??= await freePort();
  const all = [...(conf ? [conf] : []), '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...args];
  const child = spawn('redis-server', all, { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    child.stdout.on('data', (d) => {
      out += d;
      if (/Ready to accept|Sentinel ID is/.test(out)) {
        child.stdout.resume();
        resolve();
      }
    });
  });
  return { child, port, url: `redis://127.0.0.1:${port}/0` };
}

/**
 * The real `psimbols serve` with the config in `configDir`, once `url` answers. Its log goes to a
 * file, as it would to a collector: read through a pipe it would cost the caller's core.
 */
export async function startServe({ configDir, url, args = [], env = process.env, logName = 'serve.log' }) {
  const logPath = join(configDir, logName);
  const child = spawn(process.execPath, [BIN, 'serve', '--log-format', 'json', ...args], { env: { ...env, PSIMBOLS_CONFIG_DIR: configDir }, stdio: ['ignore', 'ignore', openSync(logPath, 'a')] });
  for (let i = 0; ; i++) {
    if (gone(child)) throw new Error(`serve exited with ${child.exitCode ?? child.signalCode}: ${readFileSync(logPath, 'utf8')}`);
    try {
      if ((await fetch(url)).ok) break;
    } catch {
      if (i > 200) throw new Error('serve did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return child;
}
