import { randomUUID } from 'node:crypto';
import type { ClientConfig } from '../config/client-config.js';
import { errnoCode, errorMessage, isPsimbolsError, PsimbolsError } from '../errors.js';
import { openClock, openResponse, sealRequest } from '../protocol/envelope.js';
import { nodeFetchWithBody, tooLarge } from './node-fetch.js';
import { printable } from '../protocol/printable.js';
import { prepareKey } from '../protocol/keys.js';
import { openLegacyResponse, sealLegacyRequest } from '../protocol/legacy-cbc.js';
import { parseJson, type ClockAnswer, type Params, type ReturnValue, type RunRequest, type RunResponse } from '../protocol/messages.js';
import { parseOuterResponse, type OuterRequest } from '../protocol/outer.js';
import type { Result } from '../protocol/result.js';

export type SealedCall = {
  readonly requestId: string;
  readonly outer: OuterRequest;
  /** Opens the response token; it only opens for this request. */
  readonly open: (responseToken: string) => Result<RunResponse>;
  /** Opens a clock answer to this request (ps2 only). */
  readonly openClock?: (token: string) => Result<ClockAnswer>;
};

export type CallOptions = {
  /** POST here instead of the config's `server` (the identity bound into the envelope stays the config's). */
  readonly endpoint?: string;
  /** Per attempt; 0 waits as long as it takes. Default 10 000. */
  readonly timeoutMs?: number;
  /** Extra attempts after a network failure, timeout or 503; each one is sealed afresh. */
  readonly retry?: number;
  /** Told before each retry how long it waits and why. */
  readonly onRetry?: (attempt: number, delayMs: number, reason: PsimbolsError) => void;
  /** Told when the server's clock answer moves this process's clock offset (seconds, server minus local). */
  readonly onClockSkew?: (offsetSeconds: number) => void;
  readonly requestId?: string;
  /** A response body past this many bytes is refused unread (default 8 MiB). */
  readonly maxResponseBytes?: number;
  /** For an https server: the only certificates to trust (PEM), instead of Node's list, as curl's --cacert. */
  readonly ca?: readonly string[];
  /** For an https server whose issuer Node's list does not know: more certificates to try once (the system's store). */
  readonly moreCa?: () => Promise<readonly string[]>;
  readonly fetch?: typeof fetch;
};

/**
 * Seals one call for a client config without sending it.
 *
 * @example
 * const sealed = sealCall(config, 'supermath', 'factorial', { n: 3 });
 * console.log(JSON.stringify(sealed.outer));
 */
export function sealCall(config: ClientConfig, module: string, fn: string, params: Params, requestId: string = randomUUID(), now?: number): SealedCall {
  const message: RunRequest = { request_id: requestId, run: { module, function: fn, params } };
  const key = prepareKey(config.key);
  if (key.kind === 'legacy') {
    return {
      requestId,
      outer: { client: config.client, server: config.server, request: sealLegacyRequest(message, key) },
      open: (token) => openLegacyResponse(token, key),
    };
  }
  const request = sealRequest(message, { client: config.client, server: config.server, key, ...(now === undefined ? {} : { now }) });
  const bound = { client: config.client, server: config.server, key, requestToken: request };
  return {
    requestId,
    outer: { client: config.client, server: config.server, request },
    open: (token) => openResponse(token, bound),
    openClock: (token) => openClock(token, bound),
  };
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

function retryAfterOf(header: string | null): number | undefined {
  const n = header === null ? NaN : Number(header);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** The `message` of a server's plain JSON error body, if it has one, safe to print: it is not authenticated. */
function serverMessage(text: string): string | undefined {
  const body = parseJson(text) as { message?: unknown } | undefined;
  return typeof body?.message === 'string' ? printable(body.message) : undefined;
}

function openOuter(sealed: SealedCall, text: string, status: number): RunResponse {
  const outer = parseOuterResponse(parseJson(text));
  if (outer === undefined || outer.client !== sealed.outer.client) {
    throw new PsimbolsError('bad_response', `the server answered ${status} without a psimbols response`, { status });
  }
  const opened = sealed.open(outer.response);
  if (!opened.ok) throw new PsimbolsError('bad_response', `the response does not open with our key for this request (${opened.reason})`, { status, reason: opened.reason });
  if (opened.value.request_id !== sealed.requestId) throw new PsimbolsError('bad_response', 'the response carries another request id', { status });
  return opened.value;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const maxBytesOf = (o: CallOptions): number => o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;

// Our transport already stopped at the cap; a caller's fetch is read here, and stopped there too.
async function boundedText(res: Response, maxBytes: number): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      size += r.value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw tooLarge(maxBytes);
      }
      chunks.push(r.value);
    }
  } catch (e) {
    if (e instanceof PsimbolsError) throw e;
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ky loads on the first send: sealCall, and a user module's worker thread that imports this
// package for defineModule, do without it.
async function postOnce(endpoint: string, sealed: SealedCall, o: CallOptions, ca: readonly string[] | undefined): Promise<Response> {
  const payload = JSON.stringify(sealed.outer);
  const { default: ky } = await import('ky');
  return ky.post(endpoint, {
    headers: JSON_HEADERS,
    // A fetch of the caller's gets the body in the Request; ours sends it from here.
    ...(o.fetch ? { body: payload, fetch: o.fetch } : { fetch: nodeFetchWithBody(payload, maxBytesOf(o), ca) }),
    // A redirect is reported, never followed: the envelope is bound to one server.
    redirect: 'manual',
    timeout: o.timeoutMs === 0 ? false : (o.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    retry: 0,
    throwHttpErrors: false,
  });
}

// OpenSSL's words for a certificate chain that does not reach a trusted issuer.
const UNKNOWN_ISSUER = new Set(['UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT']);
const BAD_CERTIFICATE = new Set([...UNKNOWN_ISSUER, 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_REVOKED', 'INVALID_CA', 'ERR_TLS_CERT_ALTNAME_INVALID']);
// OpenSSL's words alone ("wrong version number"), not its source file and line.
const opensslReason = (e: unknown): string => (typeof e === 'object' && e !== null && 'reason' in e && typeof e.reason === 'string' ? e.reason : errorMessage(e).split('\n')[0] ?? '');
const innerOf = (e: unknown): unknown => (e instanceof Error && e.cause instanceof Error ? e.cause : e);

// A certificate that does not verify is a server not to talk to, never an outage to retry.
function untrusted(endpoint: string, code: string, inner: unknown, e: unknown): PsimbolsError {
  const why = errorMessage(inner);
  const next =
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? `it is not for ${new URL(endpoint).hostname}: use a URL with a name it carries`
    : code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID' ? 'the server must renew it, or this machine\'s clock is wrong'
    : 'trust the CA that signed it with --cacert FILE (or NODE_EXTRA_CA_CERTS)';
  return new PsimbolsError('untrusted_server', `${endpoint}: its certificate does not verify (${code}: ${why}); ${next}`, { cause: e });
}

function transportError(endpoint: string, e: unknown, o: CallOptions): PsimbolsError {
  if (e instanceof PsimbolsError) return e;
  // ky's TimeoutError, by name: ky is loaded only to send.
  if (e instanceof Error && e.name === 'TimeoutError') return new PsimbolsError('request_timeout', `no answer from ${endpoint} within ${(o.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s`, { cause: e });
  const inner = innerOf(e);
  const code = errnoCode(inner);
  if (code !== undefined && BAD_CERTIFICATE.has(code)) return untrusted(endpoint, code, inner, e);
  // Node's HTTP parser refused what came back: not an outage, something that is not HTTP.
  if (code?.startsWith('HPE_')) return new PsimbolsError('bad_response', `${endpoint} answered with something that is not HTTP (${code})`, { cause: e });
  if (code === 'EPROTO' && endpoint.startsWith('https:')) return new PsimbolsError('bad_response', `${endpoint} does not answer in TLS (${opensslReason(inner)}): if it serves plain HTTP, use an http:// URL`, { cause: e });
  // A name that does not resolve at all is a typo to fix, not an outage to retry.
  if (code === 'ENOTFOUND') return new PsimbolsError('usage', `cannot reach ${endpoint}: no such host ${new URL(endpoint).hostname}; check --server, or "server" in the client config`, { cause: e });
  if (code === 'ECONNREFUSED') return new PsimbolsError('network', `cannot reach ${endpoint}: nothing is listening there (ECONNREFUSED); "psimbols serve" starts the server`, { cause: e });
  // An HTTPS server hangs up on plain HTTP without a word.
  const https = code === 'ECONNRESET' && endpoint.startsWith('http:') ? '; if the server serves HTTPS, use an https:// URL' : '';
  return new PsimbolsError('network', `cannot reach ${endpoint}: ${errorMessage(inner)}${https}`, { cause: e });
}

async function post(endpoint: string, sealed: SealedCall, o: CallOptions): Promise<Response> {
  try {
    return await postOnce(endpoint, sealed, o, o.ca);
  } catch (e) {
    const code = errnoCode(innerOf(e));
    if (o.moreCa === undefined || o.ca !== undefined || code === undefined || !UNKNOWN_ISSUER.has(code)) throw transportError(endpoint, e, o);
  }
  // Node's list does not know the issuer. The handshake failed, so nothing was sent: try once
  // more with the system's store, read only now, since building it costs tens of milliseconds.
  const ca = await o.moreCa();
  return postOnce(endpoint, sealed, o, ca).catch((e: unknown) => Promise.reject(transportError(endpoint, e, o)));
}

/** The server's time from a clock answer to this very request, when the 401 carries one that opens. */
function serverClock(sealed: SealedCall, text: string): number | undefined {
  const body = parseJson(text) as { client?: unknown; clock?: unknown } | undefined;
  if (typeof body?.clock !== 'string' || body.client !== sealed.outer.client || sealed.openClock === undefined) return undefined;
  const opened = sealed.openClock(body.clock);
  return opened.ok && opened.value.request_id === sealed.requestId ? opened.value.clock.now : undefined;
}

// The server says nothing about why it refused; the client says what it can see.
function unauthorizedHint(endpoint: string, boundTo: string): string {
  const elsewhere = endpoint === boundTo ? '' : ` It was sent to ${endpoint} but is bound to ${boundTo} (the config's "server"): the server accepts it only if that is the URL it registered for this client.`;
  return `${endpoint} refused the request (401): check the client id, the key and the clock.${elsewhere} The server's log names the reason; "psimbols inspect" explains a token (call --offline | psimbols inspect - --client-config FILE).`;
}

/** What an answer means: the opened response of a 200, or the error its status stands for. */
function interpret(endpoint: string, sealed: SealedCall, res: Response, text: string): RunResponse {
  switch (res.status) {
    case 200:
      return openOuter(sealed, text, 200);
    case 401: {
      const serverTime = serverClock(sealed, text);
      if (serverTime !== undefined) throw new PsimbolsError('unauthorized', `${endpoint} refused the request (401): it is stamped outside the server's window, whose clock reads ${new Date(serverTime * 1000).toISOString()}`, { status: 401, serverTime });
      throw new PsimbolsError('unauthorized', unauthorizedHint(endpoint, sealed.outer.server ?? ''), { status: 401 });
    }
    case 429: {
      const retryAfter = retryAfterOf(res.headers.get('retry-after'));
      let message = `too many requests: retry in ${retryAfter ?? '?'} s`;
      try {
        const r = openOuter(sealed, text, 429);
        if ('error' in r) message = r.error.message;
      } catch {
        message = serverMessage(text) ?? message;
      }
      throw new PsimbolsError('rate_limited', message, { status: 429, retryAfter });
    }
    case 503: {
      const retryAfter = retryAfterOf(res.headers.get('retry-after'));
      throw new PsimbolsError('unavailable', `${endpoint} is unavailable (503): retry in ${retryAfter ?? 'a few'} s`, { status: 503, retryAfter });
    }
    case 301:
    case 302:
    case 303:
    case 307:
    case 308: {
      const location = res.headers.get('location');
      const where = location === null ? 'elsewhere' : `to ${printable(location, 200)}`;
      throw new PsimbolsError('http_error', `${endpoint} redirects ${where} (${res.status}); psimbols does not follow redirects, since a request is bound to one server: set "server" in the client config (or --server) to the URL to use`, { status: res.status });
    }
    default: {
      const detail = serverMessage(text);
      throw new PsimbolsError('http_error', `${endpoint} answered ${res.status}${detail === undefined ? '' : `: ${detail}`}`, { status: res.status });
    }
  }
}

async function sendOnce(config: ClientConfig, sealed: SealedCall, o: CallOptions): Promise<RunResponse> {
  const endpoint = o.endpoint ?? config.server;
  const res = await post(endpoint, sealed, o);
  const text = o.fetch ? await boundedText(res, maxBytesOf(o)) : await res.text().catch(() => '');
  return interpret(endpoint, sealed, res, text);
}

const retriable = (e: unknown): e is PsimbolsError =>
  e instanceof PsimbolsError && (e.code === 'network' || e.code === 'request_timeout' || e.code === 'unavailable');

// A server's Retry-After is honoured, but never beyond the timeout of one attempt (unless that is
// 0, unbounded); without one, backoff from 200 ms.
function retryDelay(e: PsimbolsError, attempt: number, timeoutMs: number): number {
  const backoff = Math.min(200 * 2 ** (attempt - 1), 5000);
  if (e.retryAfter === undefined) return backoff;
  const asked = e.retryAfter * 1000;
  return timeoutMs === 0 ? asked : Math.min(asked, timeoutMs);
}

// Server minus local clock, in seconds, learned from a clock answer and kept while this runs. A
// correction beyond a day is refused: that is a clock to fix, and it bounds how far even a server
// that holds the key can move the stamps this process puts on its requests.
let clockOffsetSeconds = 0;
const MAX_CLOCK_OFFSET_SECONDS = 86_400;
const localSeconds = (): number => Math.floor(Date.now() / 1000);

// Once per call: a clock answer that opens for this request sets the offset, and the call is
// sealed again with the server's time. It does not count as a retry.
function correctClock(e: unknown, o: CallOptions): boolean {
  if (!isPsimbolsError(e, 'unauthorized') || e.serverTime === undefined) return false;
  const offset = e.serverTime - localSeconds();
  if (Math.abs(offset) > MAX_CLOCK_OFFSET_SECONDS) {
    throw new PsimbolsError('unauthorized', `${e.message}; this machine's clock is ${Math.abs(offset)} s ${offset > 0 ? 'behind' : 'ahead of'} it, more than a day, which psimbols does not correct: set the clock right`, { status: 401, cause: e });
  }
  clockOffsetSeconds = offset;
  o.onClockSkew?.(offset);
  return true;
}

/**
 * Sends one call and returns the whole decrypted response, function errors included.
 *
 * @example
 * const r = await request(config, 'supermath', 'factorial', { n: 3 });
 * if ('return' in r) console.log(r.return.value); // 6
 */
export async function request(config: ClientConfig, module: string, fn: string, params: Params, o: CallOptions = {}): Promise<RunResponse> {
  const attempts = 1 + Math.max(0, o.retry ?? 0);
  let corrected = false;
  for (let attempt = 1; ; attempt++) {
    const sealed = sealCall(config, module, fn, params, o.requestId, localSeconds() + clockOffsetSeconds);
    try {
      return await sendOnce(config, sealed, o);
    } catch (e) {
      if (!corrected && correctClock(e, o)) {
        corrected = true;
        attempt--;
        continue;
      }
      if (attempt >= attempts || !retriable(e)) throw e;
      const delay = retryDelay(e, attempt, o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      o.onRetry?.(attempt, delay, e);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * Calls a function and returns its `{value, comment}`; a function error becomes a
 * PsimbolsError with code `remote_error` and the server's code in `remoteCode`.
 *
 * @example
 * const { value } = await call(config, 'supermath', 'factorial', { n: 3 }); // 6
 */
export async function call(config: ClientConfig, module: string, fn: string, params: Params, o: CallOptions = {}): Promise<ReturnValue> {
  const r = await request(config, module, fn, params, o);
  if ('error' in r) throw new PsimbolsError('remote_error', `${r.error.code}: ${r.error.message}`, { remoteCode: r.error.code });
  return r.return;
}
