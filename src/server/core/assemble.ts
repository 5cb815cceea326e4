import { dirname, resolve } from 'node:path';
import type { ServerConfig } from '../../config/server-config.js';
import type { AdmissionStore } from '../admission/admission.js';
import { FunctionRunner, type LoadedModule } from './function-runner.js';
import type { FailureCounter } from '../admission/failure-limiter.js';
import type { Logger } from '../observe/log.js';
import type { Observer } from '../observe/metrics.js';
import { importModuleFile } from '../modules/loader.js';
import { supermath } from '../modules/supermath.js';
import { Processor } from './processor.js';
import { buildState, legacyClients } from './server-state.js';
import { createAdmissionStore, failuresFor, sweepMsFor } from '../admission/create-store.js';

// Builds what serves requests from a config: the modules and their runner, the admission store
// and the processor. Nothing here opens a port.

type Assembled = { readonly processor: Processor; readonly runner: FunctionRunner; readonly store: AdmissionStore; readonly failures: FailureCounter };

type AssembleOptions = {
  readonly configPath?: string;
  readonly store?: AdmissionStore;
  /** Where failed authentications are counted, when not in this process (a cluster's primary). */
  readonly failures?: FailureCounter;
  readonly now?: () => number;
  readonly log: Logger;
  readonly observer?: Observer;
};

async function loadModules(config: ServerConfig, configPath: string | undefined): Promise<LoadedModule[]> {
  const modules: LoadedModule[] = [{ def: supermath, isolate: false }];
  for (const entry of config.modules) {
    const path = configPath ? resolve(dirname(configPath), entry.path) : resolve(entry.path);
    const def = await importModuleFile(path);
    modules.push({ def, path, isolate: entry.isolate ?? def.isolate ?? true });
  }
  return modules;
}

export async function assemble(config: ServerConfig, o: AssembleOptions): Promise<Assembled> {
  const { limits } = config;
  const runner = await FunctionRunner.create(await loadModules(config, o.configPath), { callTimeoutMs: limits.callTimeoutMs, maxConcurrentCalls: limits.maxConcurrentCalls });
  const { observer } = o;
  const store = o.store ?? (await createAdmissionStore({ url: config.store, onStoreError: config.onStoreError, log: o.log, now: o.now, sweepMs: sweepMsFor(limits), onFallback: observer?.fallback }));
  const state = buildState(config);
  const failures = o.failures ?? failuresFor(limits, o.now);
  const processor = new Processor(state, { store, runner, now: o.now, failures, observer: observer?.call });
  await processor.update(state);
  for (const id of legacyClients(state)) o.log.log('warn', 'legacy client: AES-CBC without authentication, use a ps2 key when it can', { client: id });
  return { processor, runner, store, failures };
}
