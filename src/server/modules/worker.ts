import { workerData, type MessagePort } from 'node:worker_threads';
import { errorMessage } from '../../errors.js';
import { importModuleFile } from './loader.js';
import { isFunctionError, type ModuleDef } from './module-api.js';

// Runs calls of isolated modules inside a piscina worker. The pool terminates this thread when a
// call passes its deadline, which is the only way to stop a synchronous loop.

export type WorkerTask = {
  readonly path: string;
  readonly fn: string;
  readonly params: unknown;
  readonly client: string;
  /** Told once the module is loaded and the call begins: the call's deadline starts then. */
  readonly started: MessagePort;
};
/** A FunctionError comes back with its code; anything else thrown, without one, as detail for the log. */
export type WorkerReply =
  | { readonly ok: true; readonly value: unknown; readonly comment: string | undefined }
  | { readonly ok: false; readonly code: string; readonly message: string }
  | { readonly ok: false; readonly code: undefined; readonly detail: string };

const modules = new Map<string, Promise<ModuleDef>>();
for (const path of (workerData as { paths?: string[] } | undefined)?.paths ?? []) modules.set(path, importModuleFile(path));

export default async function runTask(task: WorkerTask): Promise<WorkerReply> {
  const def = await (modules.get(task.path) ?? importModuleFile(task.path));
  task.started.postMessage(0);
  task.started.close();
  try {
    // The runner looked the function up before sending the task; a miss here throws like a bug.
    const result = await def.functions[task.fn]!.run(task.params, { signal: new AbortController().signal, client: task.client });
    return { ok: true, value: result.value, comment: result.comment };
  } catch (e) {
    if (isFunctionError(e)) return { ok: false, code: e.code, message: e.message };
    return { ok: false, code: undefined, detail: errorMessage(e) };
  }
}
