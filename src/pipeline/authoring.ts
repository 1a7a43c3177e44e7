/**
 * `keystack/pipeline`: what a pipeline module needs to define its steps, and nothing else. Every
 * step child imports the user's pipeline module, and `import 'keystack'` there loads the whole
 * library (zod alone is about 130 ms of CPU, docs/benchmarks.md) in each child; this entry loads
 * only the step definitions. The same functions as the main entry's, so either may define a
 * pipeline.
 */
export {
  step,
  pipeline,
  isPipeline,
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
