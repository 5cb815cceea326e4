import { readFile } from 'node:fs/promises';
import { fileProblem, PsimbolsError } from '../errors.js';
import type { Io } from './io.js';

// Wherever a command takes a file, `-` means standard input. Standard input can be read once, so
// a second `-` in the same command is refused rather than read as empty.

/** Reads a named file, or stdin for `-`; `what` names the flag or item in errors. */
export type ReadInput = (path: string, what: string) => Promise<string>;

export function inputReader(io: Io): ReadInput {
  let stdinTakenBy: string | undefined;
  return async (path, what) => {
    if (path === '-') {
      if (stdinTakenBy !== undefined) throw new PsimbolsError('usage', `${what}: standard input is already read for ${stdinTakenBy}`);
      stdinTakenBy = what;
      const chunks: Buffer[] = [];
      for await (const chunk of io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
      return Buffer.concat(chunks).toString('utf8');
    }
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      throw new PsimbolsError('usage', `${what}: cannot read ${path}: ${fileProblem(e)}`);
    }
  };
}
