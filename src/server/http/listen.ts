import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// The one place a port is opened: the server's and the metrics'.

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
  return { url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/`, port: address.port };
}
