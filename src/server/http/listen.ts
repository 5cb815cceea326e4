import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// The one place a port is opened: the server's and the metrics'.

/** Listens on host:port; the URL it answers at (IPv6 in brackets) and the port, when port 0 picked one. */
export async function listen(server: Server, port: number, host: string): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return { url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/`, port: address.port };
}
