import { Writable } from 'node:stream';
import { confirm, input } from '@inquirer/prompts';
import { PsimbolsError } from '../errors.js';
import { CLIENT_ID_RULE, isClientId } from '../config/ids.js';
import type { Io } from './io.js';

// Imported only when a prompt is about to be shown. Prompts draw on stderr so stdout keeps
// carrying only the command's output.

// @inquirer pipes its output into the stream it is given and ends it when the prompt closes; Node
// spares process.stderr that, but not another stream (Node 24 then refused the error line after a
// cancelled prompt). The prompt gets a stream of its own that writes through and never ends stderr.
function keepOpen(stream: Io['stderr']): Writable {
  const through = new Writable({ write: (chunk: Buffer, _encoding, done) => void stream.write(chunk, () => done()) });
  const size = stream as { columns?: number; rows?: number };
  return Object.assign(through, { isTTY: stream.isTTY === true, columns: size.columns ?? 80, rows: size.rows ?? 24 });
}

/** Yes or no, default no. */
export async function askToConfirm(io: Io, message: string): Promise<boolean> {
  try {
    return await confirm({ message, default: false }, { input: io.stdin, output: keepOpen(io.stderr) });
  } catch (e) {
    if (e instanceof Error && e.name === 'ExitPromptError') return false;
    throw e;
  }
}

export async function askClientId(io: Io, message: string): Promise<string> {
  try {
    return await input(
      { message, required: true, validate: (v) => isClientId(v) || CLIENT_ID_RULE },
      { input: io.stdin, output: keepOpen(io.stderr) },
    );
  } catch (e) {
    if (e instanceof Error && e.name === 'ExitPromptError') throw new PsimbolsError('usage', 'cancelled');
    throw e;
  }
}
