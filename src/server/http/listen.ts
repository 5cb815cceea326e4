import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { TlsSource } from './tls.js';

// The one place a port is opened: the server's and the metrics'.

type ConnectionTimeouts = { readonly headersMs: number; readonly requestMs: number; readonly keepAliveMs: number };

/**
 * node:http, or node:https with `tls`'s pair. Node enforces the timeouts itself, checking every
 * connection (idle ones that never sent a byte included) each second, and answers 408; its
 * default clientError handler answers the rest. A TLS handshake gets the headers' time too
 * (Node's default is 120 s).
 */
export function httpServer(t: ConnectionTimeouts, tls: TlsSource | undefined, listener: RequestListener): Server {
  const options = { headersTimeout: t.headersMs, requestTimeout: t.requestMs, keepAliveTimeout: t.keepAliveMs, connectionsCheckingInterval: Math.min(1000, t.headersMs) };
  if (tls === undefined) return createServer(options, listener);
  const server = createHttpsServer({ ...options, ...tls.options(), handshakeTimeout: t.headersMs }, listener);
  tls.attach(server);
  return server;
}

/**
 * Listens on host:port, or on an inherited listening socket (`fd`, systemd's socket activation);
 * the URL it answers at (IPv6 in brackets) and the port, when port 0 picked one.
 */
export async function listen(server: Server, port: number, host: string, fd?: number): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (fd === undefined) server.listen(port, host, listening);
    else server.listen({ fd }, listening);
  });
  const address = server.address() as AddressInfo;
  const scheme = server instanceof TlsServer ? 'https' : 'http';
  return { url: `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/`, port: address.port };
}
