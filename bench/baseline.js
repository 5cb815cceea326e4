// The floor psimbols is measured against: plain node:http doing only the ps2 work for one
// client (open, factorial, seal, replay set), with no registry, limiter, logging or validation.
// Usage: node bench/baseline.js PORT CLIENT_CONFIG_JSON
import { createServer } from 'node:http';
import { openRequest, prepareKey, sealResponse } from '../dist/index.js';

const [port, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const key = prepareKey(config.key);
const seen = new Set();

function factorial(n) {
  let acc = 1n;
  for (let i = 2n; i <= BigInt(n); i++) acc *= i;
  return acc <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(acc) : acc.toString();
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString());
    const r = openRequest(body.request, { client: body.client, server: body.server, keys: [key], now: Math.floor(Date.now() / 1000) });
    const nonce = r.ok ? r.value.header.nonce.toString('base64url') : '';
    if (!r.ok || seen.has(nonce)) {
      res.writeHead(401).end();
      return;
    }
    seen.add(nonce);
    const n = r.value.message.run.params.n;
    const response = sealResponse(
      { request_id: r.value.message.request_id, return: { value: factorial(n), comment: `${n}!` } },
      { client: body.client, server: body.server, key, requestToken: body.request },
    );
    const out = JSON.stringify({ client: body.client, server: body.server, response });
    res.writeHead(200, { 'content-type': 'application/json' }).end(out);
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
