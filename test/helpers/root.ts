import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The repository's root, whether the tests run as compiled by `npm test` (from .test-build/test/,
// scripts/test-build.mjs) or as TypeScript under tsx (from test/): files beside the tests, the
// binary, the examples and the Python client are read where they are, never from the build.
const up = fileURLToPath(new URL('../..', import.meta.url));
export const ROOT = basename(up) === '.test-build' ? dirname(up) : up.replace(/\/$/, '');

/** A path in the repository. */
export const atRoot = (...parts: string[]): string => join(ROOT, ...parts);
