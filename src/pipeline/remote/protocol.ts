/**
 * What the client and the workers share through Redis besides BullMQ's own job data: the run's
 * state (one hash per run), the queue of each step, and how step jobs are added. Steps are
 * scheduled by whoever completes their last input: the client adds the steps without inputs,
 * and the worker that completes a step adds each dependent whose inputs are then all complete,
 * so a run goes on while the client is detached. Job ids are `RUN__STEP`, so a step added twice
 * (two inputs completing at once) is one job.
 */
import type { Queue } from 'bullmq';
import type { StoredArtifact } from '../artifacts.js';
import type { RedisClient } from './redis.js';
import type { SnapshotComponent, StackSnapshot, StepJobData } from './snapshot.js';

/** BullMQ's key prefix for keystack queues; run state lives beside it. */
export const QUEUE_PREFIX = 'keystack';
/** Run state is kept this long after the last change. */
const STATE_TTL_SECONDS = 7 * 24 * 3600;

export type RemoteStepStatus = 'queued' | 'running' | 'completed' | 'cached' | 'failed' | 'skipped';

export interface RemoteStepState {
  status: RemoteStepStatus;
  worker?: string | undefined;
  attempts?: number | undefined;
  durationMs?: number | undefined;
  output?: StoredArtifact | undefined;
  cachedFrom?: string | undefined;
  cacheKey?: string | undefined;
  inputs?: Record<string, StoredArtifact> | undefined;
  startedAt?: string | undefined;
  /** Masked on the worker before it was written. */
  error?: string | undefined;
}

export interface RemoteRunMeta {
  pipeline: string;
  steps: string[];
  startedAt: string;
}

export interface RemoteRunState {
  meta: RemoteRunMeta | null;
  steps: Map<string, RemoteStepState>;
}

export function runKey(runId: string): string {
  return `${QUEUE_PREFIX}-run:${runId}`;
}

export function jobId(runId: string, stepId: string): string {
  return `${runId}__${stepId}`;
}

export async function writeMeta(redis: RedisClient, runId: string, meta: RemoteRunMeta): Promise<void> {
  await redis.multi().hset(runKey(runId), 'meta', JSON.stringify(meta)).expire(runKey(runId), STATE_TTL_SECONDS).exec();
}

export async function setStepState(redis: RedisClient, runId: string, stepId: string, state: RemoteStepState): Promise<void> {
  await redis.multi().hset(runKey(runId), `step:${stepId}`, JSON.stringify(state)).expire(runKey(runId), STATE_TTL_SECONDS).exec();
}

/**
 * Records a step's final state and reads the whole run in one transaction: of two inputs of a
 * step completing at once, the second to commit sees both, so one of them schedules the step.
 */
export async function finishStepState(redis: RedisClient, runId: string, stepId: string, state: RemoteStepState): Promise<RemoteRunState> {
  const r = await redis.multi().hset(runKey(runId), `step:${stepId}`, JSON.stringify(state)).expire(runKey(runId), STATE_TTL_SECONDS).hgetall(runKey(runId)).exec();
  const all = r?.[2]?.[1] as Record<string, string> | undefined;
  return parseState(all ?? {});
}

export async function readRunState(redis: RedisClient, runId: string): Promise<RemoteRunState> {
  return parseState(await redis.hgetall(runKey(runId)));
}

function parseState(h: Record<string, string>): RemoteRunState {
  const steps = new Map<string, RemoteStepState>();
  let meta: RemoteRunMeta | null = null;
  for (const [k, v] of Object.entries(h)) {
    if (k === 'meta') meta = JSON.parse(v) as RemoteRunMeta;
    else if (k.startsWith('step:')) steps.set(k.slice(5), JSON.parse(v) as RemoteStepState);
  }
  return { meta, steps };
}

export function runFailed(state: RemoteRunState): boolean {
  for (const s of state.steps.values()) if (s.status === 'failed') return true;
  return false;
}

export function orchestratorOf(stack: StackSnapshot): SnapshotComponent | undefined {
  return stack.components.find((c) => c.type === 'orchestrator');
}

function intConfig(c: SnapshotComponent | undefined, field: string, fallback: number): number {
  const v = c?.config[field];
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : fallback;
}

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
  timeoutSeconds: number;
}

export function retryPolicy(stack: StackSnapshot): RetryPolicy {
  const o = orchestratorOf(stack);
  return { attempts: Math.max(1, intConfig(o, 'attempts', 3)), backoffMs: intConfig(o, 'backoff_ms', 1000), timeoutSeconds: intConfig(o, 'step_timeout_seconds', 0) };
}

/** The queue a step runs on: its step operator's, else the orchestrator's. */
export function queueFor(stack: StackSnapshot, stepOperator: string | undefined): string {
  if (stepOperator !== undefined) {
    const op = stack.components.find((c) => c.type === 'step_operator' && c.name === stepOperator);
    const q = op?.config['queue'];
    if (typeof q === 'string' && q !== '') return q;
  }
  const q = orchestratorOf(stack)?.config['queue'];
  return typeof q === 'string' && q !== '' ? q : 'keystack';
}

export interface QueueSource {
  queue(name: string): Promise<Queue>;
}

export async function addStepJob(queues: QueueSource, queueName: string, data: StepJobData): Promise<void> {
  const policy = retryPolicy(data.stack);
  const q = await queues.queue(queueName);
  await q.add(data.step.id, data, {
    jobId: jobId(data.runId, data.step.id),
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: { age: STATE_TTL_SECONDS },
    removeOnFail: { age: STATE_TTL_SECONDS },
  });
}

/** Queues opened on one connection, by name. */
export function queueSource(bullmq: typeof import('bullmq'), redis: RedisClient): QueueSource & { close(): Promise<void> } {
  const open = new Map<string, Queue>();
  return {
    async queue(name) {
      let q = open.get(name);
      if (!q) {
        q = new bullmq.Queue(name, { connection: redis, prefix: QUEUE_PREFIX });
        q.on('error', () => undefined);
        open.set(name, q);
      }
      return q;
    },
    async close() {
      await Promise.all([...open.values()].map((q) => q.close()));
      open.clear();
    },
  };
}
