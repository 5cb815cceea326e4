// Log lines for operators: human-readable on a terminal, JSON lines otherwise, and for journald
// the text without its time (journald stamps each line) behind a syslog priority, <3> to <6>,
// which journald reads from the line (SyslogLevelPrefix=). Never keys, tokens or plaintexts;
// the reason for a 401 appears here and nowhere else.

export type LogFormat = 'text' | 'json' | 'journal';
type Level = 'info' | 'warn' | 'error';
type Fields = { readonly [k: string]: string | number | boolean | undefined };

export type Logger = {
  log(level: Level, message: string, fields?: Fields): void;
  access(fields: AccessFields): void;
};

/** What became of a request, as the handler decided it: for the access line and the metrics. */
export type RequestOutcome = 'ok' | 'function_error' | 'rate_limited' | 'unauthorized' | 'blocked' | 'unavailable' | 'bad_request' | 'aborted' | 'internal_error' | 'health';

/** What the handler decided about a request, for its access line and its metrics. */
export type Sent = {
  readonly status: number;
  readonly outcome: RequestOutcome;
  readonly client?: string;
  /** The function called, for a request that authenticated. */
  readonly module?: string;
  readonly fn?: string;
  readonly requestId?: string;
  readonly reason?: string;
  readonly error?: string;
  readonly detail?: string;
};

export type AccessFields = Sent & { readonly ip: string; readonly method: string; readonly ms: number };

const clean = (fields: Fields): Fields => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));

// Values come from the network: quote anything that could break a line or forge a field.
const show = (v: string | number | boolean): string => (typeof v === 'string' && !/^[\w.:/@-]+$/.test(v) ? JSON.stringify(v) : String(v));

// A JSON string: as it is when it needs no escaping, the usual case for ids and calls.
const PLAIN = /^[\w.:/@ -]*$/;
const jsonString = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

const field = (name: string, v: string | undefined): string => (v === undefined ? '' : `,"${name}":${jsonString(v)}`);

/** One JSON access line, built by hand in one expression: it is written for every request. */
function accessLine(time: string, f: AccessFields, worker: number | undefined): string {
  // Latency to the hundredth of a millisecond: the digits beyond are noise.
  return `{"time":"${time}","level":"${f.status >= 500 ? 'error' : 'info'}","msg":"request","ip":${jsonString(f.ip)},"method":${jsonString(f.method)},"ms":${Math.round(f.ms * 100) / 100},"status":${f.status}${field('client', f.client)}${f.module === undefined ? '' : `,"call":${jsonString(`${f.module}.${f.fn ?? ''}`)}`}${field('requestId', f.requestId)}${field('reason', f.reason)}${field('error', f.error)}${field('detail', f.detail)}${worker === undefined ? '' : `,"worker":${worker}`}}\n`;
}

const PRIORITY: Readonly<Record<Level, string>> = { error: '<3>', warn: '<4>', info: '<6>' };

/** `worker`: the cluster worker whose lines these are, named in each. */
export function createLogger(write: (line: string) => void, format: LogFormat, now: () => number = Date.now, worker?: number): Logger {
  // Many lines share a millisecond: their time is formatted once.
  let lastMs = Number.NaN;
  let lastTime = '';
  const timeOf = (ms: number): string => (ms === lastMs ? lastTime : ((lastMs = ms), (lastTime = new Date(ms).toISOString())));
  const emit = (level: Level, message: string, fields: Fields): void => {
    if (format === 'json') {
      // JSON.stringify already leaves out undefined fields.
      write(`${JSON.stringify({ time: timeOf(now()), level, msg: message, ...fields, worker })}\n`);
      return;
    }
    const rest = Object.entries(clean({ ...fields, worker }))
      .map(([k, v]) => `${k}=${show(v as string | number | boolean)}`)
      .join(' ');
    // journald stamps each line itself.
    const head = format === 'journal' ? PRIORITY[level] : `${timeOf(now())} ${level === 'info' ? '' : `${level.toUpperCase()} `}`;
    write(`${head}${message}${rest ? ` ${rest}` : ''}\n`);
  };
  return {
    log: (level, message, fields = {}) => emit(level, message, fields),
    access: (f) => {
      if (format === 'json') return write(accessLine(timeOf(now()), f, worker));
      const { status, outcome: _outcome, method, ms, client, module, fn, requestId, ...rest } = f;
      emit(status >= 500 ? 'error' : 'info', `${status} ${method} ${client ?? '-'} ${module === undefined ? '-' : `${module}.${fn ?? ''}`} ${ms.toFixed(1)}ms`, { id: requestId, ...rest });
    },
  };
}

export const silentLogger: Logger = { log: () => undefined, access: () => undefined };
