import { setTimeout as sleep } from 'node:timers/promises';

/** Polls until the check passes or the time is up; for effects that land asynchronously (file watches, reconnects). */
export async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(50);
  }
  return false;
}
