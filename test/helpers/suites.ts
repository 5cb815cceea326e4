import { readdirSync } from 'node:fs';

// The test command runs the test files in two processes, half each, instead of one process a
// file. Node 20 runs tsx's module hooks on a thread of their own, so a process pays about a second
// of CPU to load the server's modules through them: 24 processes cost 25 s of a suite of 90 (the
// same as Node 22's --experimental-test-isolation=none, which Node 20 lacks). Each file still
// stands alone: run one with `node --import tsx --test test/NAME.test.ts`. The runner's
// --test-timeout bounds a half as it bounds a test, so it is set for a half on a loaded machine.

/** Imports every `share`-th test file (1-based, of `shares`), in name order. */
export async function importShare(share: number, shares: number): Promise<void> {
  const dir = new URL('../', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort();
  for (const [i, file] of files.entries()) if (i % shares === share - 1) await import(new URL(file, dir).href);
}
