import type { Admission, AdmissionRequest } from './admission.js';

// One admission request and answer cross two transports: a cluster worker's IPC message to its
// primary, and the ARGV of Redis's admission script. Both are built from the tables below, so a
// field is added in one place and its position follows everywhere.

/** The request's fields, in the order every transport carries them. */
export const REQUEST_FIELDS = ['client', 'nonceKey', 'nonceTtlMs', 'limit', 'windowMs', 'ts', 'pastSeconds', 'futureSeconds'] as const satisfies readonly (keyof AdmissionRequest)[];
/** The answer's kinds, carried as their index. */
export const ANSWER_KINDS = ['allowed', 'limited', 'replayed', 'stale', 'future', 'before_start', 'forgotten'] as const satisfies readonly Admission['kind'][];

type Field = (typeof REQUEST_FIELDS)[number];
const STRINGS: ReadonlySet<Field> = new Set(['client', 'nonceKey']);

/** A request as a flat array (JSON-safe: a missing ts is null). */
export type EncodedRequest = readonly (string | number | null)[];
/** An answer as [kind index, limit, remaining, resetMs]. */
export type EncodedAnswer = readonly [number, number, number, number];

export const encodeRequest = (r: AdmissionRequest): EncodedRequest => REQUEST_FIELDS.map((f) => r[f] ?? null);

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The request a worker sent, or undefined when it is not one. */
export function decodeRequest(v: unknown): AdmissionRequest | undefined {
  if (!Array.isArray(v) || v.length !== REQUEST_FIELDS.length) return undefined;
  const [client, nonceKey, nonceTtlMs, limit, windowMs, ts, pastSeconds, futureSeconds]: unknown[] = v;
  if (typeof client !== 'string' || typeof nonceKey !== 'string') return undefined;
  if (!finite(nonceTtlMs) || !finite(limit) || !finite(windowMs) || !finite(pastSeconds) || !finite(futureSeconds)) return undefined;
  if (ts !== null && !finite(ts)) return undefined;
  return { client, nonceKey, nonceTtlMs, limit, windowMs, ts: ts ?? undefined, pastSeconds, futureSeconds };
}

export function encodeAnswer(a: Admission): EncodedAnswer {
  const kind = ANSWER_KINDS.indexOf(a.kind);
  return 'limit' in a ? [kind, a.limit, a.remaining, a.resetMs] : [kind, 0, 0, 0];
}

const UNITS = new Map<string, Admission>(ANSWER_KINDS.filter((k) => k !== 'allowed' && k !== 'limited').map((kind) => [kind, { kind } as const]));

/** An answer from its kind index and numbers (from IPC, or from the Lua script with the request's limit). */
export function decodeAnswer(v: unknown): Admission | undefined {
  if (!Array.isArray(v) || v.length !== 4) return undefined;
  const [index, limit, remaining, resetMs]: unknown[] = v;
  if (!finite(index) || !finite(limit) || !finite(remaining) || !finite(resetMs)) return undefined;
  const kind = ANSWER_KINDS[index];
  if (kind === 'allowed' || kind === 'limited') return { kind, limit, remaining, resetMs };
  return kind === undefined ? undefined : UNITS.get(kind);
}

// Lua: the request's fields are ARGV[1..n] in table order, then the script's own arguments; the
// answer's kind is returned as its index. The script is written against the names this prelude
// declares (`r.client`, `KIND.replayed`), never against positions.

/** ARGV for a request followed by a script's own arguments (named in `extra`, in that order). */
export function luaArgv(r: AdmissionRequest, extra: readonly (string | number)[]): (string | number)[] {
  // ARGV is strings: a missing ts (null in the IPC encoding) is '', which tonumber reads as nil.
  return [...encodeRequest(r).map((v) => v ?? ''), ...extra];
}

/** Declares `r.<field>` for each request field, `x.<name>` for each extra argument, and `KIND.<kind>`. */
export function luaPrelude(extra: readonly string[]): string {
  const field = (f: Field, i: number): string => `r.${f} = ${STRINGS.has(f) ? `ARGV[${i + 1}]` : `tonumber(ARGV[${i + 1}])`}`;
  const arg = (name: string, i: number): string => `x.${name} = ARGV[${REQUEST_FIELDS.length + i + 1}]`;
  const kind = (k: string, i: number): string => `KIND.${k} = ${i}`;
  return ['local r, x, KIND = {}, {}, {}', ...REQUEST_FIELDS.map(field), ...extra.map(arg), ...ANSWER_KINDS.map(kind), ''].join('\n');
}
