import { confirm, input } from '@inquirer/prompts';
import { PsimbolsError } from '../errors.js';
import { CLIENT_ID_RULE, isClientId } from '../config/ids.js';
import type { Io } from './io.js';

// Imported only when a prompt is about to be shown. Prompts draw on stderr so stdout keeps
// carrying only the command's output.

/** Yes or no, default no. */
export async function askToConfirm(io: Io, message: string): Promise<boolean> {
  try {
    return await confirm({ message, default: false }, { input: io.stdin, output: io.stderr });
  } catch (e) {
    if (e instanceof Error && e.name === 'ExitPromptError') return false;
    throw e;
  }
}

export async function askClientId(io: Io, message: string): Promise<string> {
  try {
    return await input(
      { message, required: true, validate: (v) => isClientId(v) || CLIENT_ID_RULE },
      { input: io.stdin, output: io.stderr },
    );
  } catch (e) {
    if (e instanceof Error && e.name === 'ExitPromptError') throw new PsimbolsError('usage', 'cancelled');
    throw e;
  }
}
