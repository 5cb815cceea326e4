import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode, PsimbolsError } from '../errors.js';
import { parseClientConfig, type ClientConfig } from './client-config.js';
import type { ServerConfig } from './server-config.js';

// The only module that reads or writes config files. Every write is atomic (temporary file,
// fsync, rename, fsync of the directory) with mode 0600, and edits of the server config hold a
// lock so that two processes adding clients at once both land.

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 15_000;

async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') throw new PsimbolsError('config_missing', `${path}: no such file`, { cause: e });
    throw new PsimbolsError('io', `${path}: cannot read (${errnoCode(e) ?? 'error'})`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PsimbolsError('config_invalid', `${path}: (top level): not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

export async function loadClientConfig(path: string): Promise<ClientConfig> {
  return parseClientConfig(await readJsonFile(path), path);
}

// zod is loaded only by code that needs the server config, never on the `call` path.
async function parseServer(value: unknown, path: string): Promise<ServerConfig> {
  const { parseServerConfig } = await import('./server-config.js');
  return parseServerConfig(value, path);
}

export async function loadServerConfig(path: string): Promise<ServerConfig> {
  return parseServer(await readJsonFile(path), path);
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return false;
    throw e;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeTemp(path: string, text: string): Promise<string> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', FILE_MODE);
  try {
    await fh.writeFile(text);
    await fh.chmod(FILE_MODE);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/**
 * Writes a file atomically with mode 0600. Without `overwrite`, an existing file is refused
 * atomically (link fails if the target exists), so two writers cannot both win.
 */
export async function writeFileAtomic(path: string, text: string, overwrite: boolean): Promise<void> {
  const tmp = await writeTemp(path, text);
  try {
    if (overwrite) {
      await rename(tmp, path);
    } else {
      try {
        await link(tmp, path);
      } catch (e) {
        if (errnoCode(e) === 'EEXIST') throw new PsimbolsError('file_exists', `${path}: already exists (use --force to overwrite)`, { cause: e });
        throw e;
      }
      await unlink(tmp);
    }
    await syncDir(dirname(path));
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if (e instanceof PsimbolsError) throw e;
    throw new PsimbolsError('io', `${path}: cannot write (${errnoCode(e) ?? 'error'})`, { cause: e });
  }
}

export const toJsonText = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

// The lock file holds its owner's pid, so a lock left by a killed process is taken over at once
// rather than after LOCK_STALE_MS. (The lock's owner is a process: this is the one place outside
// the CLI that needs to know about processes.)
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

async function isStale(lock: string, holder: string): Promise<boolean> {
  const pid = Number(holder);
  if (Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid)) return true;
  const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
  return age > LOCK_STALE_MS;
}

async function acquireLock(path: string): Promise<string> {
  const lock = `${path}.lock`;
  await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    // The lock appears with its owner's pid already in it (link is atomic and fails if the lock
    // exists), so no one ever sees a lock without an owner.
    const mine = `${lock}.${process.pid}.${randomBytes(4).toString('hex')}.new`;
    try {
      await writeFile(mine, String(process.pid), { mode: FILE_MODE });
      await link(mine, lock);
      return lock;
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw new PsimbolsError('io', `${lock}: cannot create lock (${errnoCode(e) ?? 'error'})`, { cause: e });
    } finally {
      await unlink(mine).catch(() => undefined);
    }
    const holder = await readFile(lock, 'utf8').catch(() => '');
    if (await isStale(lock, holder)) {
      // Moved aside rather than deleted, so that of two waiters only one takes the stale lock.
      const aside = `${lock}.${randomBytes(4).toString('hex')}.stale`;
      const moved = await rename(lock, aside).then(() => true, () => false);
      if (moved) {
        const content = await readFile(aside, 'utf8').catch(() => holder);
        // A fresh lock replaced the stale one between our read and the move: give it back.
        if (content !== holder) await link(aside, lock).catch(() => undefined);
        await unlink(aside).catch(() => undefined);
      }
      continue;
    }
    if (Date.now() > deadline) throw new PsimbolsError('io', `${lock}: the config is locked by another process; remove the lock file if no psimbols command is running`);
    await sleep(Math.min(5 + attempt * 5, 50));
  }
}

// With the lock held, no live process writes this file: temporary files of it are orphans of a
// killed writer. Lock candidates (.new, named with their pid) of waiting processes are live; only a
// dead pid's are not.
async function removeOrphans(path: string): Promise<void> {
  const dir = dirname(path);
  const temp = `.${basename(path)}.`;
  const lockParts = `${basename(path)}.lock.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  const orphan = (n: string): boolean => {
    if (n.startsWith(temp) && n.endsWith('.tmp')) return true;
    if (!n.startsWith(lockParts)) return false;
    if (n.endsWith('.stale')) return true;
    if (!n.endsWith('.new')) return false;
    const pid = Number(n.slice(lockParts.length).split('.')[0]);
    return Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid);
  };
  await Promise.all(names.filter(orphan).map((n) => unlink(join(dir, n)).catch(() => undefined)));
}

/**
 * Reads, edits and writes the server config under a lock. A missing file is created from
 * `initial` when given; an invalid file is reported and never overwritten.
 */
export async function updateServerConfig(
  path: string,
  edit: (config: ServerConfig) => ServerConfig,
  initial?: () => ServerConfig,
): Promise<ServerConfig> {
  const lock = await acquireLock(path);
  try {
    await removeOrphans(path);
    let current: ServerConfig;
    try {
      current = await loadServerConfig(path);
    } catch (e) {
      if (!(e instanceof PsimbolsError && e.code === 'config_missing' && initial)) throw e;
      current = initial();
    }
    const next = await parseServer(edit(current), path);
    await writeFileAtomic(path, toJsonText(next), true);
    return next;
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}
