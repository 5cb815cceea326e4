import type { Env } from '../config/paths.js';

/** What a command may touch of the outside world; tests pass their own. */
export type Io = {
  readonly env: Env;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
};

/** Global flags every command sees. */
export type GlobalOptions = { readonly configDir?: string; readonly color?: boolean; readonly input?: boolean };

export const out = (io: Io, text: string): void => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
export const err = (io: Io, text: string): void => void io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

/** NO_COLOR, --no-color and a non-TTY stream all turn colour off. */
function colorEnabled(io: Io, g: GlobalOptions, stream: 'stdout' | 'stderr' = 'stderr'): boolean {
  if (g.color === false || io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return false;
  if (io.env.FORCE_COLOR && io.env.FORCE_COLOR !== '0') return true;
  return io[stream].isTTY === true;
}

/** Prompts only with a person at a terminal: never without a TTY, with --no-input, or in CI. */
export function canPrompt(io: Io, g: GlobalOptions): boolean {
  return g.input !== false && io.stdin.isTTY === true && io.stderr.isTTY === true && !io.env.CI;
}

/**
 * JSON for people and for programs, as gh and jq do: indented and coloured on a terminal, one
 * compact line when piped.
 */
export async function printJson(io: Io, g: GlobalOptions, value: unknown): Promise<void> {
  if (!io.stdout.isTTY) return out(io, JSON.stringify(value));
  const text = JSON.stringify(value, null, 2);
  if (!colorEnabled(io, g, 'stdout')) return out(io, text);
  const { Chalk } = await import('chalk');
  const c = new Chalk({ level: 1 });
  const TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  out(io, text.replace(TOKEN, (m, str: string | undefined, colon: string | undefined, word: string | undefined) => (str ? (colon ? c.cyan(str) + colon : c.green(str)) : word ? c.magenta(m) : c.yellow(m))));
}

/** A warning line on stderr, yellow when colour is on. */
export async function printWarning(io: Io, g: GlobalOptions, message: string): Promise<void> {
  const line = `psimbols: warning: ${message}`;
  if (!colorEnabled(io, g)) return err(io, line);
  const { Chalk } = await import('chalk');
  err(io, new Chalk({ level: 1 }).yellow(line));
}

/** One line on stderr, red when colour is on; chalk is loaded only then. */
export async function printError(io: Io, g: GlobalOptions, message: string): Promise<void> {
  const line = `psimbols: ${message}`;
  if (!colorEnabled(io, g)) return err(io, line);
  const { Chalk } = await import('chalk');
  err(io, new Chalk({ level: 1 }).red(line));
}
