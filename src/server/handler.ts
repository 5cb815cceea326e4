import { errorMessage } from '../errors.js';
import type { Sent } from './log.js';
import type { Outcome, Processor } from './processor.js';
import { WINDOW_MS } from './processor.js';

// The only place that knows HTTP statuses and the seconds a client is told to wait. A pure
// function of what it needs of a request, in the manner of Hono's core: node-adapter.ts reads and
// writes the sockets, and tests drive this without one.

/** What the handler needs of a request before its body. */
export type RequestHead = {
  readonly method: string;
  readonly url: string;
  readonly contentType: string | undefined;
  readonly contentLength: string | undefined;
  readonly remoteAddress: string;
};

export type HttpResponse = {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** For the access log; never sent. */
  readonly log: Sent;
};

type HandlerOptions = {
  readonly processor: Processor;
  readonly bodyLimit: number;
  readonly health: () => string;
};

export type Handler = {
  readonly bodyLimit: number;
  /** The answer that needs no body (route, method, type, a declared length over the limit), or undefined: read the body, then `post`. */
  head(req: RequestHead): HttpResponse | undefined;
  post(req: RequestHead, body: Buffer): Promise<HttpResponse>;
  /** For a body that grew past the limit while it was read. */
  tooLarge(): HttpResponse;
  /** `head`, then `post` with the body: the whole handler in one call. */
  handle(req: RequestHead, body: Buffer): Promise<HttpResponse>;
};

// A 503 tells the client to wait this long: long enough for a store's circuit breaker to try again.
const UNAVAILABLE_RETRY_S = 5;
const WINDOW_SECONDS = WINDOW_MS / 1000;
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

const jsonText = (value: unknown): string => `${JSON.stringify(value)}\n`;
const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

function respond(status: number, body: string, log: Sent, extra?: Record<string, string>, type = JSON_TYPE): HttpResponse {
  const headers = { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...extra };
  return { status, headers, body, log };
}

const error = (status: number, code: string, message: string, extra?: Record<string, string>): HttpResponse =>
  respond(status, jsonText({ error: code, message }), { status, error: code }, extra);

/** Logged for a client that went away before its body arrived: nothing is sent (nginx's 499). */
export const ABORTED: Sent = { status: 499, error: 'client_aborted' };

// One byte-identical answer for every authentication failure (docs/PROTOCOL.md, "Errors").
const UNAUTHORIZED_BODY = jsonText({ error: 'unauthorized', message: 'request refused' });
// The rest of an oversized body is not read; the connection cannot be reused.
const TOO_LARGE = (): HttpResponse => respond(413, jsonText({ error: 'payload_too_large', message: 'the request body is over the limit' }), { status: 413 }, { Connection: 'close' });

function isJsonType(value: string | undefined): boolean {
  if (value === undefined || value === 'application/json') return true;
  const type = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function served(outcome: Outcome & { kind: 'ok' | 'limited' }): { headers: Record<string, string>; log: Sent } {
  const t = seconds(outcome.resetMs);
  const headers: Record<string, string> = { 'RateLimit-Policy': `"hourly";q=${outcome.limit};w=${WINDOW_SECONDS}`, RateLimit: `"hourly";r=${outcome.remaining};t=${t}` };
  if (outcome.kind === 'limited') headers['Retry-After'] = String(t);
  const log = { status: outcome.kind === 'ok' ? 200 : 429, client: outcome.client, call: outcome.call, requestId: outcome.requestId };
  return { headers, log };
}

function outcomeResponse(outcome: Outcome): HttpResponse {
  switch (outcome.kind) {
    case 'bad_request':
      return error(400, 'bad_request', outcome.message);
    case 'unauthorized':
      return respond(401, UNAUTHORIZED_BODY, { status: 401, client: outcome.client, reason: outcome.reason });
    case 'blocked': {
      const s = seconds(outcome.retryAfterMs);
      return error(429, 'too_many_failures', `too many failed requests from this address: retry in ${s} s`, { 'Retry-After': String(s) });
    }
    case 'unavailable': {
      const r = error(503, 'unavailable', 'the server cannot check limits right now', { 'Retry-After': String(UNAVAILABLE_RETRY_S) });
      return { ...r, log: { status: 503, client: outcome.client, error: 'store_unavailable' } };
    }
    case 'limited': {
      const { headers, log } = served(outcome);
      const reply = outcome.seal({ request_id: outcome.requestId, error: { code: 'rate_limited', message: `too many requests: retry in ${headers['Retry-After']} s` } });
      return respond(429, jsonText(reply), { ...log, error: 'rate_limited' }, headers);
    }
    case 'ok': {
      const { headers, log } = served(outcome);
      return respond(200, jsonText(outcome.response), { ...log, error: outcome.errorCode, detail: outcome.detail }, headers);
    }
  }
}

// Anything unexpected is a plain 500: the detail goes to the log, never to the client.
export function internalError(e: unknown): HttpResponse {
  const r = error(500, 'internal', 'internal error');
  return { ...r, log: { ...r.log, detail: errorMessage(e) } };
}

export function createHandler(o: HandlerOptions): Handler {
  const head = (req: RequestHead): HttpResponse | undefined => {
    if (req.url !== '/' && req.url.split('?')[0] !== '/') return error(404, 'not_found', 'POST requests to /');
    if (req.method === 'GET' || req.method === 'HEAD') {
      const text = o.health();
      const r = respond(200, text, { status: 200 }, undefined, TEXT_TYPE);
      return req.method === 'HEAD' ? { ...r, body: '' } : r;
    }
    if (req.method !== 'POST') return error(405, 'method_not_allowed', 'use POST', { Allow: 'GET, HEAD, POST' });
    if (!isJsonType(req.contentType)) return error(415, 'unsupported_media_type', 'send application/json');
    if (Number(req.contentLength) > o.bodyLimit) return TOO_LARGE();
    return undefined;
  };
  const post = async (req: RequestHead, body: Buffer): Promise<HttpResponse> => {
    if (body.length > o.bodyLimit) return TOO_LARGE();
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return error(400, 'bad_request', 'the body is not valid JSON');
    }
    try {
      return outcomeResponse(await o.processor.process(parsed, req.remoteAddress));
    } catch (e) {
      return internalError(e);
    }
  };
  return { bodyLimit: o.bodyLimit, head, post, tooLarge: TOO_LARGE, handle: async (req, body) => head(req) ?? post(req, body) };
}
