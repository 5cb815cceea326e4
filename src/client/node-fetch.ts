import { request as httpRequest, type IncomingMessage } from 'node:http';
import { PsimbolsError } from '../errors.js';

// ky's transport over node:http. Node 20's global fetch compiles undici's WebAssembly HTTP parser
// on first use, which costs about 50 ms of every `psimbols call`; node:http's parser is already
// in the binary. ky keeps doing what it does (timeouts, JSON, errors); only the socket work moves.

type FetchInput = string | URL | Request;

/** Past `maxBytes` of body a response is refused and its connection closed: a server cannot fill this process's memory. */
export const tooLarge = (maxBytes: number): PsimbolsError =>
  new PsimbolsError('bad_response', `the response is larger than ${maxBytes} bytes, so it was not read; --max-response-bytes raises the cap`);

async function send(req: Request, payload: string, maxBytes: number, ca: readonly string[] | undefined): Promise<Response> {
  const url = new URL(req.url);

  const request = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  return new Promise((resolve, reject) => {
    const signal = req.signal;
    const outgoing = request(url, { method: req.method, headers: Object.fromEntries(req.headers), ...(ca === undefined ? {} : { ca: [...ca] }) }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const refuse = (): void => {
        outgoing.destroy();
        reject(tooLarge(maxBytes));
      };
      if (Number(res.headers['content-length'] ?? 0) > maxBytes) return refuse();
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) return refuse();
        chunks.push(c);
      });
      res.on('error', (e) => reject(new TypeError('fetch failed', { cause: e })));
      res.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (Array.isArray(value)) for (const v of value) headers.append(name, v);
          else if (value !== undefined) headers.set(name, value);
        }
        const status = res.statusCode ?? 0;
        const nullBody = status === 204 || status === 304 || req.method === 'HEAD';
        resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers }));
      });
    });
    const onAbort = (): void => {
      outgoing.destroy();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    outgoing.on('close', () => signal.removeEventListener('abort', onAbort));
    outgoing.on('error', (e) => reject(new TypeError('fetch failed', { cause: e })));
    outgoing.end(payload);
  });
}

/**
 * A fetch that sends `payload` as the body of every request it is given. ky's Request then
 * carries no body, so neither ky's clone nor this transport streams one through web streams:
 * the first use of those costs a `psimbols call` several milliseconds of start-up.
 */
export function nodeFetchWithBody(payload: string, maxBytes: number, ca?: readonly string[]): (input: FetchInput, init?: RequestInit) => Promise<Response> {
  return (input, init) => send(input instanceof Request && init === undefined ? input : new Request(input, init), payload, maxBytes, ca);
}
