import { BlockList, isIP } from 'node:net';
import { canonicalAddress } from '../../config/addresses.js';


// Whose request is it: the connection's address, or, behind a proxy the config trusts, the
// address that proxy saw, from the one header the config says the proxy writes (X-Forwarded-For
// by default, as nginx, HAProxy, Envoy, AWS ALB and Caddy write it; Forwarded only when named).
// A proxy passes the other header through untouched, so reading it would let a client name
// itself. Untrusted connections' headers are ignored: anyone can send them.

export type ForwardingHeaders = { readonly forwarded?: string; readonly xForwardedFor?: string };

/** The header a trusted proxy writes (the config's proxyHeader). */
export type ProxyHeader = 'x-forwarded-for' | 'forwarded';

/** A predicate for the proxies a config trusts; entries are checked by the schema. */
export function trustedProxies(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/** `[2001:db8::1]:443`, `"1.2.3.4:80"`, `::ffff:1.2.3.4` → the address in one spelling, or undefined. */
function bareAddress(text: string): string | undefined {
  let t = text.trim().replace(/^"|"$/g, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(t);
  if (bracketed) t = bracketed[1] ?? '';
  else if (/^[\d.]+:\d+$/.test(t)) t = t.slice(0, t.lastIndexOf(':'));
  return canonicalAddress(t);
}

/** The hops the proxy's header reports, nearest last; undefined for a hop that is not an address (`unknown`, garbled). */
function hops(h: ForwardingHeaders, header: ProxyHeader): (string | undefined)[] {
  if (header === 'forwarded') {
    return (h.forwarded ?? '').split(',').map((element) => {
      const pair = element.split(';').map((p) => p.trim()).find((p) => p.toLowerCase().startsWith('for='));
      return pair === undefined ? undefined : bareAddress(pair.slice(4));
    });
  }
  return (h.xForwardedFor ?? '').split(',').map(bareAddress);
}

/** Where failures go when a trusted proxy's chain names no address: no one's, never the proxy's. */
const UNKNOWN_ADDRESS = 'unknown';

/**
 * The client's address: the connection's, unless it comes from a trusted proxy; then the
 * nearest hop of the chain that is an address and is not itself a trusted proxy (if every hop is
 * trusted, the farthest: the request began inside). A hop that cannot be read is passed over, so
 * failures never count against the proxy, which would lock out everyone behind it; a chain that
 * names no address gives UNKNOWN_ADDRESS.
 */
export function clientAddress(remote: string, h: ForwardingHeaders, trusts: (address: string) => boolean, header: ProxyHeader = 'x-forwarded-for'): string {
  const direct = bareAddress(remote) ?? remote;
  if (!trusts(direct)) return direct;
  const chain = hops(h, header);
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = chain[i];
    if (hop !== undefined && !trusts(hop)) return hop;
  }
  return chain.find((hop) => hop !== undefined) ?? UNKNOWN_ADDRESS;
}

