// Bundles the CLI (dist/cli/main.js, from tsc) into dist/cli-bundle/ with esbuild, in ES module
// chunks so that each command still loads only what it imports.
//
// ky and commander are inlined because every `psimbols call` loads them, and zod because every
// `serve` does: one bundled file starts faster than Node resolving and reading their many modules
// (serve started in 0.42 s of CPU with zod external, 0.32 inlined). Every other dependency stays
// external: ioredis, piscina, tsx and the prompts are loaded only by the commands that need
// them, and tsx and piscina must be real packages on disk to work at all.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const INLINED = new Set(['ky', 'commander', '@commander-js/extra-typings', 'zod']);
const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const external = Object.keys(pkg.dependencies).filter((name) => !INLINED.has(name));
const outdir = new URL('dist/cli-bundle/', root).pathname;

// Of zod, all but its translations: `z.locales` names every language, so tree-shaking keeps all
// 64 of them (0.36 MB of a 0.75 MB chunk, parsed at every start). psimbols speaks English. A user
// module's zod is the installed package, whole; zod keeps its registry on globalThis, so that
// copy's schemas and this one's work together.
const englishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (a) => (a.importer.includes('/node_modules/zod/') ? { path: 'zod-locales', namespace: 'english' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'english' }, () => ({ contents: `export { default as en } from ${JSON.stringify(new URL('node_modules/zod/v4/locales/en.js', root).pathname)};`, loader: 'js', resolveDir: new URL('.', root).pathname }));
  },
};

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
  plugins: [englishOnly],
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
  plugins: [callOnly, englishOnly],
  // The bundle runs through vm with a code cache (bin/load-call.cjs), where import() has no
  // loader to call: what it imports lazily (node:https for an https server) is required instead.
  supported: { 'dynamic-import': false },
  // Fewer bytes to read and parse on every call; messages are strings and survive.
  minify: process.env.PSIMBOLS_NO_MINIFY === undefined,
  logLevel: 'warning',
  define: { 'import.meta.url': 'importMetaUrl', 'process.env.PSIMBOLS_BUILT_VERSION': JSON.stringify(pkg.version) },
  banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});
