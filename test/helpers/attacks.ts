import { createCipheriv, randomBytes } from 'node:crypto';
import { sealCall } from '../../src/client/client.js';
import { decodeBase64urlStrict } from '../../src/protocol/base64.js';
import { LEGACY_KEY, post, type TestServer } from './server.js';
import { interleaved, mannWhitneyZ, median } from './timing.js';

export function flipBit(token: string, byte: number, bit: number): string {
  const raw = decodeBase64urlStrict(token.slice(4))!;
  raw[byte]! ^= 1 << bit;
  return `ps2.${raw.toString('base64url')}`;
}

/** A seed-format token of exactly these plaintext bytes, padded as PKCS#7 says unless `badPadding`. */
export function legacyToken(plain: Buffer, badPadding = false): string {
  const pad = 16 - (plain.length % 16);
  const padding = Buffer.alloc(pad, pad);
  if (badPadding) padding[0] = pad === 1 ? 2 : pad - 1;
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', Buffer.from(LEGACY_KEY), iv).setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(Buffer.concat([plain, padding])), cipher.final()]).toString('base64');
}

type Maker = (t: TestServer) => unknown;

// Refusals that must cost the same. Each body is of the same length as its pair's.
const GARBAGE = Buffer.from('{"request_id":"0123456789","run":{"module":"supermath","function":"factorial","params":{"n":3}}'.replace(/"/g, '!'));
const bodies = {
  'ps2, known id, bad tag': (t) => {
    const outer = sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer;
    return { ...outer, request: flipBit(outer.request, 80, 0) };
  },
  'ps2, unknown id': (t) => ({ ...sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer, client: 'mallory' }),
  'ps2, legacy id': (t) => ({ ...sealCall(t.client('alice'), 'supermath', 'factorial', { n: 3 }).outer, client: 'old' }),
  // Without the key, all an attacker can send an id is ciphertext that decrypts to noise.
  'legacy, legacy id': () => ({ client: 'old', request: randomBytes(16 + GARBAGE.length + 16 - (GARBAGE.length % 16)).toString('base64') }),
  'legacy, unknown id': () => ({ client: 'nobody', request: randomBytes(16 + GARBAGE.length + 16 - (GARBAGE.length % 16)).toString('base64') }),
  'legacy, ps2 id': () => ({ client: 'alice', request: randomBytes(16 + GARBAGE.length + 16 - (GARBAGE.length % 16)).toString('base64') }),
  // With a captured token, an attacker can make the plaintext end in bad padding or in good
  // padding after contents that are not JSON: the padding oracle, if the two cost differently.
  'legacy, bad padding': () => ({ client: 'old', request: legacyToken(GARBAGE, true) }),
  'legacy, good padding, bad JSON': () => ({ client: 'old', request: legacyToken(GARBAGE) }),
} satisfies Record<string, Maker>;

type Kind = keyof typeof bodies;

/** The pairs compared: what an attacker could tell apart if their costs differed. */
export const PAIRS: readonly (readonly [Kind, Kind])[] = [
  ['ps2, known id, bad tag', 'ps2, unknown id'],
  ['ps2, legacy id', 'ps2, unknown id'],
  ['legacy, legacy id', 'legacy, unknown id'],
  ['legacy, ps2 id', 'legacy, unknown id'],
  ['legacy, bad padding', 'legacy, good padding, bad JSON'],
];

export type Comparison = { readonly a: number; readonly b: number; readonly z: number; readonly report: string };

const compare = (label: string, a: number[], b: number[], digits: number): Comparison => {
  const z = mannWhitneyZ(a, b);
  return { a: median(a), b: median(b), z, report: `${label}: medians ${median(a).toFixed(digits)} vs ${median(b).toFixed(digits)} µs, Mann-Whitney z = ${z.toFixed(2)} (${a.length} each)` };
};

/**
 * Times two kinds of refusal interleaved pair by pair, first in-process through the processor,
 * then over HTTP. Bodies are all made before any timing, so that making them cannot leave garbage
 * for one side only.
 */
export async function compareRefusals(t: TestServer, pair: readonly [Kind, Kind], n: { warm: number; inProcess: number; http: number }): Promise<{ inProcess: Comparison; http: Comparison }> {
  const total = n.warm + n.inProcess + n.http + 10;
  const [poolA, poolB] = pair.map((kind) => Array.from({ length: total }, () => bodies[kind](t)));
  const a = (): unknown => poolA!.pop();
  const b = (): unknown => poolB!.pop();
  const p = t.server.processor;
  await interleaved(n.warm, () => p.process(a(), '10.0.0.1'), () => p.process(b(), '10.0.0.1'));
  const s = await interleaved(n.inProcess, () => p.process(a(), '10.0.0.1'), () => p.process(b(), '10.0.0.1'));
  const h = await interleaved(n.http, () => post(t.url, a()), () => post(t.url, b()));
  const label = `${pair[0]} / ${pair[1]}`;
  return { inProcess: compare(`${label}, in-process`, s.a, s.b, 2), http: compare(`${label}, over HTTP`, h.a, h.b, 0) };
}
