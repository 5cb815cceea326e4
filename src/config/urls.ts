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
/** How many replicas must hold an accepted request before it is answered (Redis's WAIT). */
type Acks = { readonly replicaAcks: number };

/** Where limits and replays are kept: this process's memory, one Redis, a Redis Cluster, or a Redis watched by Sentinel. */
export type StoreUrl =
  | { readonly kind: 'memory' }
  | (Acks & { readonly kind: 'redis'; readonly url: string; readonly db: number })
  | (Auth & Acks & { readonly kind: 'cluster'; readonly nodes: readonly Node[] })
  | (Auth & Acks & { readonly kind: 'sentinel'; readonly sentinels: readonly Node[]; readonly name: string; readonly db: number; readonly sentinelPassword: string | undefined });

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

// The query may set replicaAcks=N (0 to 16). A Sentinel or a Cluster fails over to a replica, so
// there an accepted request waits for one replica by default; one Redis has nothing to fail over to.
const MAX_ACKS = 16;
const DEFAULT_ACKS = { redis: 0, cluster: 1, sentinel: 1 } as const;

/** The query's replicaAcks (the kind's default when absent), or undefined when it is not 0 to 16. */
function acksOf(params: URLSearchParams, kind: keyof typeof DEFAULT_ACKS): number | undefined {
  const raw = params.get('replicaAcks');
  if (raw === null) return DEFAULT_ACKS[kind];
  const acks = /^\d{1,2}$/.test(raw) ? Number(raw) : NaN;
  return acks <= MAX_ACKS ? acks : undefined;
}

// Sentinel and Cluster URLs take only the query fields psimbols reads.
function queryOf(query: string | undefined, kind: 'cluster' | 'sentinel', allowed: readonly string[]): { acks: number; params: URLSearchParams } | undefined {
  const params = new URLSearchParams(query ?? '');
  if ([...params.keys()].some((k) => k !== 'replicaAcks' && !allowed.includes(k))) return undefined;
  const acks = acksOf(params, kind);
  return acks === undefined ? undefined : { acks, params };
}

/**
 * "memory"; redis://[user:password@]host:port[/db] (or rediss://);
 * redis+cluster://[user:password@]host:port,host:port,… (seed nodes);
 * redis+sentinel://[user:password@]host:port,host:port,…/MASTER[/db][?sentinelPassword=…];
 * each Redis form may end in ?replicaAcks=N. Undefined for anything else.
 */
export function parseStoreUrl(s: string): StoreUrl | undefined {
  if (s === 'memory') return { kind: 'memory' };
  if (/^rediss?:\/\/[^,]+$/.test(s)) return singleRedis(s);
  const m = MULTI.exec(s);
  if (!m) return undefined;
  const [, scheme = '', kind, userinfo, hosts = '', name, db, query] = m;
  const auth = authOf(scheme, userinfo);
  if (kind === 'cluster') {
    const nodes = nodesOf(hosts, 6379);
    const q = queryOf(query, 'cluster', []);
    return nodes && !name && q ? { kind, nodes, replicaAcks: q.acks, ...auth } : undefined;
  }
  const sentinels = nodesOf(hosts, 26379);
  const q = queryOf(query, 'sentinel', ['sentinelPassword']);
  if (!sentinels || !name || !q) return undefined;
  const sentinelPassword = q.params.get('sentinelPassword') ?? undefined;
  return { kind: 'sentinel', sentinels, name: decodeURIComponent(name), db: Number(db ?? 0), sentinelPassword, replicaAcks: q.acks, ...auth };
}

// The database is a number, or none (0): ioredis would send SELECT NaN for /abc. Whether this
// Redis has that many databases is checked when it first answers (redis-store.ts).
function databaseOf(s: string): number | undefined {
  let path: string;
  try {
    path = new URL(s).pathname;
  } catch {
    return undefined;
  }
  if (path === '' || path === '/') return 0;
  return /^\/\d{1,5}$/.test(path) ? Number(path.slice(1)) : undefined;
}

// ioredis reads its own options from a URL's query; replicaAcks is ours, so it is taken out.
function singleRedis(s: string): StoreUrl | undefined {
  const db = databaseOf(s);
  if (db === undefined) return undefined;
  const at = s.indexOf('?');
  const params = new URLSearchParams(at < 0 ? '' : s.slice(at + 1));
  const replicaAcks = acksOf(params, 'redis');
  if (replicaAcks === undefined) return undefined;
  if (!params.has('replicaAcks')) return { kind: 'redis', url: s, db, replicaAcks };
  params.delete('replicaAcks');
  const rest = params.toString();
  return { kind: 'redis', url: s.slice(0, at) + (rest ? `?${rest}` : ''), db, replicaAcks };
}

export const isStoreUrl = (s: string): boolean => parseStoreUrl(s) !== undefined;
export const STORE_URL_RULE = 'must be "memory", redis://host:port[/db] (db a number), redis+cluster://host:port,host:port,… or redis+sentinel://host:port,…/MASTER (rediss for TLS), each with an optional ?replicaAcks=0..16';
