import { isIP } from 'node:net';

/** "10.0.0.0/8", "::1", "fd00::/8": true when the text is an address or a CIDR block. */
export function isAddressOrCidr(text: string): boolean {
  const [address = '', prefix, extra] = text.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** "127.0.0.1:9464", "[::1]:9464", "localhost:0": a host and a port, or undefined. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

export const HOST_PORT_RULE = 'must be HOST:PORT, such as 127.0.0.1:9464 or [::1]:9464';

/** "auto" or a positive whole number: how many processes serve. */
export const WORKERS_RULE = 'must be "auto" or a whole number of at least 1';
