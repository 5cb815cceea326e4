import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { errorMessage, PsimbolsError } from '../errors.js';
import { MODULE_HOOKS } from './module-hooks.js';
import { isModuleDef, type ModuleDef } from './registry.js';

// Relative to the package's server folder, so the path holds from dist/server/ and from the CLI
// bundle in dist/cli-bundle/ alike; under tsx (tests) the files are .ts.
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
let hooked = false;

/**
 * Once per thread, before the first user module: tsx for TypeScript (loaded only then), then
 * module-hooks.ts, whose hooks run first.
 */
async function hookLoading(): Promise<void> {
  if (hooked) return;
  hooked = true;
  (await import('tsx/esm/api')).register();
  const data = { psimbols: new URL(`../index.${ext}`, import.meta.url).href, parent: import.meta.url };
  register(MODULE_HOOKS, { data });
}

/** Imports a user module file, written in TypeScript or JavaScript, wherever it lives. */
export async function importModuleFile(path: string): Promise<ModuleDef> {
  let namespace: unknown;
  try {
    await hookLoading();
    namespace = await import(pathToFileURL(path).href);
  } catch (e) {
    throw new PsimbolsError('config_invalid', `module ${path}: cannot load (${errorMessage(e).split('\n')[0]})`, { cause: e });
  }
  const def = (namespace as { default?: unknown } | undefined)?.default;
  if (!isModuleDef(def)) throw new PsimbolsError('config_invalid', `module ${path}: the default export must be a defineModule(...) value`);
  return def;
}
