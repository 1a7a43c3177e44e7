/**
 * What every orchestrator shares (local, local_process and the bullmq client and workers): the
 * options and summary of a run, step events, the step-failed error and the cache key. Apart from
 * runner.ts, which loads the remote orchestrator lazily, so that neither imports the other.
 */
import { createHash } from 'node:crypto';
import { KeystackError, type ErrorCode } from '../errors.js';
import type { StackRuntime } from '../stack/runtime.js';
import type { ComponentFlavor } from '../stack/components.js';
import type { ValidationLevel } from '../stack/validation.js';
import type { SecretsOption } from './access.js';
import type { StoredArtifact } from './artifacts.js';
import type { RunRecord, StepRecord, StepStatus } from './run-store.js';
import { cacheEnabled, type Pipeline, type StepNode } from './step.js';

/**
 * A step failed; the message is masked against every secret value the run has read. Its code is
 * `denied` when the step read a secret it did not declare (the stored error starts with `denied: `),
 * `secret_leak` when the leak guard refused what it would have stored (`secret_leak: `), else
 * `step_failed`.
 */
export class StepFailedError extends KeystackError {
  readonly runId: string;
  readonly stepId: string;
  constructor(runId: string, stepId: string, message: string) {
    const denied = message.startsWith(DENIED_PREFIX);
    const leak = message.startsWith(SECRET_LEAK_PREFIX);
    const code: ErrorCode = denied ? 'denied' : leak ? 'secret_leak' : 'step_failed';
    super(code, `step '${stepId}' failed: ${message}`, {
      hint: denied
        ? `Declare the secret in the step's \`secrets:\` option (step({ name, secrets: ['NAME'], run })); the denial is on record in run ${runId.slice(0, 8)}.`
        : leak
          ? `Remove the value from what the step returns, takes or throws; a step whose job is to produce the credential can allow it with step({ name, allowSecretOutputs: ['NAME.KEY'], run }). See docs/leak-guard.md.`
          : `See the run with \`keystack pipeline runs describe ${runId.slice(0, 8)}\`.`,
    });
    this.runId = runId;
    this.stepId = stepId;
  }
}

const DENIED_PREFIX = 'denied: ';
/** The start of a stored step error the leak guard made (the dashboard lists refusals by it). */
export const SECRET_LEAK_PREFIX = 'secret_leak: ';

/**
 * A step's error as the run history stores it (unmasked; the caller masks). A denial keeps its
 * code in front, so that the step's record and every orchestrator's client show `denied`, even
 * when the step ran in another process or on a worker.
 */
export function stepErrorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (!(e instanceof KeystackError)) return `${e.name}: ${e.message}`;
  if (e.code === 'denied') return `${DENIED_PREFIX}${e.message}`;
  return e.code === 'secret_leak' ? `${SECRET_LEAK_PREFIX}${e.message}` : e.message;
}

export interface StepEvent {
  runId: string;
  stepId: string;
  status: StepStatus;
  durationMs?: number | undefined;
  error?: string | undefined;
  /** Remote steps: the worker that ran it. */
  worker?: string | undefined;
}

/** How to start a step process: `command args… RUN_ID STEP_ID`. */
export interface WorkerLauncher {
  command: string;
  args: string[];
}

export interface RunOptions {
  /** Stack name; default: the active stack. */
  stack?: string | undefined;
  /** The module the pipeline came from (needed by `local_process`). */
  module?: { path: string; exportName: string } | undefined;
  /** Ignore cached outputs. */
  noCache?: boolean | undefined;
  level?: ValidationLevel | undefined;
  onRunStart?: ((run: RunRecord, stack: StackRuntime) => void) | undefined;
  onStep?: ((e: StepEvent) => void) | undefined;
  worker?: WorkerLauncher | undefined;
  componentFlavors?: readonly ComponentFlavor[] | undefined;
  /** bullmq: return once the run is enqueued; `pipeline runs describe` follows it. */
  detach?: boolean | undefined;
  /** bullmq: the directory module paths are relative to on the workers. @default KEYSTACK_CODE_ROOT, else the current directory */
  codeRoot?: string | undefined;
  /** bullmq: files of worker public keys whose step results this run accepts, besides the trust list and KEYSTACK_TRUSTED_WORKER_KEYS. */
  trustWorkerKeys?: readonly string[] | undefined;
  /**
   * Delivered values shorter than this many characters are not looked for by the leak guard
   * (docs/leak-guard.md); remote workers apply the run's setting. @default 8
   */
  leakMinLength?: number | undefined;
  /**
   * Warnings of the run, one line each (a step with `secrets: '*'`, once per step and run).
   * @default written to stderr
   */
  onWarning?: ((message: string) => void) | undefined;
}

export interface RunSummary {
  run: RunRecord;
  steps: StepRecord[];
  /** Each step's output, by step id (read back from the artifact store). */
  outputs: Record<string, unknown>;
}

/** Where a run's warnings go: `onWarning`, else stderr. */
export function warnerFor(options: Pick<RunOptions, 'onWarning'>): (message: string) => void {
  return options.onWarning ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
}

/** Warns, once per step of the run, about each step that opted out of least privilege with `secrets: '*'`. */
export function warnOpenDeclarations(nodes: readonly StepNode[], options: Pick<RunOptions, 'onWarning'>): void {
  const warn = warnerFor(options);
  for (const n of nodes) {
    if (n.step.declaration.all)
      warn(
        `step '${n.id}' declares secrets: '*', so it may read and change every secret of the stack; declare the secrets it reads instead`,
      );
  }
}

/** The cache key: the step's code and name, its parameters, and the contents of its inputs. */
export function computeCacheKey(node: StepNode, inputs: Record<string, StoredArtifact>): string {
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      step: node.step.name,
      code: node.step.run.toString(),
      params: sortKeys(node.params),
      inputs: Object.fromEntries(
        Object.entries(inputs)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => [k, v.hash]),
      ),
    }),
  );
  return h.digest('hex');
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  return v;
}

/** The steps of a new run as the run history records them, in execution order. */
export function plannedSteps(
  p: Pipeline,
  nodes: readonly StepNode[],
): {
  stepId: string;
  name: string;
  position: number;
  params: Record<string, unknown>;
  cacheEnabled: boolean;
  secrets: SecretsOption | null;
  allowSecretOutputs: readonly string[];
}[] {
  return nodes.map((n, position) => ({
    stepId: n.id,
    name: n.step.name,
    position,
    params: n.params,
    cacheEnabled: cacheEnabled(n.step, p),
    secrets: n.step.secrets ?? null,
    allowSecretOutputs: n.step.allowSecretOutputs,
  }));
}
