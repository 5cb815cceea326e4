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

/** One line on stderr, red when colour is on; chalk is loaded only then. */
export async function printError(io: Io, g: GlobalOptions, message: string): Promise<void> {
  const line = `psimbols: ${message}`;
  if (!colorEnabled(io, g)) return err(io, line);
  const { Chalk } = await import('chalk');
  err(io, new Chalk({ level: 1 }).red(line));
}
