import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refusalBodies } from '../helpers/attacks.js';
import { post, startTestServer } from '../helpers/server.js';
import { interleaved, mannWhitneyZ, median } from '../helpers/timing.js';

// Run alone (npm run stress), so that nothing else on the machine skews one side.

test('refusals of unknown client ids and of bad tags are statistically indistinguishable', async (ctx) => {
  const t = await startTestServer({ config: { limits: { failedAuthPerIp: 10_000_000 } } });
  try {
    const { known, unknown } = refusalBodies(t, 4000);
    const p = t.server.processor;
    await interleaved(200, () => p.process(known(), '10.0.0.1'), () => p.process(unknown(), '10.0.0.1'));
    const s = await interleaved(1500, () => p.process(known(), '10.0.0.1'), () => p.process(unknown(), '10.0.0.1'));
    const z = mannWhitneyZ(s.a, s.b);
    ctx.diagnostic(`in-process: bad tag median ${median(s.a).toFixed(2)} µs, unknown id median ${median(s.b).toFixed(2)} µs, Mann-Whitney z = ${z.toFixed(2)} (1500 each)`);
    assert.ok(Math.abs(z) < 4, `z = ${z}`);
    const h = await interleaved(500, () => post(t.url, known()), () => post(t.url, unknown()));
    const hz = mannWhitneyZ(h.a, h.b);
    ctx.diagnostic(`over HTTP: bad tag median ${median(h.a).toFixed(0)} µs, unknown id median ${median(h.b).toFixed(0)} µs, z = ${hz.toFixed(2)} (500 each)`);
    assert.ok(Math.abs(hz) < 4, `z = ${hz}`);
  } finally {
    await t.close();
  }
});
