/**
 * Pre-forked step children for a worker: spare children start while the current step runs, so
 * that the next step waits neither for Node to start nor for its pipeline module to load. A child
 * runs one step and exits; nothing carries over from one step to the next.
 *
 * Spares are prepared for the job just taken (its run and module): each imports that module before
 * it has a step, a capability or anything of the run. A later job uses one only if it is for the
 * same run and module; otherwise the spare is killed and a fresh child is started.
 */
import type { StepChild } from './parent.js';

/** What a spare is prepared for: the run and the module its pipeline comes from. */
export interface SpareFor {
  runId: string;
  module: { path: string; exportName: string };
}

export interface StepChildPool {
  /** A started child for a step of `job`; new spares, prepared for `job`, start at once. */
  take(job: SpareFor): StepChild;
  /** Kills the spares. */
  close(): void;
}

/**
 * `spawn(job)` starts a child and, with a job, has it import the job's module ahead of its step;
 * without one (the first spare, when no job is known yet), the child imports it when it gets its
 * step. `spares` children are kept ready: more than one lets a child that takes longer to start
 * than a step takes to run be started several steps ahead.
 *
 * New spares are started through `defer` (by default on the next turn of the event loop), after
 * the caller has handed the taken child its step: starting a process blocks this one for a few
 * milliseconds (1 to 11 measured in a worker-sized process), which would otherwise delay every step.
 */
export function createStepChildPool(
  spawn: (job?: SpareFor) => StepChild,
  spares = 1,
  defer: (start: () => void) => void = setImmediate,
): StepChildPool {
  let ready: { child: StepChild; key: string | undefined }[] = [{ child: spawn(), key: undefined }];
  let closed = false;
  /** The job the next spares are prepared for; set while a refill is pending. */
  let refillFor: SpareFor | undefined;
  const refill = () => {
    const job = refillFor as SpareFor;
    refillFor = undefined;
    const key = spareKey(job);
    while (!closed && ready.length < spares) ready.push({ child: spawn(job), key });
  };
  return {
    take(job) {
      const key = spareKey(job);
      let child: StepChild | undefined;
      const kept: typeof ready = [];
      for (const s of ready) {
        // A spare that died while it waited (killed, out of memory) is not handed out.
        if (s.child.failure() !== undefined) continue;
        // An unprepared spare serves any job (it has loaded nothing of one); a prepared one only its own.
        if (s.key !== undefined && s.key !== key) kill(s.child);
        else if (child === undefined) child = s.child;
        else kept.push(s);
      }
      // The step's own child first: it is the one waited for.
      child ??= spawn(job);
      ready = kept;
      // One refill for the latest job, however many steps are taken before it runs.
      const pending = refillFor !== undefined;
      refillFor = job;
      if (!closed && !pending) defer(refill);
      return child;
    },
    close() {
      closed = true;
      for (const s of ready) kill(s.child);
      ready = [];
    },
  };
}

/**
 * SIGKILL: a prepared spare has run the module's top-level code, which may ignore SIGTERM. It
 * holds nothing (no capability, no step), so nothing is lost.
 */
function kill(child: StepChild): void {
  if (child.failure() === undefined) child.process.kill('SIGKILL');
}

function spareKey(job: SpareFor): string {
  return JSON.stringify([job.runId, job.module.path, job.module.exportName]);
}
