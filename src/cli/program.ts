import { readFileSync } from 'node:fs';
import { Argument, Command, Option } from '@commander-js/extra-typings';
import { CLIENT_ID_RULE } from '../config/ids.js';
import type { GlobalOptions, Io } from './io.js';
import {
  clientConfigOption,
  endpointOption,
  httpUrl,
  jsonOption,
  keyFileOption,
  outputOption,
  port,
  positiveInt,
  perSecond,
  positiveSeconds,
  serverConfigOption,
  storeUrl,
  timeoutOption,
  workers,
  hostPort,
  wholeNumber,
} from './options.js';

// Every command and option, declared once, one function per command. Each command's code is
// imported when that command runs, so `call` never loads the server, zod or the prompts.

// The bundles have the version written in at build time (scripts/bundle.mjs): one file read less.
export const version = (): string => {
  if (process.env.PSIMBOLS_BUILT_VERSION !== undefined) return process.env.PSIMBOLS_BUILT_VERSION;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
};

const EXIT_HELP =
  '\nExit codes: 0 success, 1 the function returned an error, 2 usage or config error, 3 network error, timeout or server\nunavailable (503), 4 authentication refused, 5 rate limited, 6 any other server or protocol failure.\n';

type Run<A extends unknown[]> = (io: Io, g: GlobalOptions, ...args: A) => Promise<number>;
type Program = Command<[], { configDir?: string; color: boolean; input: boolean }>;
/** Wraps a command module's `run` as an action: loaded when it runs, given the io and the global options. */
type Lazy = <A extends unknown[]>(load: () => Promise<{ run: Run<A> }>) => (...args: A) => Promise<void>;

const example = (text: string): string => `\nExample:\n  ${text}\n`;

function serve(program: Program, lazy: Lazy): void {
  program
    .command('serve')
    .description('run the server (creates a config with a "local" client on first run)')
    .option('--host <host>', 'address to listen on (default from the config: 127.0.0.1)')
    .addOption(new Option('-p, --port <port>', 'port to listen on (default from the config: 9393)').argParser(port))
    .addOption(serverConfigOption())
    .addOption(new Option('--store <url>', 'limits and replay store: memory, or redis://host:port/db').argParser(storeUrl))
    .addOption(new Option('--log-format <format>', 'log format (default: journal under systemd, text on a terminal, json otherwise)').choices(['text', 'json', 'journal'] as const))
    .option('--no-watch', 'do not reload the config when the file changes (SIGHUP still does)')
    .addOption(new Option('--workers <n>', 'processes serving on the one port, or auto for one per core (default from the config: 1)').argParser(workers))
    .addOption(new Option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (default from the config: off)').argParser(hostPort))
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain), and the metrics too; needs --tls-key (default from the config: listen.tls)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .addHelpText('after', example('psimbols serve --port 9393\n  psimbols serve --workers auto --metrics 127.0.0.1:9464'))
    .action(lazy(() => import('./commands/serve.js')));
}

function call(program: Program, lazy: Lazy): void {
  program
    .command('call')
    .description('call a function on the server and print its value')
    .argument('[module]', 'module name, e.g. supermath')
    .argument('[function]', 'function name, e.g. factorial')
    .argument('[items...]', 'params: key=value (number, true, false, null or string), key:=json, key=@file, key:=@file (@- is stdin)')
    .addOption(clientConfigOption())
    .option('--batch <file>', 'many calls in one process: one JSON object per line, {"module","function","params","id"}; - for stdin')
    .addOption(new Option('--concurrency <n>', 'with --batch, calls in flight at once').argParser(positiveInt).default(8))
    .addOption(endpointOption())
    .option('--params <json>', 'the whole params object as JSON, @FILE to read it from a file, or - from stdin')
    .option('--json', 'print the whole decrypted response object')
    .option('--offline', 'print the sealed request without sending it')
    .option('-v, --verbose', 'print the comment to stderr')
    .addOption(timeoutOption())
    .addOption(new Option('--retry <n>', 'retry up to n times after a network failure, a timeout or a 503, each freshly sealed, honouring Retry-After').argParser(wholeNumber).default(0))
    .addOption(new Option('--max-response-bytes <n>', 'refuse, unread, a response body larger than this').argParser(positiveInt).default(8 * 1024 * 1024, '8 MiB'))
    .option('--cacert <file>', "for an https server, trust only the CA certificates in this PEM file (default: Node's list, NODE_EXTRA_CA_CERTS and the system's)")
    .addHelpText('after', example('psimbols call supermath factorial n=3\n  printf \'%s\\n\' \'{"module":"supermath","function":"factorial","params":{"n":3}}\' | psimbols call --batch -'))
    .action(lazy(() => import('./commands/call.js')));
}

function keygen(program: Program, lazy: Lazy): void {
  program
    .command('keygen')
    .description('print a fresh 32-byte key (base64url); its key id goes to stderr')
    .option('-o, --output <file>', 'write the key to this file (mode 0600) instead of stdout (- is stdout)')
    .option('--force', 'overwrite an existing file')
    .option('--id <file>', 'print the key id of this key file instead (- is stdin)')
    .addHelpText('after', example('psimbols keygen -o client.key\n  psimbols keygen --id client.key'))
    .action(lazy(() => import('./commands/keygen.js')));
}

function addClient(program: Program, lazy: Lazy): void {
  program
    .command('add-client')
    .description('register a client and print its config (seed format) for it to use')
    .argument('[id]', `client id (${CLIENT_ID_RULE})`)
    .addOption(serverConfigOption())
    .addOption(keyFileOption())
    .addOption(new Option('--server <url>', 'the endpoint the client will use (default from the server config)').argParser(httpUrl))
    .addOption(new Option('--requests-per-hour <n>', "this client's hourly limit (default from the server config)").argParser(positiveInt))
    .option('--allow <pattern>', 'allow only module.function (repeatable; "supermath.*" allows a module)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--legacy-key <string>', 'register a seed-format AES-CBC client with this key (unauthenticated: avoid; ps shows it: prefer --legacy-key-file)')
    .option('--legacy-key-file <file>', 'the same, with the key read from a file, or - for standard input')
    .addOption(outputOption())
    .option('--force', 'replace an existing client, or overwrite the output file')
    .addHelpText('after', example('psimbols add-client ci-runner --requests-per-hour 600 -o ci-runner.json'))
    .action(lazy(() => import('./commands/add-client.js')));
}

function listClients(program: Program, lazy: Lazy): void {
  program
    .command('list-clients')
    .description('list registered clients (never their keys)')
    .addOption(serverConfigOption())
    .addOption(jsonOption())
    .option('--ids', 'print only the client ids, one a line (for scripts and shell completion)')
    .addHelpText('after', example('psimbols list-clients --json'))
    .action(lazy(() => import('./commands/list-clients.js')));
}

function removeClient(program: Program, lazy: Lazy): void {
  program
    .command('remove-client')
    .description('remove a client (asks first at a terminal)')
    .argument('[id]', 'client id')
    .addOption(serverConfigOption())
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', example('psimbols remove-client ci-runner'))
    .action(lazy(() => import('./commands/remove-client.js')));
}

function rotateKey(program: Program, lazy: Lazy): void {
  program
    .command('rotate-key')
    .description('give a client a new key; the old one stays accepted until --finish')
    .argument('[id]', 'client id')
    .addOption(serverConfigOption())
    .addOption(keyFileOption())
    .option('--retire-old', 'stop accepting the old keys at once')
    .option('--finish', 'stop accepting every key but the newest')
    .addOption(outputOption())
    .option('--force', 'overwrite the output file')
    .addHelpText('after', example('psimbols rotate-key ci-runner -o ci-runner.json   # later: psimbols rotate-key ci-runner --finish'))
    .action(lazy(() => import('./commands/rotate-key.js')));
}

function functions(program: Program, lazy: Lazy): void {
  program
    .command('functions')
    .description('list the functions the server offers to this client, with their parameter schemas')
    .addOption(clientConfigOption())
    .addOption(endpointOption())
    .addOption(jsonOption())
    .addOption(timeoutOption())
    .addHelpText('after', example('psimbols functions --json'))
    .action(lazy(() => import('./commands/functions.js')));
}

function inspect(program: Program, lazy: Lazy): void {
  program
    .command('inspect')
    .description('what a token says, and with a key whether it opens or why it is refused: the tool for "why did I get 401"')
    .argument('<token>', 'a token or a whole request body (as call --offline prints it), or - for stdin')
    .addOption(clientConfigOption())
    .addOption(serverConfigOption())
    .addOption(jsonOption())
    .addHelpText('after', example('psimbols call supermath factorial n=3 --offline | psimbols inspect - --client-config client.json'))
    .action(lazy(() => import('./commands/inspect.js')));
}

function bench(program: Program, lazy: Lazy): void {
  program
    .command('bench')
    .description('measure a server: requests per second and latency, with freshly sealed requests')
    .argument('[module]', 'module name (default: supermath factorial n=10)')
    .argument('[function]', 'function name')
    .argument('[items...]', 'params, as for call')
    .addOption(clientConfigOption())
    .addOption(endpointOption())
    .addOption(new Option('-c, --connections <n>', 'keep-alive connections (as wrk and hey)').argParser(positiveInt).default(16))
    .addOption(new Option('-n, --requests <n>', 'send this many requests').argParser(positiveInt).conflicts('duration'))
    .addOption(new Option('-d, --duration <seconds>', 'send for this long, fractions too (default 10 s unless --requests)').argParser(positiveSeconds))
    .addOption(new Option('--rate <n>', 'send at most this many requests a second, over all connections, warm-up too (default: as fast as answers come)').argParser(perSecond))
    .option('--force', "send even when the run would spend more than the client's remaining hourly quota")
    .option('--cacert <file>', 'for an https server, trust only the CA certificates in this PEM file')
    .addOption(jsonOption())
    .addHelpText('after', example('psimbols bench supermath factorial n=20 --connections 32 -d 10'))
    .action(lazy(() => import('./commands/bench.js')));
}

const ENVIRONMENT = `
Environment variables psimbols reads:
  PSIMBOLS_CONFIG_DIR     the config directory (after --config-dir)
  XDG_CONFIG_HOME, HOME   the config directory otherwise: $XDG_CONFIG_HOME/psimbols, else ~/.config/psimbols
  PSIMBOLS_SERVER_CONFIG  the server config file (after -c); serve never creates it
  PSIMBOLS_CLIENT_CONFIG  the client config file (after --client-config)
  NO_COLOR                no colours, when set and not empty (as --no-color)
  FORCE_COLOR             colours even when not on a terminal, unless 0
  CI                      never prompt, when set (as --no-input)
  NODE_EXTRA_CA_CERTS     more CAs for an https:// server (read by Node; --cacert replaces them)
  SSL_CERT_FILE           the system's CA bundle, where OpenSSL looks (for an https:// server)
  LISTEN_FDS, LISTEN_PID  serve listens on the socket systemd passes (socket activation)
  JOURNAL_STREAM          serve logs in the journal format when stderr is that stream (systemd)
`;

function environment(program: Program, io: Io): void {
  program
    .command('environment')
    .description('list the environment variables psimbols reads (also: psimbols help environment)')
    .addHelpText('after', ENVIRONMENT)
    .action(() => void io.stdout.write(ENVIRONMENT.trimStart()));
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

function completion(program: Program, io: Io, setExit: (code: number) => void): void {
  program
    .command('completion')
    .description('print a shell completion script: commands, flags, and client ids for remove-client and rotate-key')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addHelpText('after', example('eval "$(psimbols completion bash)"'))
    .action(async (shell) => {
      const { run } = await import('./commands/completion.js');
      // For npx users: the script can run this very psimbols when none is on PATH.
      const launcher = process.argv[1] === undefined ? 'psimbols' : `${shellQuote(process.execPath)} ${shellQuote(process.argv[1])}`;
      setExit(run(io, shell, program, launcher));
    });
}

/**
 * The whole command line; `setExit` receives the exit code of the command that ran. With `only`,
 * just that command is declared: `psimbols call` starts from a bundle of its own (bin/psimbols.js).
 */
export function buildProgram(io: Io, setExit: (code: number) => void, only?: 'call'): Program {
  const program: Program = new Command('psimbols')
    .description('Secure network message processor: encrypted, authenticated, rate-limited function calls')
    .version(version(), '-V, --version')
    .option('--config-dir <dir>', 'config directory (default: $PSIMBOLS_CONFIG_DIR, $XDG_CONFIG_HOME/psimbols, ~/.config/psimbols)')
    .option('--no-color', 'no colours (also NO_COLOR, or when output is not a terminal)')
    .option('--no-input', 'never prompt; fail on a missing value instead (also when stdin is not a terminal or CI is set)')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_HELP)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // One style for every error line: commander's own start "psimbols:" too.
      outputError: (s, write) => write(s.replace(/^error: /, 'psimbols: ')),
    });
  const lazy: Lazy = (load) => async (...args) => {
    const { run } = await load();
    setExit(await run(io, program.opts(), ...args));
  };
  if (only === 'call') {
    call(program, lazy);
    return program;
  }
  for (const declare of [serve, call, keygen, addClient, listClients, removeClient, rotateKey, functions, bench, inspect]) declare(program, lazy);
  completion(program, io, setExit);
  environment(program, io);
  return program;
}
