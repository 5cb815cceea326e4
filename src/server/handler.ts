import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from './log.js';
import type { Outcome, Processor } from './processor.js';
import { WINDOW_MS } from './processor.js';

// The only place that knows HTTP status codes. It reads the body under a limit, hands the
// parsed JSON to the processor and writes what the outcome calls for.

export type HandlerOptions = {
  readonly processor: Processor;
  readonly bodyLimit: number;
  readonly log: Logger;
  readonly health: () => string;
  /** True while shutting down: responses ask the client to close the connection. */
  readonly closing?: () => boolean;
};

const JSON_TYPE = 'application/json; charset=utf-8';
const body = (value: unknown): string => `${JSON.stringify(value)}\n`;

// One byte-identical answer for every authentication failure (docs/PROTOCOL.md, "Errors").
const UNAUTHORIZED_BODY = body({ error: 'unauthorized', message: 'request refused' });
const TOO_LARGE_BODY = body({ error: 'payload_too_large', message: 'the request body is over the limit' });
const WINDOW_SECONDS = WINDOW_MS / 1000;

type Sent = { status: number; client?: string; call?: string; requestId?: string; reason?: string; error?: string; detail?: string };

const TOO_LARGE = 'too large';

/** Reads the body under the limit; the callback gets the bytes, TOO_LARGE, or an error. */
function readBody(req: IncomingMessage, limit: number, done: (body: Buffer | typeof TOO_LARGE | Error) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (result: Buffer | typeof TOO_LARGE | Error): void => {
    if (finished) return;
    finished = true;
    done(result);
  };
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit) finish(TOO_LARGE);
    else chunks.push(chunk);
  });
  req.on('end', () => finish(Buffer.concat(chunks, size)));
  // A client that goes away mid-body, or a request timeout, destroys the request with an
  // 'aborted' error. ('close' follows every request, so listening there would cost every one.)
  req.on('error', (e) => finish(e));
}

function send(res: ServerResponse, status: number, payload: string, headers: Record<string, string> = {}, contentType = JSON_TYPE): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': String(Buffer.byteLength(payload)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(payload);
}

function isJsonType(value: string | undefined): boolean {
  if (value === undefined || value === 'application/json') return true;
  const type = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function writeOutcome(res: ServerResponse, outcome: Outcome): Sent {
  switch (outcome.kind) {
    case 'bad_request':
      send(res, 400, body({ error: 'bad_request', message: outcome.message }));
      return { status: 400, error: 'bad_request' };
    case 'unauthorized':
      send(res, 401, UNAUTHORIZED_BODY);
      return { status: 401, client: outcome.client, reason: outcome.reason };
    case 'blocked':
      send(res, 429, body({ error: 'too_many_failures', message: `too many failed requests from this address: retry in ${outcome.retryAfter} s` }), { 'Retry-After': String(outcome.retryAfter) });
      return { status: 429, error: 'too_many_failures' };
    case 'unavailable':
      send(res, 503, body({ error: 'unavailable', message: 'the server cannot check limits right now' }), { 'Retry-After': String(outcome.retryAfter) });
      return { status: 503, client: outcome.client, error: 'store_unavailable' };
    case 'ok':
    case 'limited': {
      const seconds = Math.max(1, Math.ceil(outcome.resetMs / 1000));
      const headers: Record<string, string> = {
        'RateLimit-Policy': `"hourly";q=${outcome.limit};w=${WINDOW_SECONDS}`,
        RateLimit: `"hourly";r=${outcome.remaining};t=${seconds}`,
      };
      const status = outcome.kind === 'ok' ? 200 : 429;
      if (status === 429) headers['Retry-After'] = String(seconds);
      send(res, status, body(outcome.response), headers);
      return {
        status,
        client: outcome.client,
        call: outcome.call,
        requestId: outcome.requestId,
        ...(outcome.errorCode ? { error: outcome.errorCode } : {}),
        ...(outcome.detail ? { detail: outcome.detail } : {}),
      };
    }
  }
}

export function createHandler(o: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  // Everything but the body is decided synchronously; only POST / waits for the body and the
  // processor.
  const route = (req: IncomingMessage, res: ServerResponse, finish: (sent: Sent) => void): void => {
    if (o.closing?.()) res.setHeader('Connection', 'close');
    const url = req.url ?? '/';
    if (url !== '/' && url.split('?')[0] !== '/') {
      send(res, 404, body({ error: 'not_found', message: 'POST requests to /' }));
      return finish({ status: 404 });
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const text = o.health();
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) }).end();
      } else send(res, 200, text, {}, 'text/plain; charset=utf-8');
      return finish({ status: 200 });
    }
    if (req.method !== 'POST') {
      send(res, 405, body({ error: 'method_not_allowed', message: 'use POST' }), { Allow: 'GET, HEAD, POST' });
      return finish({ status: 405 });
    }
    if (!isJsonType(req.headers['content-type'])) {
      send(res, 415, body({ error: 'unsupported_media_type', message: 'send application/json' }));
      return finish({ status: 415 });
    }
    if (Number(req.headers['content-length']) > o.bodyLimit) return finish(tooLarge(res));
    readBody(req, o.bodyLimit, (raw) => {
      if (raw === TOO_LARGE) return finish(tooLarge(res));
      if (raw instanceof Error) {
        res.destroy();
        return finish({ status: 499, error: 'client_aborted' });
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        send(res, 400, body({ error: 'bad_request', message: 'the body is not valid JSON' }));
        return finish({ status: 400 });
      }
      o.processor.process(parsed, req.socket.remoteAddress ?? '').then(
        (outcome) => finish(writeOutcome(res, outcome)),
        (e: unknown) => finish(internalError(res, e)),
      );
    });
  };

  return (req, res) => {
    const start = performance.now();
    const finish = (sent: Sent): void => {
      o.log.access({ ip: req.socket.remoteAddress ?? '', method: req.method ?? '-', ms: performance.now() - start, ...sent });
    };
    try {
      route(req, res, finish);
    } catch (e) {
      finish(internalError(res, e));
    }
  };
}

function tooLarge(res: ServerResponse): Sent {
  // The rest of an oversized body is not read; the connection cannot be reused.
  send(res, 413, TOO_LARGE_BODY, { Connection: 'close' });
  return { status: 413 };
}

// Anything unexpected is a plain 500: the detail goes to the log, never to the client.
function internalError(res: ServerResponse, e: unknown): Sent {
  send(res, 500, body({ error: 'internal', message: 'internal error' }));
  return { status: 500, error: 'internal', detail: e instanceof Error ? e.message : String(e) };
}
