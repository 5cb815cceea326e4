import { Piscina } from 'piscina';
import { toJSONSchema } from 'zod';
import { PsimbolsError, type FunctionErrorCode } from '../errors.js';
import type { ErrorValue, Params, ReturnValue } from '../protocol/messages.js';
import { isFunctionError, type Allow, type FunctionDef, type FunctionResult, type ModuleDef } from './registry.js';
import type { WorkerReply, WorkerTask } from './module-worker.js';

// Looks up, validates and runs calls. Built-in bounded modules run inline; user modules run in a
// piscina pool by default, so a call past its deadline has its worker terminated.

export type LoadedModule = { readonly def: ModuleDef; readonly path?: string; readonly isolate: boolean };

export type CallOutcome =
  | { readonly ok: true; readonly value: ReturnValue }
  | { readonly ok: false; readonly error: ErrorValue; readonly detail?: string };

export type RunnerOptions = {
  readonly callTimeoutMs: number;
  readonly maxConcurrentCalls: number;
  readonly maxThreads?: number;
};

export type FunctionListing = {
  readonly module: string;
  readonly function: string;
  readonly description?: string;
  readonly timeoutMs: number;
  readonly params: unknown;
};

type Entry = { readonly module: LoadedModule; readonly fn: FunctionDef; readonly timeoutMs: number };

const fail = (code: FunctionErrorCode | (string & {}), message: string, detail?: string): CallOutcome => ({ ok: false, error: { code, message }, ...(detail ? { detail } : {}) });

const success = (r: FunctionResult): CallOutcome => ({ ok: true, value: r.comment === undefined ? { value: r.value } : { value: r.value, comment: r.comment } });

function failure(e: unknown): CallOutcome {
  if (isFunctionError(e)) return fail(e.code, e.message);
  return fail('function_failed', 'the function failed', e instanceof Error ? e.message : String(e));
}

function workerFile(): URL {
  // Relative to the package's server folder, so the path holds from dist/server/ and from the CLI
  // bundle in dist/cli-bundle/ alike; under tsx (tests) both files are .ts.
  return new URL(import.meta.url.endsWith('.ts') ? '../server/module-worker.ts' : '../server/module-worker.js', import.meta.url);
}

export class FunctionRunner {
  readonly #modules = new Map<string, Map<string, Entry>>();
  readonly #options: RunnerOptions;
  readonly #pool: Piscina<WorkerTask, WorkerReply> | undefined;
  #active = 0;

  constructor(modules: readonly LoadedModule[], options: RunnerOptions) {
    this.#options = options;
    const isolated: string[] = [];
    for (const m of modules) {
      if (this.#modules.has(m.def.name)) throw new PsimbolsError('config_invalid', `two modules are named "${m.def.name}"`);
      const fns = new Map<string, Entry>();
      for (const [name, fn] of Object.entries(m.def.functions)) fns.set(name, { module: m, fn, timeoutMs: fn.timeoutMs ?? options.callTimeoutMs });
      this.#modules.set(m.def.name, fns);
      if (m.isolate && m.path) isolated.push(m.path);
    }
    this.#pool =
      isolated.length === 0
        ? undefined
        : new Piscina<WorkerTask, WorkerReply>({
            filename: workerFile().href,
            workerData: { paths: isolated },
            maxThreads: options.maxThreads ?? 2,
            minThreads: 0,
            idleTimeout: 30_000,
          });
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

  async invoke(client: string, module: string, fn: string, params: Params, allow: Allow): Promise<CallOutcome> {
    const fns = this.#modules.get(module);
    if (!fns) return fail('unknown_module', `no module "${module}"`);
    const entry = fns.get(fn);
    if (!entry) return fail('unknown_function', `no function "${fn}" in module "${module}"`);
    if (!allow(module, fn)) return fail('forbidden', `client "${client}" may not call ${module}.${fn}`);
    const parsed = entry.fn.params.safeParse(params);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(params)';
      const problem = issue?.code === 'unrecognized_keys' ? `unknown parameter ${issue.keys.join(', ')}` : (issue?.message ?? 'invalid');
      return fail('invalid_params', `${where}: ${problem}`);
    }
    if (this.#active >= this.#options.maxConcurrentCalls) return fail('busy', 'the server is at its limit of concurrent calls; retry shortly');
    this.#active++;
    try {
      return entry.module.isolate && entry.module.path && this.#pool
        ? await this.#isolated(entry, entry.module.path, client, fn, parsed.data)
        : await this.#inline(entry, client, parsed.data);
    } finally {
      this.#active--;
    }
  }

  async #inline(entry: Entry, client: string, params: unknown): Promise<CallOutcome> {
    // The signal and the deadline timer are made only for calls that go async: a synchronous
    // function cannot be interrupted anyway, and most built-in calls are synchronous.
    let controller: AbortController | undefined;
    const context = {
      client,
      get signal(): AbortSignal {
        controller ??= new AbortController();
        return controller.signal;
      },
    };
    let result: FunctionResult | Promise<FunctionResult>;
    try {
      result = entry.fn.run(params, context);
    } catch (e) {
      return failure(e);
    }
    if (!(result instanceof Promise)) return success(result);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<CallOutcome>((resolve) => {
      timer = setTimeout(() => {
        controller?.abort();
        resolve(fail('timeout', `the call did not finish within ${entry.timeoutMs} ms`));
      }, entry.timeoutMs);
    });
    try {
      return await Promise.race([result.then(success, failure), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #isolated(entry: Entry, path: string, client: string, fn: string, params: unknown): Promise<CallOutcome> {
    const pool = this.#pool;
    if (!pool) return fail('function_failed', 'no worker pool');
    try {
      const reply = await pool.run({ path, fn, params, client }, { signal: AbortSignal.timeout(entry.timeoutMs) });
      if (reply.ok) return { ok: true, value: reply.comment === undefined ? { value: reply.value } : { value: reply.value, comment: reply.comment } };
      return reply.code === 'function_failed' ? fail('function_failed', 'the function failed', reply.detail) : fail(reply.code, reply.message);
    } catch (e) {
      if (e instanceof Error && e.name === 'AbortError') return fail('timeout', `the call did not finish within ${entry.timeoutMs} ms`);
      return fail('function_failed', 'the function failed', e instanceof Error ? e.message : String(e));
    }
  }

  async close(): Promise<void> {
    await this.#pool?.destroy();
  }
}
