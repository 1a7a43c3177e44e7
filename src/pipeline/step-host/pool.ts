/**
 * Pre-forked step children for a worker: one spare child waits while the current step runs, so
 * that the next step does not wait for Node to start. A child runs one step and exits; nothing
 * carries over from one step to the next.
 */
import type { StepChild } from './parent.js';

export interface StepChildPool {
  /** A started child for the next step; a new spare starts at once. */
  take(): StepChild;
  /** Kills the spare. */
  close(): void;
}

export function createStepChildPool(spawn: () => StepChild): StepChildPool {
  let spare: StepChild | undefined = spawn();
  let closed = false;
  return {
    take() {
      // A spare that died while it waited (killed, out of memory) is not handed out.
      const child = spare && spare.failure() === undefined ? spare : spawn();
      spare = closed ? undefined : spawn();
      return child;
    },
    close() {
      closed = true;
      if (spare && spare.failure() === undefined) spare.process.kill('SIGTERM');
      spare = undefined;
    },
  };
}
