/**
 * Running a pipeline on a stack: validate the stack and the pipeline, then hand the run to the
 * stack's orchestrator (orchestrators.ts), which runs the steps, stores every output in the
 * artifact store and every step in the run history.
 */
import type { Keystack } from '../stack/client.js';
import { StackRuntime } from '../stack/runtime.js';
import { assertValid, validatePipeline, validateRuntime, validationLevelFrom } from '../stack/validation.js';
import { ConfigError } from '../errors.js';
import { checkDeclarations } from './declarations.js';
import { isLeakMinLength } from './leak-guard.js';
import { orchestratorFor } from './orchestrators.js';
import type { RunOptions, RunSummary } from './run-common.js';
import type { Pipeline } from './step.js';

export {
  computeCacheKey,
  StepFailedError,
  type RunOptions,
  type RunSummary,
  type StepEvent,
  type WorkerLauncher,
} from './run-common.js';
export { defaultWorker, withStdoutTo } from './local-runner.js';
export { runStepChild } from './step-host/child.js';

export async function runPipeline(ks: Keystack, p: Pipeline, options: RunOptions = {}): Promise<RunSummary> {
  if (options.leakMinLength !== undefined && !isLeakMinLength(options.leakMinLength))
    throw new ConfigError(`leakMinLength must be a whole number of at least 1, not ${String(options.leakMinLength)}`, {
      hint: 'The default is 8; see docs/leak-guard.md.',
    });
  const stack = await StackRuntime.load(ks, { stack: options.stack, componentFlavors: options.componentFlavors });
  const level = options.level ?? validationLevelFrom(ks.env);
  const report = await validateRuntime(stack, level);
  // Before anything runs or is recorded: the pipeline's step operators and the secrets its steps
  // declare are checked with the stack.
  report.problems.push(...validatePipeline(p, stack));
  report.problems.push(...(await checkDeclarations(p, stack, level)).problems);
  assertValid(report);
  return orchestratorFor(stack.orchestrator).run(ks, stack, p, options);
}
