import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode, PsimbolsError } from '../errors.js';

// The lock that serialises edits of one config file across processes: a file `<config>.lock`
// created atomically (link fails if it exists) with its content already in it: the owner's pid
// and a nonce no other lock will ever hold.
//
// A lock whose owner is dead (by pid), or that is older than STALE_MS, is taken over. The
// takeover is correct by construction: a waiter that judged the content C stale may remove the
// lock only while it holds `<config>.lock.takeover.<nonce of C>`, created exclusively, and only if
// the lock still holds C. Only one process can be inside that step for C at a time, and C never
// comes back once removed, so a lock taken meanwhile by someone else is never removed. (Reading a
// holder's pid, seeing it dead because that holder finished normally, and then removing the next
// holder's lock is exactly what this prevents.) A waiter that dies inside the takeover leaves its
// marker behind, holding its pid and a nonce; the next waiter takes that marker over the same
// way (a marker of the marker), then the lock.
//
// The owner is a process: this, with the orphan cleanup below, is the one place outside the CLI
// that reads its own pid and asks whether another pid is alive.

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const STALE_MS = 10_000;
const WAIT_MS = 15_000;
/** A temporary file of a dead pid, or this old, has no live writer. */
const ORPHAN_MS = 60_000;

/** Test hooks: called at the points where another process could act. */
export type LockHooks = { readonly judgedStale?: (holder: string) => Promise<void>; readonly triedTakeOver?: () => Promise<void> };

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

const pidOf = (content: string): number => Number(content.split(' ')[0]);
const nonceOf = (content: string): string => content.split(' ')[1] ?? '';

// Whether the owner named in a lock's or a marker's content is dead, by its pid.
const deadOwner = (content: string): boolean => {
  const pid = pidOf(content);
  return Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid);
};

async function isStale(lock: string, holder: string): Promise<boolean> {
  if (deadOwner(holder)) return true;
  const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
  return age > STALE_MS;
}

/** Creates `target` holding `content`, or returns false if it exists. */
async function createExclusive(target: string, content: string): Promise<boolean> {
  const candidate = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.new`;
  try {
    await writeFile(candidate, content, { mode: FILE_MODE });
    await link(candidate, target);
    return true;
  } catch (e) {
    if (errnoCode(e) === 'EEXIST') return false;
    throw new PsimbolsError('io', `${target}: cannot create lock (${errnoCode(e) ?? 'error'})`, { cause: e });
  } finally {
    await unlink(candidate).catch(() => undefined);
  }
}

// Removes `lock` if it still holds `holder`; see the comment at the top. False when another
// process is inside the takeover. A marker whose owner died inside is taken over the same way,
// by a marker of its own, and the caller tries again. A marker's owner is judged by pid alone,
// not by age: it is inside for milliseconds, and one only paused must keep its marker.
async function takeOver(lock: string, holder: string): Promise<boolean> {
  const marker = `${lock}.takeover.${nonceOf(holder) || 'unnamed'}`;
  const mine = `${process.pid} ${randomBytes(12).toString('hex')}`;
  if (!(await createExclusive(marker, mine))) {
    const inside = await readFile(marker, 'utf8').catch(() => undefined);
    return inside === undefined || (deadOwner(inside) && (await takeOver(marker, inside)));
  }
  try {
    const current = await readFile(lock, 'utf8').catch(() => undefined);
    if (current === holder) await unlink(lock).catch(() => undefined);
  } finally {
    await release(marker, mine);
  }
  return true;
}

/** Takes the lock of the file at `path`; the returned function releases it. */
export async function acquireLock(path: string, hooks: LockHooks = {}): Promise<() => Promise<void>> {
  const lock = `${path}.lock`;
  await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
  const mine = `${process.pid} ${randomBytes(12).toString('hex')}`;
  const deadline = Date.now() + WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    if (await createExclusive(lock, mine)) {
      await removeOrphans(path, mine);
      return () => release(lock, mine);
    }
    const holder = await readFile(lock, 'utf8').catch(() => undefined);
    if (holder !== undefined && (await isStale(lock, holder))) {
      await hooks.judgedStale?.(holder);
      const tried = await takeOver(lock, holder);
      await hooks.triedTakeOver?.();
      // While a live process is inside the takeover, wait as for a held lock (this looped
      // without a pause, at full CPU, for ever).
      if (tried) continue;
    }
    if (Date.now() > deadline) throw new PsimbolsError('io', `${lock}: the config is locked by another process; remove ${lock} (and any ${basename(lock)}.takeover.* beside it) if no psimbols command is running`);
    await sleep(Math.min(5 + attempt * 5, 50));
  }
}

async function release(lock: string, mine: string): Promise<void> {
  // Only our own lock: if it was ever taken over (we were paused past STALE_MS), it is not ours.
  if ((await readFile(lock, 'utf8').catch(() => undefined)) === mine) await unlink(lock).catch(() => undefined);
}

/**
 * With the lock held, what a killed process left: the config's temporary files and lock
 * candidates whose pid is dead or that are older than ORPHAN_MS, and takeover markers of locks
 * that are gone (every lock but ours, which is the only one).
 */
async function removeOrphans(path: string, mine: string): Promise<void> {
  const dir = dirname(path);
  const temp = `.${basename(path)}.`;
  const lockParts = `${basename(path)}.lock.`;
  const ours = `${lockParts}takeover.${nonceOf(mine)}`;
  const now = Date.now();
  const names = await readdir(dir).catch(() => [] as string[]);
  const orphan = async (n: string): Promise<boolean> => {
    // Files named <...>.<pid>.<random>.new|.tmp belong to a process while it lives.
    if ((n.startsWith(lockParts) && n.endsWith('.new')) || (n.startsWith(temp) && n.endsWith('.tmp'))) {
      const pid = Number(n.split('.').at(-3));
      if (Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid)) return true;
      return stat(join(dir, n)).then((s) => now - s.mtimeMs > ORPHAN_MS, () => false);
    }
    return n.startsWith(`${lockParts}takeover.`) && !n.startsWith(ours);
  };
  for (const n of names) if (await orphan(n)) await unlink(join(dir, n)).catch(() => undefined);
}
