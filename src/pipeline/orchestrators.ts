/**
 * What each built-in orchestrator does at run time, keyed by flavor name: the declarations (config
 * fields, locality) are in stack/components.ts, which sits below this layer; the key type makes the
 * compiler hold this table to exactly those flavors.
 */
import { ConfigError } from '../errors.js';
import type { Keystack } from '../stack/client.js';
import { ORCHESTRATOR_FLAVORS, type OrchestratorFlavorName } from '../stack/components.js';
import type { ResolvedComponent, StackRuntime } from '../stack/runtime.js';
import { inStepProcesses, inThisProcess, runOnThisMachine } from './local-runner.js';
import type { RunOptions, RunSummary } from './run-common.js';
import type { Pipeline } from './step.js';

export interface Orchestrator {
  /** Runs the pipeline on a stack already validated, recording the run in the run history. */
  run(ks: Keystack, stack: StackRuntime, p: Pipeline, options: RunOptions): Promise<RunSummary>;
}

const ORCHESTRATORS: Readonly<Record<OrchestratorFlavorName, Orchestrator>> = {
  local: {
    run: (ks, stack, p, options) => runOnThisMachine(ks, stack, p, options, inThisProcess),
  },
  local_process: {
    async run(ks, stack, p, options) {
      if (!options.module) {
        throw new ConfigError('the local_process orchestrator needs the module that defines the pipeline', {
          hint: 'Run it with `keystack pipeline run FILE`, or pass `module: { path, exportName }`.',
        });
      }
      return runOnThisMachine(ks, stack, p, options, inStepProcesses);
    },
  },
  bullmq: {
    async run(ks, stack, p, options) {
      // Loaded here: BullMQ and the remote code cost nothing to runs on local orchestrators.
      const { runOnWorkers } = await import('./remote/orchestrator.js');
      return runOnWorkers(ks, stack, p, options);
    },
  },
};

/** The orchestrator of a stack; a ConfigError for a flavor without one (a declaration of one's own). */
export function orchestratorFor(component: ResolvedComponent): Orchestrator {
  const name = component.flavor.name;
  if (Object.hasOwn(ORCHESTRATORS, name)) return ORCHESTRATORS[name as OrchestratorFlavorName];
  // The ones that need no Redis: those a user without one can switch to.
  const local = (Object.keys(ORCHESTRATORS) as OrchestratorFlavorName[]).filter((n) => !ORCHESTRATOR_FLAVORS[n].remote);
  throw new ConfigError(`this version of keystack cannot run pipelines on orchestrator flavor '${name}'`, {
    hint: `Use a stack with a ${local.join(' or ')} orchestrator.`,
  });
}
