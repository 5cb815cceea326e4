import { sealCall } from '../../src/client/client.js';
import { decodeBase64urlStrict } from '../../src/protocol/base64.js';
import type { TestServer } from './server.js';

/**
 * Bodies for the timing comparison, all made before any timing so that making them cannot leave
 * garbage for one side only: a known client's token with a bad tag, and an unknown client id.
 */
export function refusalBodies(t: TestServer, n: number): { known: () => unknown; unknown: () => unknown } {
  const config = t.client('alice');
  const knownBody = () => {
    const outer = sealCall(config, 'supermath', 'factorial', { n: 3 }).outer;
    return { ...outer, request: flipBit(outer.request, 80, 0) };
  };
  const unknownBody = () => ({ ...sealCall(config, 'supermath', 'factorial', { n: 3 }).outer, client: 'mallory' });
  const knownPool = Array.from({ length: n }, knownBody);
  const unknownPool = Array.from({ length: n }, unknownBody);
  return { known: () => knownPool.pop() ?? knownBody(), unknown: () => unknownPool.pop() ?? unknownBody() };
}

export function flipBit(token: string, byte: number, bit: number): string {
  const raw = decodeBase64urlStrict(token.slice(4))!;
  raw[byte]! ^= 1 << bit;
  return `ps2.${raw.toString('base64url')}`;
}

