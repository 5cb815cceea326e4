import { sealCall } from '../../src/client/client.js';
import { decodeBase64urlStrict } from '../../src/protocol/base64.js';
import { post, type TestServer } from './server.js';
import { interleaved, mannWhitneyZ, median } from './timing.js';

/**
 * Bodies for the timing comparison, all made before any timing so that making them cannot leave
 * garbage for one side only: a known client's token with a bad tag, and an unknown client id.
 */
function refusalBodies(t: TestServer, n: number): { known: () => unknown; unknown: () => unknown } {
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


export type Comparison = { readonly badTag: number; readonly unknownId: number; readonly z: number; readonly report: string };

const compare = (label: string, a: number[], b: number[], digits: number): Comparison => {
  const z = mannWhitneyZ(a, b);
  const report = `${label}: bad tag median ${median(a).toFixed(digits)} µs, unknown id median ${median(b).toFixed(digits)} µs, Mann-Whitney z = ${z.toFixed(2)} (${a.length} each)`;
  return { badTag: median(a), unknownId: median(b), z, report };
};

/**
 * Times refusals of a known client's bad-tag token against refusals of an unknown client id,
 * interleaved pair by pair: first in-process through the processor, then over HTTP.
 */
export async function compareRefusals(t: TestServer, n: { warm: number; inProcess: number; http: number }): Promise<{ inProcess: Comparison; http: Comparison }> {
  const { known, unknown } = refusalBodies(t, n.warm + n.inProcess + n.http + 100);
  const p = t.server.processor;
  await interleaved(n.warm, () => p.process(known(), '10.0.0.1'), () => p.process(unknown(), '10.0.0.1'));
  const s = await interleaved(n.inProcess, () => p.process(known(), '10.0.0.1'), () => p.process(unknown(), '10.0.0.1'));
  const h = await interleaved(n.http, () => post(t.url, known()), () => post(t.url, unknown()));
  return { inProcess: compare('in-process', s.a, s.b, 2), http: compare('over HTTP', h.a, h.b, 0) };
}
