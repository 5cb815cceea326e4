// Bundles the CLI (dist/cli/main.js, from tsc) into dist/cli-bundle/ with esbuild, in ES module
// chunks so that each command still loads only what it imports.
//
// ky and commander are inlined because every `psimbols call` loads them: one bundled file starts
// faster than Node resolving and reading their many modules. Every other dependency stays
// external: the server's (zod, piscina, ioredis, tsx) and the prompts are loaded only by the
// commands that need them, and tsx and piscina must be real packages on disk to work at all.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const INLINED = new Set(['ky', 'commander', '@commander-js/extra-typings']);
const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const external = Object.keys(pkg.dependencies).filter((name) => !INLINED.has(name));
const outdir = new URL('dist/cli-bundle/', root).pathname;

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [new URL('dist/cli/main.js', root).pathname],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  external,
  logLevel: 'warning',
  // commander is CommonJS: its require() calls need a require in an ES module.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
});
