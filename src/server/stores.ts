import { MemoryAdmissionStore, type AdmissionStore } from './admission.js';
import type { OnStoreError } from '../config/server-config.js';
import { FailoverAdmissionStore } from './failover-store.js';
import type { Logger } from './log.js';

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
  } catch {
    log.log('warn', 'redis is not reachable yet; serving per onStoreError until it is', { store: redactUrl(url), onStoreError: o.onStoreError });
  }
  return new FailoverAdmissionStore(redis, o.onStoreError, log, now, o.onFallback);
}

/** A store URL for logs: never its passwords (the Redis one, or Sentinel's in the query). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]*@/, '$1***@').replace(/([?&]sentinelPassword=)[^&#]*/, '$1***');
}
