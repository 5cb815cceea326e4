import { parseServerConfig, type ServerConfig } from '../../config/server-config.js';
import { isErrorCode, type ErrorCode } from '../../errors.js';
import { decodeAnswer, decodeRequest, encodeAnswer, encodeRequest } from '../admission/codec.js';
import type { Admission, AdmissionRequest } from '../admission/admission.js';
import type { LogFormat } from '../observe/log.js';

// Every message between the primary of `serve --workers N` and its workers, its encoding (the
// admission questions and answers through codec.ts) and the one parser for each direction. What
// arrives over IPC is unknown until parsed here: a message that does not parse is dropped.

/** The worker's first word, once it listens for messages: anything sent before then would be lost. */
export type Hello = { readonly psimbols: 'hello' };
export type Init = {
  readonly psimbols: 'init';
  readonly config: ServerConfig;
  readonly configPath: string;
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** A listening socket the primary inherited (systemd's socket activation), shared with the workers. */
  readonly fd: number | undefined;
  readonly logFormat: LogFormat;
  readonly metrics: boolean;
};
/** Admission questions, each with the id its answer carries: a request to admit, or an address's failure to count. */
export type Asks = { readonly psimbols: 'asks'; readonly admits: readonly AdmitAsk[]; readonly fails: readonly FailAsk[] };
export type Answers = { readonly psimbols: 'answers'; readonly admits: readonly AdmitAnswer[]; readonly fails: readonly FailAnswer[] };
export type AdmitAsk = readonly [id: number, request: AdmissionRequest];
export type FailAsk = readonly [id: number, key: string];
export type AdmitAnswer = readonly [id: number, admission: Admission];
/** How long the address was already blocked, in ms (0: not). */
export type FailAnswer = readonly [id: number, blockedMs: number];

/** `tls`: the certificate files changed, read them again. */
export type ToWorker = Init | Answers | { readonly psimbols: 'config'; readonly config: ServerConfig } | { readonly psimbols: 'tls' } | { readonly psimbols: 'drain' };
export type FromWorker =
  | Hello
  | Asks
  | { readonly psimbols: 'ready'; readonly url: string; readonly port: number }
  /** A PsimbolsError's code, or else an errno code, for the primary to rethrow as it was. */
  | { readonly psimbols: 'failed'; readonly message: string; readonly code: ErrorCode | undefined; readonly errno: string | undefined }
  | { readonly psimbols: 'log'; readonly text: string };

/** A message as it crosses the channel: admissions through their codec, the rest as they are. */
export function encodeToWorker(m: ToWorker): object {
  if (m.psimbols !== 'answers') return m;
  return { psimbols: 'answers', admits: m.admits.map(([id, a]) => [id, encodeAnswer(a)]), fails: m.fails };
}

export function encodeFromWorker(m: FromWorker): object {
  if (m.psimbols !== 'asks') return m;
  return { psimbols: 'asks', admits: m.admits.map(([id, r]) => [id, encodeRequest(r)]), fails: m.fails };
}

type Fields = { readonly [key: string]: unknown };
const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPair = (v: unknown): v is readonly [unknown, unknown] => Array.isArray(v) && v.length === 2;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** [id, x] pairs whose x decodes, or undefined if any does not. */
function pairs<T>(v: unknown, decode: (x: unknown) => T | undefined): (readonly [number, T])[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: (readonly [number, T])[] = [];
  for (const item of v) {
    if (!isPair(item)) return undefined;
    const id = num(item[0]);
    const x = decode(item[1]);
    if (id === undefined || x === undefined) return undefined;
    out.push([id, x]);
  }
  return out;
}

function config(v: unknown): ServerConfig | undefined {
  try {
    return parseServerConfig(v, 'the config from the primary');
  } catch {
    return undefined;
  }
}

function parseInit(m: Fields): Init | undefined {
  const cfg = config(m.config);
  const configPath = str(m.configPath);
  const logFormat = m.logFormat === 'text' || m.logFormat === 'json' || m.logFormat === 'journal' ? m.logFormat : undefined;
  if (cfg === undefined || configPath === undefined || logFormat === undefined || typeof m.metrics !== 'boolean') return undefined;
  return { psimbols: 'init', config: cfg, configPath, host: str(m.host), port: num(m.port), fd: num(m.fd), logFormat, metrics: m.metrics };
}

/** What the primary sent a worker. */
export function parseToWorker(m: unknown): ToWorker | undefined {
  if (!isObject(m)) return undefined;
  switch (m.psimbols) {
    case 'init':
      return parseInit(m);
    case 'answers': {
      const admits = pairs(m.admits, decodeAnswer);
      const fails = pairs(m.fails, num);
      return admits && fails ? { psimbols: 'answers', admits, fails } : undefined;
    }
    case 'config': {
      const cfg = config(m.config);
      return cfg && { psimbols: 'config', config: cfg };
    }
    case 'tls':
      return { psimbols: 'tls' };
    case 'drain':
      return { psimbols: 'drain' };
    default:
      return undefined;
  }
}

/** What a worker sent the primary. */
export function parseFromWorker(m: unknown): FromWorker | undefined {
  if (!isObject(m)) return undefined;
  switch (m.psimbols) {
    case 'hello':
      return { psimbols: 'hello' };
    case 'asks': {
      const admits = pairs(m.admits, decodeRequest);
      const fails = pairs(m.fails, str);
      return admits && fails ? { psimbols: 'asks', admits, fails } : undefined;
    }
    case 'ready': {
      const url = str(m.url);
      const port = num(m.port);
      return url !== undefined && port !== undefined ? { psimbols: 'ready', url, port } : undefined;
    }
    case 'failed': {
      const message = str(m.message);
      return message === undefined ? undefined : { psimbols: 'failed', message, code: isErrorCode(m.code) ? m.code : undefined, errno: str(m.errno) };
    }
    case 'log': {
      const text = str(m.text);
      return text === undefined ? undefined : { psimbols: 'log', text };
    }
    default:
      return undefined;
  }
}
