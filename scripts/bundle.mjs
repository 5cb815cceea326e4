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
rmSync(new URL('dist/cli-call/', root), { recursive: true, force: true });
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
  define: { 'process.env.PSIMBOLS_BUILT_VERSION': JSON.stringify(pkg.version) },
  // commander is CommonJS: its require() calls need a require in an ES module.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
});

// `psimbols call` is what scripts run most, so it starts from a bundle of its own: one CommonJS
// file with only the call command (other commands stay out: it never declares them). Node 20
// loads one CommonJS file faster than an ES module graph of chunks. commander's only use of
// child_process is for executable subcommands, which psimbols has none of, and loading it costs
// a few milliseconds of every call: a stub stands in for it here.
const callOnly = {
  name: 'call-only',
  setup(b) {
    b.onResolve({ filter: /\/commands\/[^/]+\.js$/ }, (a) => (/\/call(-batch)?\.js$/.test(a.path) ? undefined : { path: a.path, external: true }));
    b.onResolve({ filter: /^(node:)?child_process$/ }, () => ({ path: 'child_process', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: "exports.spawn = () => { throw new Error('psimbols has no executable subcommands'); };", loader: 'js' }));
  },
};
await build({
  entryPoints: [new URL('dist/cli/main.js', root).pathname],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: new URL('dist/cli-call/main.cjs', root).pathname,
  external,
  plugins: [callOnly],
  // The bundle runs through vm with a code cache (bin/load-call.cjs), where import() has no
  // loader to call: what it imports lazily (node:https for an https server) is required instead.
  supported: { 'dynamic-import': false },
  // Fewer bytes to read and parse on every call; messages are strings and survive.
  minify: process.env.PSIMBOLS_NO_MINIFY === undefined,
  logLevel: 'warning',
  define: { 'import.meta.url': 'importMetaUrl', 'process.env.PSIMBOLS_BUILT_VERSION': JSON.stringify(pkg.version) },
  banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});
