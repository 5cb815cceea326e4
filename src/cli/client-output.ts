import { unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { errnoCode, PsimbolsError } from '../errors.js';
import { clientConfigFor, clientEntry, restoreClient } from '../config/edits.js';
import type { ClientEntry, ServerConfig } from '../config/server-config.js';
import { reserveFile, toJsonText, updateServerConfig } from '../config/store.js';
import { err, type Io } from './io.js';

// add-client and rotate-key change the server config and hand a client its new config: all or
// nothing. The output file (-o FILE) is claimed before the config is touched, so an existing file
// or a missing directory changes nothing; if writing it still fails, the edit is undone.

export type ClientEdit = {
  readonly path: string;
  readonly id: string;
  readonly edit: (config: ServerConfig) => ServerConfig;
  /** The config to start from when the file does not exist yet. */
  readonly initial?: () => ServerConfig;
  readonly output: string | undefined;
  readonly force: boolean;
};

export async function editAndHandOver(io: Io, e: ClientEdit): Promise<{ config: ServerConfig; created: boolean }> {
  const reserved = e.output === undefined ? undefined : await reserveFile(resolve(e.output), e.force);
  let previous: ClientEntry | undefined;
  let created = false;
  let config: ServerConfig;
  const start = e.initial;
  const initial = start && ((): ServerConfig => {
    created = true;
    return start();
  });
  try {
    config = await updateServerConfig(
      e.path,
      (c) => {
        previous = clientEntry(c, e.id);
        return e.edit(c);
      },
      initial,
    );
  } catch (error) {
    await reserved?.release();
    throw error;
  }
  const text = toJsonText(clientConfigFor(config, e.id));
  try {
    if (reserved === undefined) await writeStdout(io, text);
    else await reserved.write(text);
  } catch (error) {
    // Nobody has the key: the edit is undone, and a config this command created is removed whole.
    if (created) await unlink(e.path).catch(() => undefined);
    else await updateServerConfig(e.path, (c) => restoreClient(c, e.id, previous));
    throw error;
  }
  if (reserved !== undefined) err(io, `wrote ${reserved.path}`);
  return { config, created };
}

// Resolves once stdout has taken the text: a full disk or a closed descriptor is an error here,
// while the edit can still be undone, not after the program has said it is done.
function writeStdout(io: Io, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    io.stdout.write(text, (error?: Error | null) => {
      if (!error) return resolve();
      const code = errnoCode(error) ?? 'error';
      reject(new PsimbolsError('io', `cannot write the client config to stdout (${code}), so the change is undone: write it to a file with -o FILE`, { cause: error }));
    });
  });
}
