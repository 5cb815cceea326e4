import { CommanderError } from '@commander-js/extra-typings';
import { errnoCode, errorMessage, PsimbolsError } from '../errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { err, printError, type Io } from './io.js';
import { buildProgram } from './program.js';

// The edge: argv and streams in, an exit code out. The commands are declared in program.ts.

/** Runs the CLI and returns its exit code; it never calls process.exit. */
export async function main(argv: readonly string[], io: Io, only?: 'call'): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(
    io,
    (c) => {
      code = c;
    },
    only,
  );
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof PsimbolsError) {
      await printError(io, program.opts(), e.message);
      return exitCodeFor(e.code);
    }
    err(io, `psimbols: internal error: ${errorMessage(e)}`);
    return EXIT.other;
  }
}

/**
 * A reader that went away (`| head -1`) ends the program quietly, with the status of a process
 * killed by SIGPIPE, as other tools do; any other failure to write stdout is an error.
 */
function outputFailed(code: string): number {
  if (code === 'EPIPE') return EXIT.brokenPipe;
  process.stderr.write(`psimbols: cannot write the output (${code}): the output is incomplete; check where stdout goes\n`);
  return EXIT.usage;
}

/** The launcher's entry: real streams in, exit code out. `only`: the command line is `psimbols call …`. */
export function run(only?: 'call'): void {
  // process.stdin builds a stream on first use (about a millisecond); most commands never read it.
  const io: Io = {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    get stdin() {
      return process.stdin;
    },
  };
  // Output that cannot be written is an error: a key printed to a full disk is a key lost.
  let failed: string | undefined;
  const fail = (e: unknown): void => void (failed ??= errnoCode(e) ?? 'error');
  process.stdout.on('error', fail);
  main(process.argv.slice(2), io, only).then(
    (code) => {
      // Exit as soon as the output is flushed rather than when idle keep-alive sockets and
      // timers wind down: a few milliseconds of every call in a CI script.
      process.exitCode = code;
      process.stdout.write('', (e) => {
        if (e) fail(e);
        const final = failed === undefined ? code : outputFailed(failed);
        process.stderr.write('', () => process.exit(final));
      });
    },
    (e: unknown) => {
      process.stderr.write(`psimbols: internal error: ${errorMessage(e)}\n`);
      process.exitCode = EXIT.other;
    },
  );
}
