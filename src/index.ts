// The library: seal and open messages, read configs, run a server or call one without the CLI.

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
export { startServer, type ServeOptions, type RunningServer, type Timeouts } from './server/http/start-server.js';
export { createLogger, silentLogger, type Logger, type LogFormat } from './server/observe/log.js';
export { MemoryAdmissionStore } from './server/admission/memory-store.js';
export type { AdmissionStore, Admission, AdmissionRequest } from './server/admission/admission.js';
export { runLoad, presealBodies, type LoadOptions, type LoadReport } from './client/load-generator.js';
