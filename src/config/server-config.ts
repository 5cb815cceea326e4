import { z } from 'zod';
import { PsimbolsError } from '../errors.js';
import { MAX_WINDOW_SECONDS } from '../protocol/envelope.js';
import { keySpecProblem, type KeySpec } from '../protocol/keys.js';
import { isHttpUrl, isStoreUrl, STORE_URL_RULE } from './urls.js';
import { CLIENT_ID_RULE, isClientId } from './ids.js';
import { isObject } from '../protocol/messages.js';
import { HOST_PORT_RULE, isAddressOrCidr, parseHostPort, WORKERS_RULE } from './addresses.js';
import { describeIssue } from './zod-issue.js';

// The server config file (README, "Configuration"). Unknown fields are errors: a typo in a
// security setting must not be silently ignored.

const keySpec = z.unknown().transform((value, ctx): KeySpec => {
  const problem = keySpecProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem.problem, path: problem.field ? [problem.field] : [] });
  return value as KeySpec;
});

const ALLOW_PATTERN = /^(\*|[A-Za-z_][A-Za-z0-9_]*(\.(\*|[A-Za-z_][A-Za-z0-9_]*))?)$/;
const allowList = z.array(z.string().regex(ALLOW_PATTERN, 'must be "*", "module", "module.*" or "module.function"'));
const url = z.string().refine(isHttpUrl, 'must be an http:// or https:// URL');
const positiveInt = z.number().int().positive();
const storeUrl = z.string().refine(isStoreUrl, STORE_URL_RULE);

/** What a server does while its shared store fails (README, "Several instances"). */
export const ON_STORE_ERROR = ['closed', 'local', 'open'] as const;
export type OnStoreError = (typeof ON_STORE_ERROR)[number];

const clientEntry = z
  .strictObject({
    server: url.optional(),
    keys: z.array(keySpec).min(1, 'must hold at least one key'),
    requestsPerHour: positiveInt.optional(),
    allow: allowList.optional(),
  })
  .superRefine((c, ctx) => {
    // A CBC key stands beside ps2 keys only as the old key of a rotation away from legacy mode:
    // never first (the current key), and never two.
    const legacy = c.keys.filter((k) => k.mode === 'CBC').length;
    if (legacy > 1 || (legacy === 1 && c.keys.length > 1 && c.keys[0]?.mode === 'CBC')) {
      ctx.addIssue({ code: 'custom', path: ['keys'], message: 'a legacy (CBC) key is either a client\'s only key, or the old key of an unfinished rotation to ps2 (after the ps2 keys); never two' });
    }
  });

const moduleEntry = z.strictObject({
  path: z.string().min(1),
  isolate: z.boolean().optional(),
});

const serverConfigSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(9393),
      // HTTPS: PEM files, relative to the config file's folder.
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    })
    .prefault({}),
  server: url.optional(),
  defaults: z
    .strictObject({
      requestsPerHour: positiveInt.default(1000),
      allow: allowList.default(['*']),
    })
    .prefault({}),
  limits: z
    .strictObject({
      bodyBytes: positiveInt.default(64 * 1024),
      callTimeoutMs: positiveInt.default(5000),
      maxConcurrentCalls: positiveInt.default(64),
      pastSeconds: z.number().int().min(0).max(MAX_WINDOW_SECONDS).default(300),
      futureSeconds: z.number().int().min(0).max(MAX_WINDOW_SECONDS).default(60),
      failedAuthPerIp: positiveInt.default(100),
      failedAuthWindowSeconds: positiveInt.default(300),
      // Against slow and idle clients: whole headers, the whole request, an idle keep-alive
      // connection; and how long in-flight requests get on shutdown.
      headersTimeoutMs: positiveInt.default(10_000),
      requestTimeoutMs: positiveInt.default(30_000),
      keepAliveTimeoutMs: positiveInt.default(5_000),
      shutdownTimeoutMs: positiveInt.default(10_000),
    })
    .refine((l) => l.headersTimeoutMs <= l.requestTimeoutMs, { path: ['headersTimeoutMs'], message: 'must not be more than requestTimeoutMs' })
    .prefault({}),
  trustProxy: z.array(z.string().refine(isAddressOrCidr, 'must be an IP address or a CIDR block such as 10.0.0.0/8')).default([]),
  // The one header the trusted proxies write; the other is passed through from the client.
  proxyHeader: z.enum(['x-forwarded-for', 'forwarded']).default('x-forwarded-for'),
  store: storeUrl.default('memory'),
  onStoreError: z.enum(ON_STORE_ERROR).default('closed'),
  modules: z.array(moduleEntry).default([]),
  // Processes that serve on the one port; "auto" is one per core (os.availableParallelism()).
  workers: z.union([z.literal('auto'), z.number().int().min(1, WORKERS_RULE)]).default(1),
  metrics: z
    .strictObject({
      listen: z.string().refine((s) => parseHostPort(s) !== undefined, HOST_PORT_RULE).optional(),
    })
    .prefault({}),
  // Without a prototype, so that an id such as `constructor` is only ever data.
  clients: z.record(z.string(), clientEntry).default({}).transform((c) => Object.setPrototypeOf(c, null) as typeof c),
});

export type ServerConfig = z.output<typeof serverConfigSchema>;
export type ClientEntry = ServerConfig['clients'][string];

/** Validates a parsed server config; the error names the file, the field and the rule. */
export function parseServerConfig(value: unknown, file: string): ServerConfig {
  // zod drops a "__proto__" key without a word: name any invalid id before it can.
  const raw = isObject(value) && isObject(value.clients) ? Object.keys(value.clients) : [];
  const bad = raw.find((id) => !isClientId(id));
  if (bad !== undefined) throw new PsimbolsError('config_invalid', `${file}: clients.${bad}: is not a valid client id (${CLIENT_ID_RULE})`);
  const result = serverConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const { where, problem } = describeIssue(result.error.issues[0], 'field');
  throw new PsimbolsError('config_invalid', `${file}: ${where}: ${problem}`);
}

/** The smallest valid config, as written on first run. */
export function emptyServerConfig(): ServerConfig {
  return serverConfigSchema.parse({});
}

/** True when the server listens on every address but names no `server` URL for its clients. */
export function advertisesLoopbackOnly(config: ServerConfig, host = config.listen.host): boolean {
  return config.server === undefined && (host === '0.0.0.0' || host === '::' || host === '[::]');
}

/** The endpoint a client should use when its entry names none. */
export function defaultServerUrl(config: ServerConfig): string {
  if (config.server) return config.server;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return `${config.listen.tls ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${config.listen.port}/`;
}
