import { createServer, type Socket } from 'node:net';

// A raw-socket server that answers every way a broken or malicious one could, for the clients'
// tests (issue 22). It reads one request's head, then misbehaves as told; `sent()` counts the
// body bytes the client let it write before hanging up.

export type Behaviour = 'huge' | 'drip-body' | 'drip-headers' | 'close' | 'bad-status' | 'short-body' | 'redirect' | 'escapes';

export type HostileServer = { readonly url: string; sent(): number; close(): Promise<void> };

/** What `escapes` puts in its error body: a title change, a screen clear, and a forged line. */
const ESCAPES = '\u001b]0;pwned\u0007\u001b[2J\rpsimbols: all good\n';
export const REDIRECT_TO = 'http://elsewhere.invalid/psimbols/';

const CHUNK = Buffer.alloc(64 * 1024, 0x20);

function flood(socket: Socket, count: (n: number) => void): void {
  socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n');
  const more = (): void => {
    while (!socket.destroyed) {
      count(CHUNK.length);
      if (!socket.write(CHUNK)) return void socket.once('drain', more);
    }
  };
  more();
}

function drip(socket: Socket, head: string, text: string): void {
  socket.write(head);
  let i = 0;
  const timer = setInterval(() => (socket.destroyed || i >= text.length ? clearInterval(timer) : socket.write(text[i++]!)), 100);
  socket.once('close', () => clearInterval(timer));
}

function answer(socket: Socket, b: Behaviour, count: (n: number) => void): void {
  const body = JSON.stringify({ error: 'bad_request', message: ESCAPES });
  switch (b) {
    case 'huge':
      return flood(socket, count);
    case 'drip-body':
      return drip(socket, 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n', ' '.repeat(1000));
    case 'drip-headers':
      return drip(socket, 'HTTP/1.1 200 OK\r\n', `X-Slow: ${'a'.repeat(1000)}\r\n\r\n`);
    case 'close':
      return void socket.destroy();
    case 'bad-status':
      return void socket.end('HTCPCP/1.0 418 WAT\r\n\r\n');
    case 'short-body':
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"client":');
      return void setTimeout(() => socket.destroy(), 50);
    case 'redirect':
      return void socket.end(`HTTP/1.1 301 Moved Permanently\r\nLocation: ${REDIRECT_TO}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    case 'escapes':
      return void socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
}

export function hostileServer(b: Behaviour): Promise<HostileServer> {
  let sent = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.resume();
      answer(socket, b, (n) => (sent += n));
    };
    socket.on('data', onData);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}/`,
        sent: () => sent,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    }),
  );
}
