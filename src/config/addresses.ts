import { isIP } from 'node:net';

/** "10.0.0.0/8", "::1", "fd00::/8": true when the text is an address or a CIDR block. */
export function isAddressOrCidr(text: string): boolean {
  const [address = '', prefix, extra] = text.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}
