import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { errorMessage, PsimbolsError } from '../../errors.js';
import { MODULE_HOOKS } from './hooks.js';
import { isModuleDef, type ModuleDef } from './module-api.js';

// The package's root folder (dist/, or src/ under tsx, where the files are .ts): this file is two
// folders below it, or one in the CLI bundle (dist/cli-bundle/).
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
export const packageRoot = (): URL => new URL(/\/cli-bundle\/[^/]*$/.test(import.meta.url) ? '../' : '../../', import.meta.url);
let hooks = false;
let tsx = false;
const TYPESCRIPT = /\.[mc]?tsx?$/;

// Once per thread, before the first user module: the hooks of hooks.ts. Before the first module in
// TypeScript, tsx (only then: it costs a thread about 0.35 s of CPU, and more for each file loaded
// after it), then those hooks again, so that they still run first.
async function hookLoading(path: string): Promise<void> {
  // Under tsx (ext 'ts'), `psimbols` itself is TypeScript.
  if (!tsx && (TYPESCRIPT.test(path) || ext === 'ts')) {
    tsx = true;
    (await import('tsx/esm/api')).register();
    hooks = false;
  }
  if (hooks) return;
  hooks = true;
  const data = { psimbols: new URL(`index.${ext}`, packageRoot()).href, parent: import.meta.url };
  register(MODULE_HOOKS, { data });
}

// The compiler's own words, where the file fails to compile: esbuild (through tsx) puts
// "file:line:column: ERROR: message" on the line after its "Transform failed" summary.
function loadProblem(message: string): string {
  const lines = message.split('\n');
  const located = lines.map((l) => /^(.+:\d+:\d+): ERROR: (.*)$/.exec(l)).find((m) => m !== null);
  return located ? `${located[1]}: ${located[2]}` : (lines[0] ?? message);
}

/** Imports a user module file, written in TypeScript or JavaScript, wherever it lives. */
export async function importModuleFile(path: string): Promise<ModuleDef> {
  let namespace: unknown;
  try {
    await hookLoading(path);
    namespace = await import(pathToFileURL(path).href);
  } catch (e) {
    throw new PsimbolsError('config_invalid', `module ${path}: cannot load: ${loadProblem(errorMessage(e))}`, { cause: e });
  }
  const def = (namespace as { default?: unknown } | undefined)?.default;
  if (!isModuleDef(def)) throw new PsimbolsError('config_invalid', `module ${path}: the default export must be a defineModule(...) value`);
  return def;
}
