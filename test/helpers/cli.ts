import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import { join } from 'node:path';
import { atRoot } from './root.js';

export const BIN = atRoot('bin/psimbols.js');

/** True once a child has exited, by itself or by a signal (exitCode is null then). */
export const gone = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

export type CliResult = { code: number | null; stdout: string; stderr: string };

export type RunOptions = { env?: Record<string, string>; input?: string; cwd?: string };

/** Runs a program with a clean environment (no TTY, no colour forcing, no CI leaks) and collects its output. */
export function runProcess(command: string, args: readonly string[], o: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: o.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d.toString()));
    child.stderr.on('data', (d) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(o.input ?? '');
  });
}

/** Runs the real built binary: for tests whose subject is the process (exit on a signal or a closed pipe, start-up, the call bundle, other processes). */
export const runBinary = (args: readonly string[], o: RunOptions = {}): Promise<CliResult> => runProcess(process.execPath, [BIN, ...args], o);

/** A stream that keeps what is written to it. */
function collector(): Writable & { text: () => string } {
  let text = '';
  const w = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return Object.assign(w, { text: () => text });
}

/**
 * Runs the CLI in this process, through main(argv, io), with the environment and no terminal that
 * runBinary gives the binary. `serve` (which owns the process's signals) and a `cwd` (which only
 * a process has) run the binary instead.
 */
export async function runCli(args: readonly string[], o: RunOptions = {}): Promise<CliResult> {
  if (o.cwd !== undefined || args.includes('serve')) return runBinary(args, o);
  const stdout = collector();
  const stderr = collector();
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...o.env };
  // Loaded on first use: files that only spawn the binary do not pay for the CLI's modules.
  const { main } = await import('../../src/cli/main.js');
  const code = await main(args, { env, stdout, stderr, stdin: Readable.from([o.input ?? '']) });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export type Served = { url: string; child: ChildProcess; stderr: () => string; stop: (signal?: NodeJS.Signals) => Promise<number | null> };

/** Starts `psimbols serve` and waits for its "listening on" line. */
export function spawnServe(args: readonly string[], env: Record<string, string>): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--log-format', 'json', ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 15_000);
    child.stderr.on('data', (d) => {
      stderr += d.toString();
      const m = /"msg":"listening on (https?:\/\/[^"]+)"/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          child,
          stderr: () => stderr,
          stop: (signal = 'SIGTERM') =>
            new Promise((r) => {
              if (gone(child)) return r(child.exitCode);
              child.once('exit', (code) => r(code));
              child.kill(signal);
            }),
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
}

/**
 * The server of a config directory (its server.json, as `serve` would read it) in this process,
 * for tests whose subject is a client command rather than the serve process.
 */
export async function serveInProcess(env: Record<string, string>, port: number): Promise<Pick<Served, 'url' | 'stop' | 'stderr'>> {
  const [{ loadServerConfig }, { startServer }, { createLogger }] = await Promise.all([import('../../src/config/store.js'), import('../../src/server/http/start-server.js'), import('../../src/server/observe/log.js')]);
  const configPath = join(env.PSIMBOLS_CONFIG_DIR ?? '', 'server.json');
  let log = '';
  const server = await startServer({ config: await loadServerConfig(configPath), configPath, host: '127.0.0.1', port, log: createLogger((line) => void (log += line), 'json'), watch: false });
  return { url: server.url, stop: () => server.close().then(() => 0), stderr: () => log };
}

export type FakeTty = PassThrough & { isTTY: boolean; setRawMode: () => void; columns: number; rows: number };

/** A stream that says it is a terminal, for prompts driven in-process through main(). */
export const fakeTty = (): FakeTty => Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined, columns: 80, rows: 24 });

/**
 * Types `answer` and Enter once a prompt whose text includes `marker` is drawn and listens for
 * keys: at once if something listens already, else when a keypress listener is added. Events to
 * wait for, not a time (an earlier version polled with setImmediate, and spun for ever when the
 * prompt listened before it drew).
 */
export function answerPrompt(stdin: FakeTty, stderr: FakeTty, marker: string, answer: string): void {
  let shown = '';
  let answered = false;
  const type = (): void => void setImmediate(() => stdin.write(`${answer}\r`));
  stderr.on('data', (d) => {
    shown += String(d);
    if (answered || !shown.includes(marker)) return;
    answered = true;
    if (stdin.listenerCount('keypress') > 0) return type();
    const onListener = (event: string | symbol): void => {
      if (event !== 'keypress') return;
      stdin.off('newListener', onListener);
      type();
    };
    stdin.on('newListener', onListener);
  });
}
