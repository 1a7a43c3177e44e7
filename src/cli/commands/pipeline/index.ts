/** `keystack pipeline …`: run a pipeline module, and inspect past runs. */
import { defineGroup } from '../../define.js';
import step from './__step.js';
import run from './run.js';
import runs from './runs/index.js';

export default defineGroup({
  path: 'pipeline',
  description: 'run TypeScript pipelines and inspect past runs',
  examples: ['keystack pipeline run examples/pipeline.ts'],
  commands: [run, runs, step],
});
