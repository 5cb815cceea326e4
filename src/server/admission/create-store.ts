import type { AdmissionStore } from './admission.js';
import { MemoryAdmissionStore } from './memory-store.js';
import type { OnStoreError, ServerConfig } from '../../config/server-config.js';
import { FailureLimiter } from './failure-limiter.js';
import { FailoverAdmissionStore } from './failover-store.js';
import { isPsimbolsError } from '../../errors.js';
import type { Logger } from '../observe/log.js';

type Limits = ServerConfig['limits'];

/** Nonces live as long as the timestamp window; sweeping no less often keeps memory near that. */
export const sweepMsFor = (l: Limits): number => Math.min(30_000, (l.pastSeconds + l.futureSeconds + 1) * 1000);

/** The per-address count of failed authentications that the config's limits ask for. */
export const failuresFor = (l: Limits, now?: () => number): FailureLimiter => new FailureLimiter({ limit: l.failedAuthPerIp, windowMs: l.failedAuthWindowSeconds * 1000 }, now);

type StoreOptions = {
  readonly url: string;
  readonly onStoreError: OnStoreError;
  readonly log: Logger;
  readonly now?: () => number;
  readonly sweepMs?: number;
  /** Told each time the shared store becomes unreachable. */
  readonly onFallback?: (mode: OnStoreError) => void;
};

/** The store a config names: "memory", or a Redis URL (ioredis loaded only then). */
export async function createAdmissionStore(o: StoreOptions): Promise<AdmissionStore> {
  const { url, log, now } = o;
  if (url === 'memory') return new MemoryAdmissionStore({ now, sweepMs: o.sweepMs });
  const { RedisAdmissionStore } = await import('./redis-store.js');
  const redis = new RedisAdmissionStore({ url });
  try {
    await redis.ready();
    if (redis.evicting.length > 0) {
      log.log('warn', `redis may evict keys when its memory is full (maxmemory-policy of ${redis.evicting.join(', ')}): an evicted nonce lets its request be accepted again; set maxmemory-policy noeviction, Redis's default: a full Redis then refuses the write, and the request is answered per onStoreError`, { store: redactUrl(url) });
    }
  } catch (e) {
    if (isPsimbolsError(e, 'usage')) {
      await redis.close();
      throw e;
    }
    log.log('warn', 'redis is not reachable yet; serving per onStoreError until it is', { store: redactUrl(url), onStoreError: o.onStoreError });
  }
  return new FailoverAdmissionStore(redis, o.onStoreError, log, now, o.onFallback);
}

/** A store URL for logs: never its passwords (the Redis one, or Sentinel's in the query). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]*@/, '$1***@').replace(/([?&]sentinelPassword=)[^&#]*/, '$1***');
}
