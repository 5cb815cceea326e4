#!/usr/bin/env node
// Runs the compiled CLI. `npm ci` builds it through the prepare script: tsc to dist/, then one
// esbuild bundle of the CLI with commander and ky inlined, because loading some fifty small ES
// modules one by one was a fifth of `psimbols call`'s start-up.
import { run } from '../dist/cli-bundle/main.js';

run();
