import type { IncomingMessage, ServerResponse } from 'node:http';
import { ABORTED, internalError, type Handler, type HttpResponse, type RequestHead } from './handler.js';
import type { Logger, Sent } from '../observe/log.js';

// node:http to the pure handler and back: read the body under the handler's limit, write what it
// answers, log one access line per request.

type Read = Buffer | 'too_large' | Error;

function readBody(req: IncomingMessage, limit: number, done: (body: Read) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (result: Read): void => {
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
  req.on('error', (e) => finish(e));
}

function write(res: ServerResponse, r: HttpResponse, closing: boolean): void {
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

/** The request listener for node:http. `closing` is true while shutting down: responses ask clients to close. */
export function nodeListener(handler: Handler, log: Logger, closing: () => boolean, observe?: (sent: Sent, ms: number) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const start = performance.now();
    const head = headOf(req);
    // Found once: it is parsed from forwarding headers behind a trusted proxy.
    const ip = handler.address(head);
    const finish = (sent: Sent): void => {
      const ms = performance.now() - start;
      log.access({ ip, method: head.method, ms, ...sent });
      observe?.(sent, ms);
    };
    const answer = (r: HttpResponse): void => {
      write(res, r, closing());
      finish(r.log);
    };
    let early: HttpResponse | undefined;
    try {
      early = handler.head(head);
    } catch (e) {
      early = internalError(e);
    }
    if (early !== undefined) return answer(early);
    readBody(req, handler.bodyLimit, (body) => {
      if (body === 'too_large') return answer(handler.tooLarge());
      if (body instanceof Error) {
        res.destroy();
        return finish(ABORTED);
      }
      // post() answers every failure itself, a bug included, as a 500.
      void handler.post(head, body, ip).then(answer);
    });
  };
}
