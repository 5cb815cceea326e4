import { isClientId } from '../../config/ids.js';
import { errorMessage } from '../../errors.js';
import { clientAddress, type ForwardingHeaders, type ProxyHeader } from './client-address.js';
import type { RequestOutcome, Sent } from '../observe/log.js';
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
  /** For the access log and the metrics; never sent. */
  readonly log: Sent;
  /** The client's address: the peer's, or the one a trusted proxy forwarded. */
  readonly ip: string;
  /** Nothing is sent and the connection is closed (the client went away mid-body). */
  readonly drop?: true;
};

/** A response before the handler has placed who asked. */
type Answer = Omit<HttpResponse, 'ip'>;

type HandlerOptions = {
  readonly processor: Processor;
  readonly bodyLimit: number;
  readonly health: () => string;
  /** Whether this instance should get traffic now (GET /readyz), and a terse line saying so. */
  readonly readiness?: () => { readonly ready: boolean; readonly text: string };
  /** The proxies whose forwarding headers name the client (the config's trustProxy). */
  readonly trustsProxy?: (address: string) => boolean;
  /** The header those proxies write (the config's proxyHeader). */
  readonly proxyHeader?: ProxyHeader;
};

/** What the handler asks of the transport for a request's body: the bytes, or why there are none. */
export type ReadBody = (limit: number) => Promise<Buffer | 'too_large' | 'aborted'>;

export type Handler = {
  /** Answers one request; the body is read only when the head leaves it needed. */
  handle(req: RequestHead, readBody: ReadBody): Promise<HttpResponse>;
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

function respond(status: number, body: string, log: Sent, extra?: Record<string, string>, type = JSON_TYPE): Answer {
  return { status, headers: extra === undefined ? baseHeaders(body, type) : Object.assign(baseHeaders(body, type), extra), body, log };
}

const error = (status: number, outcome: RequestOutcome, code: string, message: string, extra?: Record<string, string>): Answer =>
  respond(status, jsonText({ error: code, message }), { status, outcome, error: code }, extra);

/** Logged for a client that went away before its body arrived: nothing is sent (nginx's 499). */
const ABORTED: Answer = { status: 499, headers: {}, body: '', log: { status: 499, outcome: 'aborted', error: 'client_aborted' }, drop: true };

// One byte-identical answer for every authentication failure (docs/PROTOCOL.md, "Errors").
const UNAUTHORIZED_BODY = jsonText({ error: 'unauthorized', message: 'request refused' });
// The rest of an oversized body is not read; the connection cannot be reused.
const TOO_LARGE = (): Answer => respond(413, jsonText({ error: 'payload_too_large', message: 'the request body is over the limit' }), { status: 413, outcome: 'bad_request' }, { Connection: 'close' });

function isJsonType(value: string | undefined): boolean {
  if (value === undefined || value === 'application/json') return true;
  const type = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

// The hot path: one headers object and one log object per request.
function served(outcome: Outcome & { kind: 'ok' | 'limited' }, status: number, body: string, error: string | undefined, detail: string | undefined, ip: string): HttpResponse {
  const t = String(seconds(outcome.resetMs));
  const headers = baseHeaders(body, JSON_TYPE);
  headers['RateLimit-Policy'] = `"hourly";q=${outcome.limit};w=${WINDOW_SECONDS}`;
  headers.RateLimit = `"hourly";r=${outcome.remaining};t=${t}`;
  if (status === 429) headers['Retry-After'] = t;
  const log: Sent = { status, outcome: status === 429 ? 'rate_limited' : error === undefined ? 'ok' : 'function_error', client: outcome.client, module: outcome.module, fn: outcome.fn, requestId: outcome.requestId, error, detail };
  return { status, headers, body, log, ip };
}

/**
 * The id a refused request claims, for the log: anyone can send any string there, so an id that
 * breaks the id rule is logged as what it is, never verbatim (a 60 KB id once filled disks).
 */
const claimed = (id: string): string => (isClientId(id) ? id : `<invalid id: ${id.length} chars>`);

function refusal(outcome: Outcome & { kind: 'unauthorized' | 'blocked' | 'unavailable' | 'bad_request' }): Answer {
  switch (outcome.kind) {
    case 'bad_request':
      return error(400, 'bad_request', 'bad_request', outcome.message);
    case 'unauthorized': {
      const log: Sent = { status: 401, outcome: 'unauthorized', client: claimed(outcome.client), reason: outcome.reason };
      // Only a request that the client's key sealed, stamped outside the window, gets the clock.
      if (outcome.clock !== undefined) return respond(401, jsonText({ error: 'clock_skew', message: 'the request is stamped outside the server\'s window; "clock" carries the server\'s time, sealed for it', client: outcome.clock.client, server: outcome.clock.server, clock: outcome.clock.response }), log);
      return respond(401, UNAUTHORIZED_BODY, log);
    }
    case 'blocked': {
      const s = seconds(outcome.retryAfterMs);
      const r = error(429, 'blocked', 'too_many_failures', `too many failed requests from this address: retry in ${s} s`, { 'Retry-After': String(s) });
      return { ...r, log: { ...r.log, client: claimed(outcome.client), reason: outcome.reason } };
    }
    case 'unavailable': {
      const r = error(503, 'unavailable', 'unavailable', 'the server cannot check limits right now', { 'Retry-After': String(UNAVAILABLE_RETRY_S) });
      const why = outcome.reason === undefined ? { error: 'store_unavailable' } : { reason: outcome.reason };
      return { ...r, log: { ...r.log, client: claimed(outcome.client), ...why } };
    }
  }
}

function outcomeResponse(outcome: Outcome, ip: string): HttpResponse {
  switch (outcome.kind) {
    case 'limited': {
      const message = `too many requests: retry in ${seconds(outcome.resetMs)} s`;
      const reply = outcome.seal({ request_id: outcome.requestId, error: { code: 'rate_limited', message } });
      return served(outcome, 429, jsonText(reply), 'rate_limited', undefined, ip);
    }
    case 'ok':
      return served(outcome, 200, jsonText(outcome.response), outcome.errorCode, outcome.detail, ip);
    default:
      return { ...refusal(outcome), ip };
  }
}

// Anything unexpected is a plain 500: the detail goes to the log, never to the client.
function internalError(e: unknown): Answer {
  const r = error(500, 'internal_error', 'internal', 'internal error');
  return { ...r, log: { ...r.log, detail: errorMessage(e) } };
}

/** The answer that needs no body (route, method, type, a declared length over the limit), or undefined. */
// GET / (or /healthz): alive, for liveness. GET /readyz: 200 while this instance should get
// traffic, 503 while it starts, drains, or cannot decide (onStoreError=closed, store down).
function probe(req: RequestHead, o: HandlerOptions, path: string): Answer {
  if (req.method !== 'GET' && req.method !== 'HEAD') return error(405, 'bad_request', 'method_not_allowed', 'use GET', { Allow: 'GET, HEAD' });
  const r = (path === '/readyz' ? o.readiness?.() : undefined) ?? { ready: true, text: o.health() };
  const status = r.ready ? 200 : 503;
  const answer = respond(status, r.text, { status, outcome: 'health' }, undefined, TEXT_TYPE);
  return req.method === 'HEAD' ? { ...answer, body: '' } : answer;
}

function beforeBody(req: RequestHead, o: HandlerOptions): Answer | undefined {
  // Every call is a POST to "/": the split is for the probes.
  const path = req.url === '/' ? '/' : req.url.split('?')[0];
  if (path === '/readyz' || path === '/healthz') return probe(req, o, path);
  if (path !== '/') return error(404, 'bad_request', 'not_found', 'POST requests to /');
  if (req.method === 'GET' || req.method === 'HEAD') return probe(req, o, path);
  if (req.method !== 'POST') return error(405, 'bad_request', 'method_not_allowed', 'use POST', { Allow: 'GET, HEAD, POST' });
  if (!isJsonType(req.contentType)) return error(415, 'bad_request', 'unsupported_media_type', 'send application/json');
  if (Number(req.contentLength) > o.bodyLimit) return TOO_LARGE();
  return undefined;
}

async function afterBody(body: Buffer | 'too_large' | 'aborted', ip: string, o: HandlerOptions): Promise<HttpResponse> {
  if (body === 'aborted') return { ...ABORTED, ip };
  if (body === 'too_large' || body.length > o.bodyLimit) return { ...TOO_LARGE(), ip };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ...error(400, 'bad_request', 'bad_request', 'the body is not valid JSON'), ip };
  }
  return outcomeResponse(await o.processor.process(parsed, ip), ip);
}

export function createHandler(o: HandlerOptions): Handler {
  const trusts = o.trustsProxy;
  // Without trusted proxies (the default) the peer is the client, and nothing needs parsing.
  const address = trusts === undefined ? (req: RequestHead): string => req.remoteAddress : (req: RequestHead): string => clientAddress(req.remoteAddress, req, trusts, o.proxyHeader);
  const handle = async (req: RequestHead, readBody: ReadBody): Promise<HttpResponse> => {
    let ip = req.remoteAddress;
    try {
      ip = address(req);
      const early = beforeBody(req, o);
      if (early !== undefined) return { ...early, ip };
      return await afterBody(await readBody(o.bodyLimit), ip, o);
    } catch (e) {
      return { ...internalError(e), ip };
    }
  };
  return { handle };
}
