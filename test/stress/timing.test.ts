import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRefusals, PAIRS } from '../helpers/attacks.js';
import { startTestServer } from '../helpers/server.js';

// Run alone (npm run stress), so that nothing else on the machine skews one side. Over HTTP, what
// an attacker can measure, the two sides must be statistically indistinguishable. In-process,
// where a hundred nanoseconds can show, a difference fails the test only when it is both
// statistically clear (|z| >= 4) and more than 3% of the median; docs/SECURITY.md states both.

for (const pair of PAIRS) {
  test(`refusals are statistically indistinguishable: ${pair[0]} / ${pair[1]}`, async (ctx) => {
    const t = await startTestServer({ config: { limits: { failedAuthPerIp: 10_000_000 } } });
    try {
      const { inProcess, http } = await compareRefusals(t, pair, { warm: 200, inProcess: 1500, http: 500 });
      ctx.diagnostic(inProcess.report);
      ctx.diagnostic(http.report);
      assert.ok(Math.abs(http.z) < 4, http.report);
      assert.ok(Math.abs(inProcess.z) < 4 || Math.abs(inProcess.a / inProcess.b - 1) < 0.03, inProcess.report);
    } finally {
      await t.close();
    }
  });
}
