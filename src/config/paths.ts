import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export type Env = Readonly<Record<string, string | undefined>>;

const SERVER_CONFIG_FILE = 'server.json';
export const CLIENT_CONFIG_FILE = 'client.json';

/** --config-dir, else PSIMBOLS_CONFIG_DIR, else $XDG_CONFIG_HOME/psimbols, else ~/.config/psimbols. */
export function configDir(env: Env, flag?: string): string {
  if (flag) return resolve(flag);
  if (env.PSIMBOLS_CONFIG_DIR) return resolve(env.PSIMBOLS_CONFIG_DIR);
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return resolve(base, 'psimbols');
}

/** --client-config, else PSIMBOLS_CLIENT_CONFIG, else client.json in the config directory. */
export function clientConfigPath(env: Env, dir: string, flag?: string): string {
  if (flag) return resolve(flag);
  if (env.PSIMBOLS_CLIENT_CONFIG) return resolve(env.PSIMBOLS_CLIENT_CONFIG);
  return join(dir, CLIENT_CONFIG_FILE);
}

export function serverConfigPath(env: Env, dir: string, flag?: string): string {
  if (flag) return resolve(flag);
  if (env.PSIMBOLS_SERVER_CONFIG) return resolve(env.PSIMBOLS_SERVER_CONFIG);
  return join(dir, SERVER_CONFIG_FILE);
}
