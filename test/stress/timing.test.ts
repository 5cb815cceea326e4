import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRefusals } from '../helpers/attacks.js';
import { startTestServer } from '../helpers/server.js';

// Run alone (npm run stress), so that nothing else on the machine skews one side.

test('refusals of unknown client ids and of bad tags are statistically indistinguishable', async (ctx) => {
  const t = await startTestServer({ config: { limits: { failedAuthPerIp: 10_000_000 } } });
  try {
    const { inProcess, http } = await compareRefusals(t, { warm: 200, inProcess: 1500, http: 500 });
    ctx.diagnostic(inProcess.report);
    ctx.diagnostic(http.report);
    assert.ok(Math.abs(inProcess.z) < 4, inProcess.report);
    assert.ok(Math.abs(http.z) < 4, http.report);
  } finally {
    await t.close();
  }
});
