import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorMessage, PsimbolsError } from '../errors.js';
import { isModuleDef, type ModuleDef } from './registry.js';

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);

/** Imports a user module file; TypeScript goes through tsx, which is loaded only then. */
export async function importModuleFile(path: string): Promise<ModuleDef> {
  let namespace: unknown;
  try {
    if (TYPESCRIPT.has(extname(path))) {
      const { tsImport } = await import('tsx/esm/api');
      namespace = await tsImport(pathToFileURL(path).href, import.meta.url);
    } else {
      namespace = await import(pathToFileURL(path).href);
    }
  } catch (e) {
    throw new PsimbolsError('config_invalid', `module ${path}: cannot load (${errorMessage(e).split('\n')[0]})`, { cause: e });
  }
  const def = (namespace as { default?: unknown } | undefined)?.default;
  if (!isModuleDef(def)) throw new PsimbolsError('config_invalid', `module ${path}: the default export must be a defineModule(...) value`);
  return def;
}
