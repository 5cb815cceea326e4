import { BlockList, isIP } from 'node:net';


// Whose request is it: the connection's address, or, behind a proxy the config trusts, the
// address that proxy saw (Forwarded, else X-Forwarded-For). Untrusted connections' headers are
// ignored: anyone can send them. And the key under which failures are counted: IPv6 addresses by
// /64, the block one host is usually given.

export type ForwardingHeaders = { readonly forwarded?: string; readonly xForwardedFor?: string };

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

/** `[2001:db8::1]:443`, `"1.2.3.4:80"`, `::ffff:1.2.3.4` → the bare address, or undefined. */
function bareAddress(text: string): string | undefined {
  let t = text.trim().replace(/^"|"$/g, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(t);
  if (bracketed) t = bracketed[1] ?? '';
  else if (/^[\d.]+:\d+$/.test(t)) t = t.slice(0, t.lastIndexOf(':'));
  if (t.toLowerCase().startsWith('::ffff:') && isIP(t.slice(7)) === 4) t = t.slice(7);
  return isIP(t) === 0 ? undefined : t;
}

/** The hops a proxy chain reports, nearest last; undefined when a hop is not an address. */
function hops(h: ForwardingHeaders): (string | undefined)[] | undefined {
  if (h.forwarded !== undefined) {
    return h.forwarded.split(',').map((element) => {
      const pair = element.split(';').map((p) => p.trim()).find((p) => p.toLowerCase().startsWith('for='));
      return pair === undefined ? undefined : bareAddress(pair.slice(4));
    });
  }
  return h.xForwardedFor?.split(',').map(bareAddress);
}

/**
 * The client's address: the connection's, unless it comes from a trusted proxy; then the
 * nearest hop of the chain that is not itself a trusted proxy. A chain that cannot be read
 * leaves the proxy's own address, so a garbled header never picks someone else's.
 */
export function clientAddress(remote: string, h: ForwardingHeaders, trusts: (address: string) => boolean): string {
  const direct = bareAddress(remote) ?? remote;
  if (!trusts(direct)) return direct;
  const chain = hops(h);
  if (chain === undefined || chain.length === 0) return direct;
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = chain[i];
    if (hop === undefined) return direct;
    if (!trusts(hop)) return hop;
  }
  return chain[0] ?? direct;
}

