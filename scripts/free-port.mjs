import { createServer } from 'node:net';

/** A port on 127.0.0.1 that was free a moment ago, for the scripts and the benchmark. */
export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
