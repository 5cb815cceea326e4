import { resolve } from 'node:path';
import { clientConfigFor, clientEntry, restoreClient } from '../config/edits.js';
import type { ClientEntry, ServerConfig } from '../config/server-config.js';
import { reserveFile, toJsonText, updateServerConfig } from '../config/store.js';
import { err, out, type Io } from './io.js';

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
  if (reserved === undefined) {
    out(io, text.trimEnd());
    return { config, created };
  }
  try {
    await reserved.write(text);
  } catch (error) {
    await updateServerConfig(e.path, (c) => restoreClient(c, e.id, previous));
    throw error;
  }
  err(io, `wrote ${reserved.path}`);
  return { config, created };
}
