import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { isHttpUrl, isStoreUrl, STORE_URL_RULE } from '../config/urls.js';
import { HOST_PORT_RULE, parseHostPort, WORKERS_RULE } from '../config/addresses.js';

// Options that several commands share, declared once, and the parsers that validate flag values
// as commander reads them: a bad value is a usage error that names the flag.

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a positive whole number.');
  return n;
}

export function wholeNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number of at least 0.');
  return n;
}

export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds of at least 0.');
  return n;
}

export function positiveSeconds(value: string): number {
  const n = seconds(value);
  if (n === 0) throw new InvalidArgumentError('expected a number of seconds above 0.');
  return n;
}

export function perSecond(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of requests a second above 0.');
  return n;
}

export function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return n;
}

export function hostPort(value: string): { host: string; port: number } {
  const a = parseHostPort(value);
  if (a === undefined) throw new InvalidArgumentError(`${HOST_PORT_RULE}.`);
  return a;
}

export function workers(value: string): number | 'auto' {
  if (value === 'auto') return value;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${WORKERS_RULE}.`);
  return Number(value);
}

export function httpUrl(value: string): string {
  if (!isHttpUrl(value)) throw new InvalidArgumentError('expected an http:// or https:// URL.');
  return value;
}

export function storeUrl(value: string): string {
  if (!isStoreUrl(value)) throw new InvalidArgumentError(`${STORE_URL_RULE}.`);
  return value;
}

const CONFIG_DEFAULT = 'default: $PSIMBOLS_SERVER_CONFIG or server.json in the config directory';
const CLIENT_DEFAULT = 'default: $PSIMBOLS_CLIENT_CONFIG or client.json in the config directory';

export const serverConfigOption = () => new Option('-c, --config <file>', `server config file (${CONFIG_DEFAULT})`);
export const clientConfigOption = () => new Option('--client-config <file>', `client config (${CLIENT_DEFAULT})`);
export const endpointOption = () => new Option('--server <url>', "send to this URL instead of the config's server").argParser(httpUrl);
export const timeoutOption = () => new Option('--timeout <seconds>', 'give up on an attempt after this many seconds; 0 waits as long as it takes').argParser(seconds).default(10);
export const jsonOption = () => new Option('--json', 'print JSON');
export const outputOption = () => new Option('-o, --output <file>', 'write the client config to this file (mode 0600) instead of stdout (- is stdout)');
export const keyFileOption = () => new Option('--key-file <file>', 'use the key in this file (as written by keygen; - for stdin) instead of a fresh one');
