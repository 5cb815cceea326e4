import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { toJSONSchema } from 'zod';
import { paramsProblem } from '../../config/zod-issue.js';
import { nearest } from '../../config/nearest.js';
import { errorMessage, PsimbolsError } from '../../errors.js';
import type { ErrorValue, Params, ReturnValue } from '../../protocol/messages.js';
import { isFunctionError, type Allow, type FunctionDef, type FunctionErrorCode, type FunctionResult, type ModuleDef } from '../modules/module-api.js';
import { packageRoot } from '../modules/loader.js';
import type { WorkerReply, WorkerTask } from '../modules/worker.js';

// Looks up, validates and runs calls. Built-in bounded modules run inline; user modules run in a
// piscina pool by default, so a call past its deadline has its worker terminated.

export type LoadedModule = { readonly def: ModuleDef; readonly path?: string; readonly isolate: boolean };

export type CallOutcome =
  | { readonly ok: true; readonly value: ReturnValue }
  | { readonly ok: false; readonly error: ErrorValue; readonly detail?: string };

type RunnerOptions = {
  readonly callTimeoutMs: number;
  readonly maxConcurrentCalls: number;
  readonly maxThreads?: number;
};

type FunctionListing = {
  readonly module: string;
  readonly function: string;
  readonly description?: string;
  readonly timeoutMs: number;
  readonly params: unknown;
};

type Entry = {
  readonly fn: FunctionDef;
  readonly timeoutMs: number;
  /** Set for a function of an isolated module: the pool and the module file its workers load. */
  readonly worker: { readonly pool: Piscina<WorkerTask, WorkerReply>; readonly path: string } | undefined;
};

const fail = (code: FunctionErrorCode, message: string, detail?: string): CallOutcome => ({ ok: false, error: { code, message }, ...(detail ? { detail } : {}) });

// A module's FunctionError keeps its own code; anything else it throws is function_failed, with
// the detail for the log only.
const thrown = (e: unknown): CallOutcome =>
  isFunctionError(e) ? { ok: false, error: { code: e.code, message: e.message } } : fail('function_failed', 'the function failed', errorMessage(e));

export const success = (value: unknown, comment: string | undefined): CallOutcome => ({ ok: true, value: comment === undefined ? { value } : { value, comment } });

const timedOut = (entry: Entry): CallOutcome => fail('timeout', `the call did not finish within ${entry.timeoutMs} ms`);

function workerFile(): URL {
  return new URL(`server/modules/worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, packageRoot());
}

type Pool = typeof Piscina;
const isolatedPaths = (modules: readonly LoadedModule[]): string[] => modules.flatMap((m) => (m.isolate && m.path ? [m.path] : []));

function createPool(modules: readonly LoadedModule[], maxThreads: number, pool: Pool | undefined): Piscina<WorkerTask, WorkerReply> | undefined {
  const paths = isolatedPaths(modules);
  if (paths.length === 0) return undefined;
  if (!pool) throw new Error('an isolated module needs FunctionRunner.create, which loads piscina');
  return new pool<WorkerTask, WorkerReply>({ filename: workerFile().href, workerData: { paths }, maxThreads, minThreads: 0, idleTimeout: 30_000 });
}

const didYouMean = (name: string | undefined): string => `${name === undefined ? '' : `: did you mean "${name}"?`} ("psimbols functions" lists what this client may call)`;

export class FunctionRunner {
  readonly #modules = new Map<string, Map<string, Entry>>();
  readonly #options: RunnerOptions;
  readonly #pool: Piscina<WorkerTask, WorkerReply> | undefined;
  #active = 0;

  // piscina is loaded only for a config with an isolated module: most have none, and it is six
  // modules to read at every start of serve and of each of its workers.
  static async create(modules: readonly LoadedModule[], options: RunnerOptions): Promise<FunctionRunner> {
    const pool = isolatedPaths(modules).length > 0 ? (await import('piscina')).Piscina : undefined;
    return new FunctionRunner(modules, options, pool);
  }

  constructor(modules: readonly LoadedModule[], options: RunnerOptions, pool?: Pool) {
    this.#options = options;
    this.#pool = createPool(modules, options.maxThreads ?? 2, pool);
    for (const m of modules) {
      if (this.#modules.has(m.def.name)) throw new PsimbolsError('config_invalid', `two modules are named "${m.def.name}"`);
      const worker = m.isolate && m.path && this.#pool ? { pool: this.#pool, path: m.path } : undefined;
      const fns = new Map<string, Entry>();
      for (const [name, fn] of Object.entries(m.def.functions)) fns.set(name, { fn, timeoutMs: fn.timeoutMs ?? options.callTimeoutMs, worker });
      this.#modules.set(m.def.name, fns);
    }
  }

  list(allow: Allow): FunctionListing[] {
    const out: FunctionListing[] = [];
    for (const [module, fns] of this.#modules) {
      for (const [name, entry] of fns) {
        if (!allow(module, name)) continue;
        let params: unknown;
        try {
          params = toJSONSchema(entry.fn.params, { io: 'input', unrepresentable: 'any' });
        } catch {
          params = {};
        }
        out.push({ module, function: name, ...(entry.fn.description ? { description: entry.fn.description } : {}), timeoutMs: entry.timeoutMs, params });
      }
    }
    return out;
  }

  has(module: string, fn: string): boolean {
    return this.#modules.get(module)?.has(fn) ?? false;
  }

  /** Calls waiting for a worker thread, and calls running. */
  load(): { queued: number; active: number } {
    return { queued: this.#pool?.queueSize ?? 0, active: this.#active };
  }

  async invoke(client: string, module: string, fn: string, params: Params, allow: Allow): Promise<CallOutcome> {
    const fns = this.#modules.get(module);
    if (!fns) return fail('unknown_module', `no module "${module}"${didYouMean(nearest(module, this.#modules.keys()))}`);
    const entry = fns.get(fn);
    if (!entry) return fail('unknown_function', `no function "${fn}" in module "${module}"${didYouMean(nearest(fn, [...fns.keys()].filter((f) => allow(module, f))))}`);
    if (!allow(module, fn)) return fail('forbidden', `client "${client}" may not call ${module}.${fn}`);
    const parsed = entry.fn.params.safeParse(params);
    if (!parsed.success) {
      return fail('invalid_params', paramsProblem(parsed.error.issues[0]));
    }
    if (this.#active >= this.#options.maxConcurrentCalls) return fail('busy', 'the server is at its limit of concurrent calls; retry shortly');
    this.#active++;
    try {
      return await (entry.worker ? isolated(entry, entry.worker, { path: entry.worker.path, fn, params: parsed.data, client }) : inline(entry, client, parsed.data));
    } finally {
      this.#active--;
    }
  }

  async close(): Promise<void> {
    await this.#pool?.destroy();
  }
}

// What an inline function is given. The signal (and its controller) is made only when a function
// asks for it: a synchronous function cannot be interrupted anyway, and most built-in calls are
// synchronous. A class, so that a call costs one small object.
class CallContext {
  readonly client: string;
  #controller: AbortController | undefined;

  constructor(client: string) {
    this.client = client;
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  abort(): void {
    this.#controller?.abort();
  }
}

async function inline(entry: Entry, client: string, params: unknown): Promise<CallOutcome> {
  const context = new CallContext(client);
  let result: FunctionResult | Promise<FunctionResult>;
  try {
    result = entry.fn.run(params, context);
  } catch (e) {
    return thrown(e);
  }
  // A module's function may answer at once (FunctionDef.run): then there is no deadline to arm.
  if (!(result instanceof Promise)) return success(result.value, result.comment);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<CallOutcome>((resolve) => {
    timer = setTimeout(() => {
      context.abort();
      resolve(timedOut(entry));
    }, entry.timeoutMs);
  });
  return Promise.race([result.then((r) => success(r.value, r.comment), thrown), deadline]).finally(() => clearTimeout(timer));
}

// A worker that starts (loading tsx and the module) and its call together get this much more
// than the call's deadline: a module whose own loading hangs is stopped too.
const START_ALLOWANCE_MS = 10_000;

/**
 * The deadline is the function's own: its clock starts when a worker begins the call, not while
 * the pool starts a thread or the call waits for one (on a loaded machine a cold start alone took
 * longer than a 5 s deadline).
 */
async function isolated(entry: Entry, worker: NonNullable<Entry['worker']>, task: Omit<WorkerTask, 'started'>): Promise<CallOutcome> {
  const controller = new AbortController();
  const { port1, port2 } = new MessageChannel();
  let deadline: NodeJS.Timeout | undefined;
  port1.once('message', () => {
    clearTimeout(cap);
    deadline = setTimeout(() => controller.abort(), entry.timeoutMs);
  });
  const cap = setTimeout(() => controller.abort(), entry.timeoutMs + START_ALLOWANCE_MS);
  try {
    const reply = await worker.pool.run({ ...task, started: port2 }, { signal: controller.signal, transferList: [port2] });
    if (reply.ok) return success(reply.value, reply.comment);
    return reply.code === undefined ? fail('function_failed', 'the function failed', reply.detail) : { ok: false, error: { code: reply.code, message: reply.message } };
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') return timedOut(entry);
    return fail('function_failed', 'the function failed', errorMessage(e));
  } finally {
    clearTimeout(cap);
    clearTimeout(deadline);
    port1.close();
  }
}
