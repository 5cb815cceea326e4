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

/** The eight 16-bit groups of an IPv6 address (with an embedded IPv4 tail read as two groups). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (tail !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, -tail.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.length === 8 ? groups.map((g) => parseInt(g, 16)) : undefined;
}

/**
 * One spelling per address: an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, `::ffff:102:304`)
 * is its IPv4 address; any other address is returned as it is. Undefined for what is not one.
 */
export function canonicalAddress(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return undefined;
  const g = ipv6Groups(text);
  if (g === undefined || g.slice(0, 5).some((x) => x !== 0) || g[5] !== 0xffff) return text;
  const [hi = 0, lo = 0] = g.slice(6);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * The block one host is usually given, under which failures are counted: an IPv4 address, or an
 * IPv6 /64. The /64 of `::` (loopback, unspecified, the old IPv4-compatible forms) is no one's:
 * each of its addresses is its own key.
 */
export function hostBlock(address: string): string {
  const canonical = canonicalAddress(address) ?? address;
  if (isIP(canonical) !== 6) return canonical;
  const g = ipv6Groups(canonical);
  if (g === undefined) return canonical;
  if (g.slice(0, 4).every((x) => x === 0)) return g.map((x) => x.toString(16)).join(':');
  return `${g.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}
