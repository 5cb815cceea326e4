import { workerData } from 'node:worker_threads';
import { importModuleFile } from './module-loader.js';
import { isFunctionError, type ModuleDef } from './registry.js';

// Runs calls of isolated modules inside a piscina worker. The pool terminates this thread when a
// call passes its deadline, which is the only way to stop a synchronous loop.

export type WorkerTask = { readonly path: string; readonly fn: string; readonly params: unknown; readonly client: string };
export type WorkerReply =
  | { readonly ok: true; readonly value: unknown; readonly comment: string | undefined }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly detail: string };

const modules = new Map<string, Promise<ModuleDef>>();
for (const path of (workerData as { paths?: string[] } | undefined)?.paths ?? []) modules.set(path, importModuleFile(path));

export default async function runTask(task: WorkerTask): Promise<WorkerReply> {
  const def = await (modules.get(task.path) ?? importModuleFile(task.path));
  const fn = def.functions[task.fn];
  if (!fn) return { ok: false, code: 'unknown_function', message: `no function ${def.name}.${task.fn}`, detail: '' };
  try {
    const result = await fn.run(task.params, { signal: new AbortController().signal, client: task.client });
    return { ok: true, value: result.value, comment: result.comment };
  } catch (e) {
    if (isFunctionError(e)) return { ok: false, code: e.code, message: e.message, detail: '' };
    return { ok: false, code: 'function_failed', message: '', detail: e instanceof Error ? e.message : String(e) };
  }
}
