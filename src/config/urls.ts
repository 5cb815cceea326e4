// URL rules shared by the config files and the command line; no zod, so `call` can use them.

export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** "memory", or a redis:// or rediss:// URL. */
export const isStoreUrl = (s: string): boolean => s === 'memory' || /^rediss?:\/\//.test(s);
export const STORE_URL_RULE = 'must be "memory" or a redis:// or rediss:// URL';
