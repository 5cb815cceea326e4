import { MemoryAdmissionStore, type AdmissionStore } from './admission.js';
import type { OnStoreError } from '../config/server-config.js';
import { FailoverAdmissionStore } from './failover-store.js';
import type { Logger } from './log.js';

/** The store a config names: "memory", or a redis:// / rediss:// URL (ioredis loaded only then). */
export async function createAdmissionStore(url: string, onStoreError: OnStoreError, log: Logger, now?: () => number, sweepMs?: number): Promise<AdmissionStore> {
  if (url === 'memory') return new MemoryAdmissionStore({ now, sweepMs });
  const { RedisAdmissionStore } = await import('./redis-store.js');
  const redis = new RedisAdmissionStore({ url });
  try {
    await redis.ready();
  } catch {
    log.log('warn', 'redis is not reachable yet; serving per onStoreError until it is', { store: redactUrl(url), onStoreError });
  }
  return new FailoverAdmissionStore(redis, onStoreError, log, now);
}

/** A store URL for logs: never its password. */
export function redactUrl(url: string): string {
  if (url === 'memory') return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(a store URL that does not parse)';
  }
}
