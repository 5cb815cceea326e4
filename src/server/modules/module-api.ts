import type { output, ZodType } from 'zod';

// A module is a named set of functions; each declares a zod schema for its params and returns
// {value, comment?} or throws a FunctionError (README, "Writing a module").

export type FunctionResult = { readonly value: unknown; readonly comment?: string };

/**
 * The codes the server itself gives a function-level error (docs/PROTOCOL.md, "Plaintexts"). A
 * module's own `FunctionError` may carry any code; these are the ones psimbols decides.
 */
export type FunctionErrorCode = 'unknown_module' | 'unknown_function' | 'invalid_params' | 'forbidden' | 'function_failed' | 'timeout' | 'busy' | 'rate_limited';

export type CallContext = {
  /** Aborted when the call's deadline passes; long async work should stop when it fires. */
  readonly signal: AbortSignal;
  /** The verified id of the calling client. */
  readonly client: string;
};

export type FunctionDef<S extends ZodType = ZodType> = {
  readonly params: S;
  readonly description?: string;
  /** Deadline for one call, overriding the server's callTimeoutMs. */
  readonly timeoutMs?: number;
  readonly run: (params: output<S>, context: CallContext) => FunctionResult | Promise<FunctionResult>;
};

export type ModuleDef = {
  readonly name: string;
  readonly description?: string;
  /** Run calls in a worker thread that is killed at the deadline (default true for user modules). */
  readonly isolate?: boolean;
  readonly functions: { readonly [name: string]: FunctionDef };
};

/**
 * Declares a module of functions with typed params.
 *
 * @example
 * export default defineModule({
 *   name: 'text',
 *   functions: {
 *     reverse: { params: z.object({ s: z.string() }), run: ({ s }) => ({ value: [...s].reverse().join('') }) },
 *   },
 * });
 */
export function defineModule<T extends Record<string, ZodType>>(def: {
  readonly name: string;
  readonly description?: string;
  readonly isolate?: boolean;
  readonly functions: { readonly [K in keyof T]: FunctionDef<T[K]> };
}): ModuleDef {
  return def as unknown as ModuleDef;
}

/**
 * Thrown by a function to send a typed error to the client (as `{"error": {code, message}}`).
 *
 * @example
 * throw new FunctionError('not_found', `no user ${id}`);
 */
export class FunctionError extends Error {
  override readonly name = 'FunctionError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

// By shape, not instanceof: a user module loaded through tsx gets its own copy of this file.
export const isFunctionError = (e: unknown): e is FunctionError =>
  e instanceof Error && e.name === 'FunctionError' && typeof (e as { code?: unknown }).code === 'string';

export const isModuleDef = (v: unknown): v is ModuleDef => {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return typeof m.name === 'string' && typeof m.functions === 'object' && m.functions !== null;
};

/** `*`, `module`, `module.*` or `module.function`, compiled once per client. */
export type Allow = (module: string, fn: string) => boolean;

export function compileAllow(patterns: readonly string[]): Allow {
  if (patterns.includes('*')) return () => true;
  const whole = new Set<string>();
  const exact = new Set<string>();
  for (const p of patterns) {
    const [m, f] = p.split('.');
    if (f === undefined || f === '*') whole.add(m ?? p);
    else exact.add(p);
  }
  return (module, fn) => whole.has(module) || exact.has(`${module}.${fn}`);
}
