// npm run bench (third part): the primary's CPU per admission under `serve --workers`, alone.
// Two forked processes ask as workers do (PrimaryLink, over the same IPC channel), k requests at
// a time, as a worker under load would; the primary answers from the memory store as
// cluster-primary.ts does. The figure is the primary's own CPU (process.cpuUsage) per request,
// so 1e6 / figure is the request rate at which its one core is full.
// Options: --requests N (50000 per worker).
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { arg } from '../scripts/lib.mjs';

const REQUESTS = Number(arg('requests', 50000));
const { answer, encodeFromWorker, encodeToWorker, FailureLimiter, MemoryAdmissionStore, parseFromWorker, parseToWorker, PrimaryLink } = await import('../dist/internal.js');

if (process.argv[2] === 'worker') {
  // Both ends encode and parse each message as serve --workers does (cluster/messages.ts).
  const link = new PrimaryLink((asks) => process.send(encodeFromWorker(asks)));
  process.on('message', (m) => {
    const answers = parseToWorker(m);
    if (answers?.psimbols === 'answers') link.receive(answers);
  });
  const [k, total] = [Number(process.argv[3]), Number(process.argv[4])];
  const client = `c-${process.pid}`;
  for (let done = 0; done < total; done += k) {
    await Promise.all(Array.from({ length: k }, () => link.admit({ client, nonceKey: randomUUID(), nonceTtlMs: 360_000, limit: 1e9, windowMs: 3_600_000, ts: undefined, pastSeconds: 300, futureSeconds: 60 })));
  }
  process.send({ psimbols: 'done' });
  process.disconnect();
} else {
  console.log(`machine: ${availableParallelism()} cores, Node ${process.version}; 2 workers asking ${REQUESTS} admissions each`);
  for (const k of [1, 4, 16, 64]) {
    const store = new MemoryAdmissionStore({ sweep: false });
    const failures = new FailureLimiter({ limit: 100, windowMs: 60_000 });
    const before = process.cpuUsage();
    let messages = 0;
    await Promise.all(
      [0, 1].map(
        () =>
          new Promise((resolve) => {
            const child = fork(fileURLToPath(import.meta.url), ['worker', String(k), String(REQUESTS)]);
            child.on('message', (m) => {
              if (m.psimbols === 'done') return resolve();
              const asks = parseFromWorker(m);
              if (asks?.psimbols !== 'asks') return;
              messages++;
              void answer(asks, store, failures).then((a) => child.send(encodeToWorker(a)));
            });
          }),
      ),
    );
    const used = process.cpuUsage(before);
    const us = (used.user + used.system) / (2 * REQUESTS);
    console.log(`k=${String(k).padEnd(3)} primary µs/request ${us.toFixed(2)}  requests a message ${((2 * REQUESTS) / messages).toFixed(1)}  primary core full at about ${Math.round(1e6 / us)} req/s`);
    await store.close();
  }
}
