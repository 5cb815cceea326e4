// The one internal entry for the benchmarks and scripts of this repository: the parts they
// measure on their own. Not the library's API (that is index.ts), and not for users.

export { MemoryAdmissionStore } from './server/admission/memory-store.js';
export { MemoryRateLimiter } from './server/admission/rate-limiter.js';
export { MemoryReplayStore } from './server/admission/replay-store.js';
export { FailureLimiter } from './server/admission/failure-limiter.js';
export { FunctionRunner } from './server/core/function-runner.js';
export { Processor } from './server/core/processor.js';
export { buildState } from './server/core/server-state.js';
export { supermath } from './server/modules/supermath.js';
export { parseServerConfig } from './config/server-config.js';
export { answer, PrimaryLink } from './server/cluster/primary-link.js';
export { encodeFromWorker, encodeToWorker, parseFromWorker, parseToWorker } from './server/cluster/messages.js';
