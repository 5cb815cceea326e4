// The library: seal and open messages, read configs, run a server or call one without the CLI.

import type { RunningServer, ServeOptions } from './server/http/start-server.js';

export { PsimbolsError, isPsimbolsError, type ErrorCode } from './errors.js';

export {
  sealRequest,
  sealResponse,
  openRequest,
  openResponse,
  requestBinding,
  DEFAULT_WINDOW,
  type Window,
  type OpenedRequest,
  type SealRequestOptions,
  type SealResponseOptions,
  type OpenRequestOptions,
  type OpenResponseOptions,
} from './protocol/envelope.js';
export { sealLegacyRequest, sealLegacyResponse, openLegacyRequest, openLegacyResponse } from './protocol/legacy-cbc.js';
export { generateKeySpec, prepareKey, deriveKid, keySpecProblem, type KeySpec, type V2KeySpec, type LegacyKeySpec, type Key, type V2Key, type LegacyKey } from './protocol/keys.js';
export type { RunRequest, RunResponse, ReturnValue, ErrorValue, Params } from './protocol/messages.js';
export type { OuterRequest, OuterResponse } from './protocol/outer.js';
export type { Result, RefusalReason } from './protocol/result.js';

export { parseClientConfig, type ClientConfig } from './config/client-config.js';
export { loadClientConfig, loadServerConfig } from './config/store.js';
export type { ServerConfig } from './config/server-config.js';

export { call, request, sealCall, type CallOptions, type SealedCall } from './client/client.js';

export { defineModule, FunctionError, type FunctionErrorCode, type ModuleDef, type FunctionDef, type FunctionResult, type CallContext } from './server/modules/module-api.js';
export type { ServeOptions, RunningServer, Timeouts } from './server/http/start-server.js';

/**
 * Starts a server: listens, and serves until `close()`. The server's modules (Redis among them)
 * load on the first call, so that a user module's worker thread, which imports this package for
 * defineModule, does not pay for them.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  return (await import('./server/http/start-server.js')).startServer(options);
}
export { createLogger, silentLogger, type Logger, type LogFormat } from './server/observe/log.js';
export { MemoryAdmissionStore } from './server/admission/memory-store.js';
export type { AdmissionStore, Admission, AdmissionRequest } from './server/admission/admission.js';
export { runLoad, presealBodies, type LoadOptions, type LoadReport } from './client/load-generator.js';
