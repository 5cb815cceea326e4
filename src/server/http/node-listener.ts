import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Handler, HttpResponse, ReadBody, RequestHead } from './handler.js';
import { failureKey } from '../admission/failure-limiter.js';
import type { BlockedLines } from '../observe/blocked-lines.js';
import type { Logger, Sent } from '../observe/log.js';

// node:http to the pure handler and back: read the body under the handler's limit, write what it
// answers, log one access line per request.

/** The body of `req`, up to `limit` bytes: past it, or when the client goes away, it says so instead. */
function bodyOf(req: IncomingMessage): ReadBody {
  return (limit) =>
    new Promise((done) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let finished = false;
      const finish = (result: Buffer | 'too_large' | 'aborted'): void => {
        if (finished) return;
        finished = true;
        done(result);
      };
      req.on('data', (chunk: Buffer) => {
        if (finished) return;
        size += chunk.length;
        if (size > limit) finish('too_large');
        else chunks.push(chunk);
      });
      req.on('end', () => finish(Buffer.concat(chunks, size)));
      // A client that goes away mid-body, or a request timeout, destroys the request with an
      // 'aborted' error. ('close' follows every request, so listening there would cost every one.)
      req.on('error', () => finish('aborted'));
    });
}

function write(res: ServerResponse, r: HttpResponse, closing: boolean): void {
  if (r.drop) return void res.destroy();
  if (res.headersSent || res.destroyed) return;
  if (closing) res.setHeader('Connection', 'close');
  res.writeHead(r.status, r.headers);
  res.end(r.body);
}

const headOf = (req: IncomingMessage): RequestHead => ({
  method: req.method ?? 'GET',
  url: req.url ?? '/',
  contentType: req.headers['content-type'],
  contentLength: req.headers['content-length'],
  remoteAddress: req.socket.remoteAddress ?? '',
  forwarded: req.headers.forwarded,
  xForwardedFor: typeof req.headers['x-forwarded-for'] === 'string' ? req.headers['x-forwarded-for'] : undefined,
});

type ListenerOptions = {
  readonly handler: Handler;
  readonly log: Logger;
  /** True while shutting down: responses ask clients to close. */
  readonly closing: () => boolean;
  /** Which blocked requests get an access line (an address over its failure limit gets few). */
  readonly blocked: BlockedLines;
  readonly observe?: (sent: Sent, ms: number) => void;
};

/** The request listener for node:http. */
export function nodeListener(o: ListenerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { handler, log, closing, blocked, observe } = o;
  return (req, res) => {
    const start = performance.now();
    const head = headOf(req);
    // handle() answers every failure itself, a bug included, as a 500.
    void handler.handle(head, bodyOf(req)).then((r) => {
      write(res, r, closing());
      const ms = performance.now() - start;
      if (r.log.outcome !== 'blocked' || blocked.admit(failureKey(r.ip))) log.access({ ip: r.ip, method: head.method, ms, ...r.log });
      observe?.(r.log, ms);
    });
  };
}
