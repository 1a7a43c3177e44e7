/**
 * The worker's step host (`--isolation process`): each step runs in a fresh step child with no
 * credentials, pre-forked while the previous step runs; its declared secrets are read here, with
 * the worker's credentials, through a capability for (run, step, attempt).
 */
import type { AccessSink } from '../../core/provenance.js';
import type { Keystack } from '../../stack/client.js';
import type { StackRuntime } from '../../stack/runtime.js';
import type { StepNode } from '../step.js';
import type { WorkerLauncher } from '../run-common.js';
import { declaredCredentialVariables } from '../step-host/env.js';
import { checkStep, leakGuardFor } from '../leak-guard.js';
import { hostCapability, stackView } from '../step-host/host-guard.js';
import { runInChild, spawnStepChild, type StepUser } from '../step-host/parent.js';
import { createStepChildPool } from '../step-host/pool.js';
import type { AllowedLocation } from './pinning.js';
import type { JobEnvelope } from './envelope.js';

export interface StepHost {
  run(
    ctx: {
      stack: StackRuntime;
      module: { path: string; exportName: string };
      own: { configDir: string; env: Readonly<Record<string, string | undefined>> };
    },
    envelope: JobEnvelope,
    node: StepNode,
    inputs: Record<string, unknown>,
    timeoutSeconds: number,
    /** `sink` gets the attempt's access records, also when the step fails. */
    who: { worker: string; attempt: number; sink: AccessSink },
  ): Promise<{ value: unknown }>;
  close(): void;
}

export async function stepHost(o: {
  launcher: WorkerLauncher;
  env: Record<string, string>;
  user: StepUser | undefined;
  /** Children kept ready ahead of their steps (pool.ts); default 1. */
  spares?: number;
  /**
   * @default true; false: a spare imports its module only when it gets its step, as before spares
   * were prepared (bench/isolation.ts compares both in one run).
   */
  prepareSpares?: boolean;
}): Promise<StepHost> {
  // Loaded here, not at start-up: child_process costs every other CLI call a few ms.
  const { spawn } = await import('node:child_process');
  const pool = createStepChildPool(
    (job) =>
      spawnStepChild(spawn, {
        launcher: o.launcher,
        env: o.env,
        user: o.user,
        args: ['(worker step)'],
        prepare: o.prepareSpares === false ? undefined : job?.module,
      }),
    o.spares,
  );
  return {
    async run(ctx, envelope, node, inputs, timeoutSeconds, who) {
      const child = pool.take({ runId: envelope.runId, module: ctx.module });
      const { broker, sink } = hostCapability(
        ctx.stack,
        {
          runId: envelope.runId,
          pipeline: envelope.pipeline,
          node,
          attempt: who.attempt,
          worker: who.worker,
        },
        ctx.own,
      );
      const start = {
        runId: envelope.runId,
        pipeline: envelope.pipeline,
        stepId: node.id,
        attempt: who.attempt,
        module: ctx.module,
        inputs,
        stack: stackView(ctx.stack),
      };
      const outcome = await runInChild(child, start, broker, timeoutSeconds);
      // Before any failure is thrown: a failed attempt's reads are on record too.
      for (const r of sink.drain()) who.sink.record(r);
      if (!outcome.ok) {
        // Here, in the worker, before the worker stores anything of the step. A completed
        // step's output is checked where the worker writes it, as an in-process step's is.
        const leak = checkStep(leakGuardFor(ctx.stack.resolver, envelope.leakMinLength), node, {
          output: outcome.rejectedOutput,
          error: outcome.rawError ?? outcome.error,
        });
        if (leak) throw leak;
        // Worded as the in-process timeout is, so that both modes report it alike.
        throw new StepChildError(
          outcome.timedOut === true
            ? `Error: timed out after ${timeoutSeconds} s (step_timeout_seconds)`
            : outcome.error,
          outcome.code,
        );
      }
      return { value: outcome.value };
    },
    close: () => pool.close(),
  };
}

/** The step failed in its child; the message is already masked. */
export class StepChildError extends Error {
  /** The keystack error code the step failed with, if any. */
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
    this.name = 'Error';
    this.stack = `Error: ${message}`;
  }
}

/**
 * Variables the worker's own managers name as credentials (github's token_env), in its registered
 * components and its --allow-manager specs: children are started before a job names its stack.
 */
export function workerCredentialVariables(own: Keystack, allowed: readonly AllowedLocation[]): string[] {
  const configs: Record<string, unknown>[] = allowed.map((a) => a.fields);
  for (const c of own.store.listComponents('secrets_manager')) configs.push(c.config);
  return declaredCredentialVariables(configs);
}
