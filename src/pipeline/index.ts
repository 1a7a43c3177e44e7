/** Pipelines: typed steps wired into a graph, run on a stack. */
export {
  step,
  pipeline,
  isPipeline,
  cacheEnabled,
  type Step,
  type StepContext,
  type StepOptions,
  type StepOutput,
  type StepInputs,
  type StepDefinition,
  type Pipeline,
  type PipelineOptions,
  type StepNode,
} from './step.js';
export {
  runPipeline,
  runStepChild,
  computeCacheKey,
  defaultWorker,
  StepFailedError,
  type RunOptions,
  type RunSummary,
  type StepEvent,
  type WorkerLauncher,
} from './runner.js';
export {
  parseDeclaration,
  SecretGuard,
  type SecretDeclaration,
  type SecretsOption,
  type StepSecrets,
} from './access.js';
export { loadPipelineModule, type LoadedPipeline } from './module.js';
export { RunStore, type RunRecord, type StepRecord, type RunStatus, type StepStatus } from './run-store.js';
export { startWorker, CodeMismatchError, type WorkerOptions, type RemoteWorker } from './remote/worker.js';
export { openArtifactStore, type ArtifactStoreContext } from './artifacts.js';
export {
  UnreadableArtifactError,
  CACHE_LOOKUP_LIMIT,
  type ArtifactStore,
  type CacheEntry,
  type StoredArtifact,
} from './artifact-store.js';
export { LocalArtifactStore } from './local-artifacts.js';
