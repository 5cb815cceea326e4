import { errorMessage } from '../../errors.js';
import { clientAddress, type ForwardingHeaders } from './client-address.js';
import type { Sent } from '../observe/log.js';
import type { Outcome, Processor } from '../core/processor.js';
import { WINDOW_MS } from '../core/processor.js';

// The only place that knows HTTP statuses and the seconds a client is told to wait. A pure
// function of what it needs of a request, in the manner of Hono's core: node-adapter.ts reads and
// writes the sockets, and tests drive this without one.

/** What the handler needs of a request before its body. */
export type RequestHead = ForwardingHeaders & {
  readonly method: string;
  readonly url: string;
  readonly contentType: string | undefined;
  readonly contentLength: string | undefined;
  /** The connection's peer: the client, or a proxy in front of it. */
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
  /** The proxies whose forwarding headers name the client (the config's trustProxy). */
  readonly trustsProxy?: (address: string) => boolean;
};

export type Handler = {
  readonly bodyLimit: number;
  /** The answer that needs no body (route, method, type, a declared length over the limit), or undefined: read the body, then `post`. */
  head(req: RequestHead): HttpResponse | undefined;
  /** `ip`: the client's address, when the caller has already found it (`address`). */
  post(req: RequestHead, body: Buffer, ip?: string): Promise<HttpResponse>;
  /** For a body that grew past the limit while it was read. */
  tooLarge(): HttpResponse;
  /** `head`, then `post` with the body: the whole handler in one call. */
  handle(req: RequestHead, body: Buffer): Promise<HttpResponse>;
  /** The client's address, for the access log: the peer's, or the one a trusted proxy forwarded. */
  address(req: RequestHead): string;
};

// A 503 tells the client to wait this long: long enough for a store's circuit breaker to try again.
const UNAVAILABLE_RETRY_S = 5;
const WINDOW_SECONDS = WINDOW_MS / 1000;
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

const jsonText = (value: unknown): string => `${JSON.stringify(value)}\n`;
const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

const baseHeaders = (body: string, type: string): Record<string, string> => ({
  'Content-Type': type,
  'Content-Length': String(Buffer.byteLength(body)),
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
});

function respond(status: number, body: string, log: Sent, extra?: Record<string, string>, type = JSON_TYPE): HttpResponse {
  return { status, headers: extra === undefined ? baseHeaders(body, type) : Object.assign(baseHeaders(body, type), extra), body, log };
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

// The hot path: one headers object and one log object per request.
function served(outcome: Outcome & { kind: 'ok' | 'limited' }, status: number, body: string, error: string | undefined, detail: string | undefined): HttpResponse {
  const t = String(seconds(outcome.resetMs));
  const headers = baseHeaders(body, JSON_TYPE);
  headers['RateLimit-Policy'] = `"hourly";q=${outcome.limit};w=${WINDOW_SECONDS}`;
  headers.RateLimit = `"hourly";r=${outcome.remaining};t=${t}`;
  if (status === 429) headers['Retry-After'] = t;
  return { status, headers, body, log: { status, client: outcome.client, call: outcome.call, requestId: outcome.requestId, error, detail } };
}

function outcomeResponse(outcome: Outcome): HttpResponse {
  switch (outcome.kind) {
    case 'bad_request':
      return error(400, 'bad_request', outcome.message);
    case 'unauthorized':
      return respond(401, UNAUTHORIZED_BODY, { status: 401, client: outcome.client, reason: outcome.reason });
    case 'blocked': {
      const s = seconds(outcome.retryAfterMs);
      const r = error(429, 'too_many_failures', `too many failed requests from this address: retry in ${s} s`, { 'Retry-After': String(s) });
      return { ...r, log: { ...r.log, client: outcome.client, reason: outcome.reason } };
    }
    case 'unavailable': {
      const r = error(503, 'unavailable', 'the server cannot check limits right now', { 'Retry-After': String(UNAVAILABLE_RETRY_S) });
      return { ...r, log: { status: 503, client: outcome.client, error: 'store_unavailable' } };
    }
    case 'limited': {
      const message = `too many requests: retry in ${seconds(outcome.resetMs)} s`;
      const reply = outcome.seal({ request_id: outcome.requestId, error: { code: 'rate_limited', message } });
      return served(outcome, 429, jsonText(reply), 'rate_limited', undefined);
    }
    case 'ok':
      return served(outcome, 200, jsonText(outcome.response), outcome.errorCode, outcome.detail);
  }
}

// Anything unexpected is a plain 500: the detail goes to the log, never to the client.
export function internalError(e: unknown): HttpResponse {
  const r = error(500, 'internal', 'internal error');
  return { ...r, log: { ...r.log, detail: errorMessage(e) } };
}

export function createHandler(o: HandlerOptions): Handler {
  const trusts = o.trustsProxy;
  // Without trusted proxies (the default) the peer is the client, and nothing needs parsing.
  const address = trusts === undefined ? (req: RequestHead): string => req.remoteAddress : (req: RequestHead): string => clientAddress(req.remoteAddress, req, trusts);
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
  const post = async (req: RequestHead, body: Buffer, ip = address(req)): Promise<HttpResponse> => {
    if (body.length > o.bodyLimit) return TOO_LARGE();
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return error(400, 'bad_request', 'the body is not valid JSON');
    }
    try {
      return outcomeResponse(await o.processor.process(parsed, ip));
    } catch (e) {
      return internalError(e);
    }
  };
  return { bodyLimit: o.bodyLimit, head, post, tooLarge: TOO_LARGE, handle: async (req, body) => head(req) ?? post(req, body), address };
}
