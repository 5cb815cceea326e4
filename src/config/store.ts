import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { jsonSyntaxError } from './json-errors.js';
import { preserveFields } from './preserve.js';
import { link, lstat, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoCode, fileProblem, PsimbolsError } from '../errors.js';
import { acquireLock } from './lock.js';
import { parseClientConfig, type ClientConfig } from './client-config.js';
import type { ServerConfig } from './server-config.js';

// The only module that reads or writes config files. Every write is atomic (temporary file,
// fsync, rename, fsync of the directory) with mode 0600, and edits of the server config hold a
// lock (lock.ts) so that two processes adding clients at once both land.

const FILE_MODE = 0o600;

/** Receives a warning about a file, once per file for as long as this program runs. */
export type Warn = (message: string) => void;
const warned = new Set<string>();

// Keys in a file others can read: warn, naming the fix, as ssh and WireGuard do. Not refused:
// mounted secrets are often 0644.
function checkMode(path: string, mode: number, warn: Warn | undefined, holds: string): void {
  if ((mode & 0o077) === 0 || warn === undefined || warned.has(path)) return;
  warned.add(path);
  warn(`${path} holds ${holds} and can be read by other users (mode 0${(mode & 0o777).toString(8)}): run "chmod 600 ${path}"`);
}

/** A file's bytes; `warn` is told when it is a secret (`holds`) that others can read. */
async function readSecretFile(path: string, warn: Warn | undefined, holds = 'keys'): Promise<Buffer> {
  try {
    const fh = await open(path, 'r');
    try {
      checkMode(path, (await fh.stat()).mode, warn, holds);
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') throw new PsimbolsError('config_missing', `${path}: no such file`, { cause: e });
    throw new PsimbolsError('io', `${path}: cannot read (${errnoCode(e) ?? 'error'})`, { cause: e });
  }
}

/** A TLS certificate (chain) and its private key as they are on disk; a key others can read is warned about as keys are. */
export async function readTlsFiles(cert: string, key: string, warn?: Warn): Promise<{ cert: Buffer; key: Buffer }> {
  const [c, k] = await Promise.all([readSecretFile(cert, undefined), readSecretFile(key, warn, 'a private key')]);
  return { cert: c, key: k };
}

async function readJsonFile(path: string, warn?: Warn): Promise<unknown> {
  const text = (await readSecretFile(path, warn)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PsimbolsError('config_invalid', `${path}: not valid JSON at ${jsonSyntaxError(text)}`, { cause: e });
  }
}

export async function loadClientConfig(path: string, warn?: Warn): Promise<ClientConfig> {
  return parseClientConfig(await readJsonFile(path, warn), path);
}

// zod is loaded only by code that needs the server config, never on the `call` path.
async function parseServer(value: unknown, path: string): Promise<ServerConfig> {
  const { parseServerConfig } = await import('./server-config.js');
  return parseServerConfig(value, path);
}

export async function loadServerConfig(path: string, warn?: Warn): Promise<ServerConfig> {
  return parseServer(await readJsonFile(path, warn), path);
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

const cannotWrite = (path: string, e: unknown): PsimbolsError => {
  const code = errnoCode(e);
  const why = code === 'ENOENT' || code === 'ENOTDIR' ? `the directory ${dirname(path)} does not exist` : fileProblem(e);
  return new PsimbolsError('io', `cannot write ${path}: ${why}`, { cause: e });
};

/** An output file claimed before anything else changes; `write` puts it in place, `release` gives it up. */
export type Reserved = { readonly path: string; write(text: string): Promise<void>; release(): Promise<void> };

/**
 * Claims a file for an atomic write (mode 0600): fails at once, before any other change, when the
 * file exists and `overwrite` is false, or its directory is missing or not writable. Directories
 * are never created here: only the config directory is, by the lock. Without `overwrite`, the
 * final link also refuses a file that appeared meanwhile, so two writers cannot both win.
 */
export async function reserveFile(path: string, overwrite: boolean): Promise<Reserved> {
  const exists = (): PsimbolsError => new PsimbolsError('file_exists', `${path}: already exists (use --force to overwrite)`);
  // lstat: a dangling symbolic link is a name in use too, and the final link would refuse it.
  if (!overwrite && (await lstat(path).then(() => true, (e: unknown) => (errnoCode(e) === 'ENOENT' ? false : Promise.reject(e))))) throw exists();
  // Named with the writer's pid, so that the lock's orphan cleanup can tell a live writer's file.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', FILE_MODE).catch((e: unknown) => Promise.reject(cannotWrite(path, e)));
  let handleOpen = true;
  const release = async (): Promise<void> => {
    if (handleOpen) await fh.close().catch(() => undefined);
    handleOpen = false;
    await unlink(tmp).catch(() => undefined);
  };
  const write = async (text: string): Promise<void> => {
    try {
      await fh.writeFile(text);
      await fh.chmod(FILE_MODE);
      await fh.sync();
      await fh.close();
      handleOpen = false;
      if (overwrite) await rename(tmp, path);
      else {
        await link(tmp, path).catch((e: unknown) => Promise.reject(errnoCode(e) === 'EEXIST' ? exists() : e));
        await unlink(tmp);
      }
      await syncDir(dirname(path));
    } catch (e) {
      await release();
      throw e instanceof PsimbolsError ? e : cannotWrite(path, e);
    }
  };
  return { path, write, release };
}

/** Writes a file atomically with mode 0600 (see reserveFile). */
export async function writeFileAtomic(path: string, text: string, overwrite: boolean): Promise<void> {
  await (await reserveFile(path, overwrite)).write(text);
}

export const toJsonText = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/**
 * Reads, edits and writes the server config under a lock. A missing file is created from
 * `initial` when given; an invalid file is reported and never overwritten.
 */
export async function updateServerConfig(
  path: string,
  edit: (config: ServerConfig) => ServerConfig,
  initial?: () => ServerConfig,
): Promise<ServerConfig> {
  const release = await acquireLock(path);
  try {
    let raw: unknown;
    let current: ServerConfig;
    try {
      raw = await readJsonFile(path);
      current = await parseServer(raw, path);
    } catch (e) {
      if (!(e instanceof PsimbolsError && e.code === 'config_missing' && initial)) throw e;
      current = initial();
      raw = current;
    }
    const next = await parseServer(edit(current), path);
    // Only what the edit changed is written; should the result read back otherwise, all of it is.
    const kept = preserveFields(raw, current, next);
    const same = await parseServer(kept, path).then((p) => isDeepStrictEqual(p, next), () => false);
    await writeFileAtomic(path, toJsonText(same ? kept : next), true);
    return next;
  } finally {
    await release();
  }
}
