// Plaintext shapes inside the envelope (docs/PROTOCOL.md, "Plaintexts"). Hand-written checks
// rather than zod: the client path must not pay zod's load time.

export type Params = { readonly [k: string]: unknown };

export type RunRequest = {
  readonly request_id: string;
  readonly run: { readonly module: string; readonly function: string; readonly params: Params };
};

export type ReturnValue = { readonly value: unknown; readonly comment?: string };
export type ErrorValue = { readonly code: string; readonly message: string };

export type RunResponse =
  | { readonly request_id: string; readonly return: ReturnValue }
  | { readonly request_id: string; readonly error: ErrorValue };

/** A clock answer's plaintext: the server's time, for a request stamped outside its window (PROTOCOL.md, "Clock answers"). */
export type ClockAnswer = { readonly request_id: string; readonly clock: { readonly now: number } };

const MAX_REQUEST_ID = 128;
/** The built-in call that lists what a client may call (PROTOCOL.md): `psimbols.functions`. */
export const LIST_FUNCTIONS = { module: 'psimbols', function: 'functions' } as const;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const isName = (s: string): boolean => NAME.test(s);

/** Unicode code points, as Python's len() counts a str (PROTOCOL.md, "Plaintexts"). */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n;
}

// A request id of 1 to 128 code points; at most 256 UTF-16 units, so the count stays cheap.
const isRequestId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 2 * MAX_REQUEST_ID && codePoints(v) <= MAX_REQUEST_ID;

export function parseRunRequest(value: unknown): RunRequest | undefined {
  if (!isObject(value) || !isRequestId(value.request_id)) return undefined;
  const run = value.run;
  if (!isObject(run)) return undefined;
  const { module, function: fn } = run;
  if (typeof module !== 'string' || !isName(module) || typeof fn !== 'string' || !isName(fn)) return undefined;
  const params = run.params === undefined ? {} : run.params;
  if (!isObject(params)) return undefined;
  return { request_id: value.request_id, run: { module, function: fn, params } };
}

export function parseClockAnswer(value: unknown): ClockAnswer | undefined {
  if (!isObject(value) || !isRequestId(value.request_id) || !isObject(value.clock)) return undefined;
  const now = value.clock.now;
  return Number.isSafeInteger(now) && typeof now === 'number' && now >= 0 ? { request_id: value.request_id, clock: { now } } : undefined;
}

export function parseRunResponse(value: unknown): RunResponse | undefined {
  if (!isObject(value) || !isRequestId(value.request_id)) return undefined;
  const ret = value.return;
  const err = value.error;
  if (isObject(ret) && err === undefined && 'value' in ret) {
    if (ret.comment !== undefined && typeof ret.comment !== 'string') return undefined;
    const r: ReturnValue = ret.comment === undefined ? { value: ret.value } : { value: ret.value, comment: ret.comment };
    return { request_id: value.request_id, return: r };
  }
  if (isObject(err) && ret === undefined && typeof err.code === 'string' && typeof err.message === 'string') {
    return { request_id: value.request_id, error: { code: err.code, message: err.message } };
  }
  return undefined;
}

/** JSON.parse that never throws; invalid UTF-8 must be checked by the caller first. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
