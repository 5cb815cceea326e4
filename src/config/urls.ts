// URL rules shared by the config files and the command line; no zod, so `call` can use them.

export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

type Node = { readonly host: string; readonly port: number };
type Auth = { readonly tls: boolean; readonly username: string | undefined; readonly password: string | undefined };

/** Where limits and replays are kept: this process's memory, one Redis, a Redis Cluster, or a Redis watched by Sentinel. */
export type StoreUrl =
  | { readonly kind: 'memory' }
  | { readonly kind: 'redis'; readonly url: string }
  | (Auth & { readonly kind: 'cluster'; readonly nodes: readonly Node[] })
  | (Auth & { readonly kind: 'sentinel'; readonly sentinels: readonly Node[]; readonly name: string; readonly db: number; readonly sentinelPassword: string | undefined });

const MULTI = /^(rediss?)\+(cluster|sentinel):\/\/(?:([^@/]*)@)?([^/?#@]+)(?:\/([^/?#]*)(?:\/(\d+))?)?\/?(?:\?([^#]*))?$/;

function nodesOf(list: string, defaultPort: number): Node[] | undefined {
  const nodes: Node[] = [];
  for (const part of list.split(',')) {
    const m = /^(?:\[([^\]]+)\]|([^:[\],]+))(?::(\d{1,5}))?$/.exec(part);
    const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
    if (!m || port < 1 || port > 65535) return undefined;
    nodes.push({ host: m[1] ?? m[2] ?? '', port });
  }
  return nodes;
}

function authOf(scheme: string, userinfo: string | undefined): Auth {
  const [user = '', pass] = (userinfo ?? '').split(':', 2);
  return { tls: scheme === 'rediss', username: user === '' ? undefined : decodeURIComponent(user), password: pass === undefined ? undefined : decodeURIComponent(pass) };
}

/**
 * "memory"; redis://[user:password@]host:port[/db] (or rediss://);
 * redis+cluster://[user:password@]host:port,host:port,… (seed nodes);
 * redis+sentinel://[user:password@]host:port,host:port,…/MASTER[/db][?sentinelPassword=…].
 * Undefined for anything else.
 */
export function parseStoreUrl(s: string): StoreUrl | undefined {
  if (s === 'memory') return { kind: 'memory' };
  if (/^rediss?:\/\/[^,]+$/.test(s)) return { kind: 'redis', url: s };
  const m = MULTI.exec(s);
  if (!m) return undefined;
  const [, scheme = '', kind, userinfo, hosts = '', name, db, query] = m;
  const auth = authOf(scheme, userinfo);
  if (kind === 'cluster') {
    const nodes = nodesOf(hosts, 6379);
    return nodes && !name && !query ? { kind, nodes, ...auth } : undefined;
  }
  const sentinels = nodesOf(hosts, 26379);
  if (!sentinels || !name) return undefined;
  const sentinelPassword = new URLSearchParams(query ?? '').get('sentinelPassword') ?? undefined;
  return { kind: 'sentinel', sentinels, name: decodeURIComponent(name), db: Number(db ?? 0), sentinelPassword, ...auth };
}

export const isStoreUrl = (s: string): boolean => parseStoreUrl(s) !== undefined;
export const STORE_URL_RULE = 'must be "memory", redis://host:port[/db], redis+cluster://host:port,host:port,… or redis+sentinel://host:port,…/MASTER (rediss for TLS)';
