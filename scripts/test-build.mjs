// npm test's second build step: the type check of src/ and test/, which also writes them as
// JavaScript to .test-build/, so that the suite runs without tsx compiling every file again in
// each test process (tsx stays for `node --import tsx --test test/x.test.ts` while working on one
// file, and for the stress runs). Stale output is removed first: a deleted test must not run.
import { spawnSync } from 'node:child_process';
import { rmSync, symlinkSync } from 'node:fs';

const out = new URL('../.test-build/', import.meta.url);
rmSync(out, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname, '-p', 'test/tsconfig.json'], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
// src/cli/program.ts reads the version from the package.json two folders up.
symlinkSync('../package.json', new URL('package.json', out));
