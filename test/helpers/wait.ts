import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The first status other than 503 that `send` gets, asking again while the store is out, as a
 * client with --retry does; 503 if none came within `ms`.
 */
export async function past503(send: () => Promise<number>, ms = 10_000): Promise<number> {
  let status = 503;
  await eventually(async () => (status = await send()) !== 503, ms);
  return status;
}

/** Polls until the check passes or the time is up; for effects that land asynchronously (file watches, reconnects). */
export async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(50);
  }
  return false;
}
