// npm run test:repeat [-- --runs N] [-- --idle]: the whole suite N times (default 10) while two
// busy loops load both cores, as a CI machine under load would. Builds once, prints one line per
// run and a closing count, and exits 1 if any run failed. --idle leaves the cores alone.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { arg } from './lib.mjs';
const runs = Number(arg('runs', 10));
const idle = process.argv.includes('--idle');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// The test command without its build step, which ran once above; a shell expands its glob.
const command = pkg.scripts.test;

const build = spawnSync('npm', ['run', 'pretest'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(1);

const busy = idle ? [] : [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
const stop = () => busy.forEach((b) => b.kill('SIGKILL'));
process.on('exit', stop);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

let failed = 0;
for (let i = 1; i <= runs; i++) {
  const start = Date.now();
  const r = await new Promise((resolve) => {
    const child = spawn(command, { stdio: ['ignore', 'pipe', 'pipe'], shell: true });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
  const fails = [...r.out.matchAll(/^\s*✖ (.+)$/gm)].map((m) => m[1]);
  const summary = /ℹ pass (\d+)[\s\S]*?ℹ fail (\d+)/.exec(r.out);
  if (r.code !== 0) failed++;
  console.log(`run ${i}: exit ${r.code}, ${summary ? `${summary[1]} passed, ${summary[2]} failed` : 'no summary'}, ${((Date.now() - start) / 1000).toFixed(0)} s${fails.length ? `\n  ${[...new Set(fails)].join('\n  ')}` : ''}`);
}
stop();
console.log(`${runs - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
