/**
 * How a step child is started from a built keystack: `dist/step-child.cjs`, the small entry that
 * loads only the step child's code. A copy built before that entry existed has only the CLI
 * bundle, whose hidden `pipeline __step` runs the same child, at the cost of compiling the CLI.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkerLauncher } from '../run-common.js';

export const STEP_CHILD_ENTRY = 'step-child.cjs';

/** The launcher for the build in `distDir`, or undefined if it holds neither entry. */
export function stepChildLauncher(distDir: string): WorkerLauncher | undefined {
  const entry = join(distDir, STEP_CHILD_ENTRY);
  if (existsSync(entry)) return { command: process.execPath, args: [entry] };
  const cli = join(distDir, 'cli.cjs');
  return existsSync(cli) ? { command: process.execPath, args: [cli, 'pipeline', '__step'] } : undefined;
}
