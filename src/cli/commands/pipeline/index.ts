/** `keystack pipeline …`: run a pipeline module, and inspect past runs. */
import { defineGroup } from '../../define.js';
import step from './__step.js';
import run from './run.js';
import runs from './runs/index.js';
import validate from './validate.js';

export default defineGroup({
  path: 'pipeline',
  description: 'run TypeScript pipelines and inspect past runs',
  examples: ['keystack pipeline run examples/pipeline.ts', 'keystack pipeline validate examples/pipeline.ts'],
  commands: [run, validate, runs, step],
});
