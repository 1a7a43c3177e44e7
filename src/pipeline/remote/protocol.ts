/**
 * What the client and the workers share through Redis besides BullMQ's own job data: the run's
 * state (one hash per run), the queue of each step, and how step jobs are added. Steps are
 * scheduled by whoever completes their last input: the client adds the steps without inputs,
 * and the worker that completes a step adds each dependent whose inputs are then all complete,
 * so a run goes on while the client is detached. Job ids are `RUN__STEP`, so a step added twice
 * (two inputs completing at once) is one job.
 *
 * The run hash holds `meta`, `job:STEP` (the client's signed envelope of each step, which
 * workers forward as they schedule), `step:STEP` (the latest signed state a worker wrote) and
 * `attempt:STEP:N` (the signed result of each attempt that ended, with its provenance records,
 * kept so that a retried step does not overwrite the records of the attempts before it).
 * Whoever can write to Redis can write there too: workers act only on envelopes whose signature
 * they check, and the client records only states whose signature it checks. Statuses read
 * without a check only decide *when* a worker looks at a step, never what it does.
 */
import type { Queue } from 'bullmq';
import type { SignedMessage } from '../../support/signing.js';
import type { RemoteStepStatus, StepResult } from './envelope.js';
import type { RedisClient } from './redis.js';
import type { SnapshotComponent, StackSnapshot, StepJobData } from './snapshot.js';

export type { RemoteStepStatus } from './envelope.js';

/** BullMQ's key prefix for keystack queues; run state lives beside it. */
export const QUEUE_PREFIX = 'keystack';
/**
 * Run state (and with it the provenance records not yet collected) is kept this long after the
 * last change, unless the orchestrator's `run_ttl_seconds` says otherwise.
 */
export const DEFAULT_RUN_TTL_SECONDS = 7 * 24 * 3600;

/** A step's state as the client records it, once its signature is checked. */
export type RemoteStepState = Omit<StepResult, 'runId' | 'stepId' | 'worker'> & { worker?: string | undefined };

export interface RemoteRunMeta {
  pipeline: string;
  steps: string[];
  startedAt: string;
}

/** The run hash as read: nothing in it checked yet. */
export interface RemoteRunState {
  meta: RemoteRunMeta | null;
  /** Step id → the signed state, as found (maybe not signed at all). */
  steps: Map<string, unknown>;
  /** Step id → the signed envelope the client left for it. */
  jobs: Map<string, unknown>;
  /** `STEP:N` → the signed result of attempt N of the step, as found. */
  attempts: Map<string, unknown>;
}

export function runKey(runId: string): string {
  return `${QUEUE_PREFIX}-run:${runId}`;
}

export function attemptField(stepId: string, attempt: number): string {
  return `attempt:${stepId}:${attempt}`;
}

export function jobId(runId: string, stepId: string): string {
  return `${runId}__${stepId}`;
}

/** Writes the run's meta and every step's signed envelope, in one transaction. */
export async function writeRun(
  redis: RedisClient,
  runId: string,
  meta: RemoteRunMeta,
  jobs: ReadonlyMap<string, SignedMessage>,
  ttlSeconds = DEFAULT_RUN_TTL_SECONDS,
): Promise<void> {
  const fields: string[] = ['meta', JSON.stringify(meta)];
  for (const [stepId, job] of jobs) fields.push(`job:${stepId}`, JSON.stringify(job));
  await redis
    .multi()
    .hset(runKey(runId), ...fields)
    .expire(runKey(runId), ttlSeconds)
    .exec();
}

/** Where a state is written besides `step:STEP`: an attempt that ended keeps its own copy. */
export interface StateWrite {
  /** The attempt that ended with this state; undefined for a state in between (running, skipped). */
  attempt?: number | undefined;
  ttlSeconds?: number | undefined;
  /** The step failed for good: the run's `failed` field says so too, for the steps that start after it. */
  failedForGood?: boolean | undefined;
}

/**
 * Set when a step of the run failed for good, so that a step about to start asks one field
 * whether to run, instead of reading every step's state (a whole-run HGETALL per step). Like a
 * state's status it is read unsigned, and only decides whether to skip.
 */
const FAILED_FIELD = 'failed';

function stateFields(stepId: string, state: SignedMessage, w: StateWrite): string[] {
  const text = JSON.stringify(state);
  return [
    `step:${stepId}`,
    text,
    ...(w.attempt === undefined ? [] : [attemptField(stepId, w.attempt), text]),
    ...(w.failedForGood === true ? [FAILED_FIELD, '1'] : []),
  ];
}

/** KEYS[1]: the run; ARGV: the step's field, its running state, its skipped state, the TTL. */
const START_STEP = `
local runs = redis.call('HEXISTS', KEYS[1], '${FAILED_FIELD}') == 0
redis.call('HSET', KEYS[1], ARGV[1], runs and ARGV[2] or ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return runs and 1 or 0`;

/**
 * A step's start, in one script (one round trip, and no read of the whole run): it is recorded
 * as running, or, when a step of the run already failed for good, as skipped, which is what it
 * returns.
 */
export async function startStepState(
  redis: RedisClient,
  runId: string,
  stepId: string,
  states: { running: SignedMessage; skipped: SignedMessage },
  ttlSeconds = DEFAULT_RUN_TTL_SECONDS,
): Promise<'running' | 'skipped'> {
  const r = await redis.eval(
    START_STEP,
    1,
    runKey(runId),
    `step:${stepId}`,
    JSON.stringify(states.running),
    JSON.stringify(states.skipped),
    String(ttlSeconds),
  );
  return r === 1 ? 'running' : 'skipped';
}

export async function setStepState(
  redis: RedisClient,
  runId: string,
  stepId: string,
  state: SignedMessage,
  w: StateWrite = {},
): Promise<void> {
  await redis
    .multi()
    .hset(runKey(runId), ...stateFields(stepId, state, w))
    .expire(runKey(runId), w.ttlSeconds ?? DEFAULT_RUN_TTL_SECONDS)
    .exec();
}

/**
 * Records a step's final state and reads the fields `read` names (the states and jobs the worker
 * needs to schedule what follows; not the whole run) in one transaction: of two inputs of a
 * step completing at once, the second to commit sees both, so one of them schedules the step.
 */
export async function finishStepState(
  redis: RedisClient,
  runId: string,
  stepId: string,
  state: SignedMessage,
  w: StateWrite = {},
  read: { steps: readonly string[]; jobs: readonly string[] } = { steps: [], jobs: [] },
): Promise<RemoteRunState> {
  const fields = [...read.steps.map((id) => `step:${id}`), ...read.jobs.map((id) => `job:${id}`)];
  const tx = redis
    .multi()
    .hset(runKey(runId), ...stateFields(stepId, state, w))
    .expire(runKey(runId), w.ttlSeconds ?? DEFAULT_RUN_TTL_SECONDS);
  if (fields.length > 0) tx.hmget(runKey(runId), ...fields);
  const r = await tx.exec();
  return stateOfFields(fields, (fields.length > 0 ? r?.[2]?.[1] : []) as (string | null)[] | undefined);
}

/** The state held by `fields`, given their values as HMGET returns them (null: absent). */
function stateOfFields(fields: readonly string[], values: readonly (string | null)[] | undefined): RemoteRunState {
  const h: Record<string, string> = {};
  fields.forEach((f, i) => {
    const v = values?.[i];
    if (typeof v === 'string') h[f] = v;
  });
  return parseState(h);
}

export async function readRunState(redis: RedisClient, runId: string): Promise<RemoteRunState> {
  return parseState(await redis.hgetall(runKey(runId)));
}

/**
 * The states of some steps only, with the results of their earlier attempts (up to `attempts`):
 * what a client following its run reads when it is told those steps ended, so that each read costs
 * the same however many steps the run has. `meta` and `jobs` are left out.
 */
export async function readStepStates(
  redis: RedisClient,
  runId: string,
  stepIds: readonly string[],
  attempts: number,
): Promise<RemoteRunState> {
  const fields: string[] = [];
  for (const id of stepIds) {
    fields.push(`step:${id}`);
    for (let n = 1; n < attempts; n++) fields.push(attemptField(id, n));
  }
  return stateOfFields(fields, fields.length === 0 ? [] : await redis.hmget(runKey(runId), ...fields));
}

function parseJson(v: string): unknown {
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return undefined;
  }
}

function parseState(h: Record<string, string>): RemoteRunState {
  const steps = new Map<string, unknown>();
  const jobs = new Map<string, unknown>();
  const attempts = new Map<string, unknown>();
  let meta: RemoteRunMeta | null = null;
  for (const [k, v] of Object.entries(h)) {
    if (k === 'meta') meta = parseJson(v) as RemoteRunMeta | null;
    else if (k.startsWith('step:')) steps.set(k.slice(5), parseJson(v));
    else if (k.startsWith('job:')) jobs.set(k.slice(4), parseJson(v));
    else if (k.startsWith('attempt:')) attempts.set(k.slice(8), parseJson(v));
  }
  return { meta, steps, jobs, attempts };
}

/**
 * The status a state claims, read without checking its signature: only for deciding when to look
 * at a step (whether its dependents may be ready, whether the run already failed).
 */
export function claimedStatus(raw: unknown): RemoteStepStatus | undefined {
  const status = claimedState(raw)?.['status'];
  return typeof status === 'string' ? (status as RemoteStepStatus) : undefined;
}

/** The payload a state claims, unchecked, as claimedStatus reads it; null when it has none. */
export function claimedState(raw: unknown): Record<string, unknown> | null {
  const p = (raw as { p?: unknown } | null)?.p;
  if (typeof p !== 'string') return null;
  const payload = parseJson(p);
  return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : null;
}

export function orchestratorOf(stack: StackSnapshot): SnapshotComponent | undefined {
  return stack.components.find((c) => c.type === 'orchestrator');
}

function intConfig(c: SnapshotComponent | undefined, field: string, fallback: number): number {
  const v = c?.config[field];
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : fallback;
}

/** How long a run's state and its uncollected provenance records stay in Redis. */
export function runTtlSeconds(stack: StackSnapshot): number {
  return Math.max(60, intConfig(orchestratorOf(stack), 'run_ttl_seconds', DEFAULT_RUN_TTL_SECONDS));
}

/** `inline_output_max_bytes` unless configured; never above INLINE_OUTPUT_LIMIT_BYTES. */
export const DEFAULT_INLINE_OUTPUT_MAX_BYTES = 64 * 1024;
export const INLINE_OUTPUT_LIMIT_BYTES = 1024 * 1024;

/** The largest output that travels sealed in Redis beside the artifact store (0: none). */
export function inlineOutputMaxBytes(stack: StackSnapshot): number {
  const n = intConfig(orchestratorOf(stack), 'inline_output_max_bytes', DEFAULT_INLINE_OUTPUT_MAX_BYTES);
  return Math.min(n, INLINE_OUTPUT_LIMIT_BYTES);
}

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
  timeoutSeconds: number;
  /** How long after submission the run's steps may start. */
  deadlineSeconds: number;
}

export function retryPolicy(stack: StackSnapshot): RetryPolicy {
  const o = orchestratorOf(stack);
  return {
    attempts: Math.max(1, intConfig(o, 'attempts', 3)),
    backoffMs: intConfig(o, 'backoff_ms', 1000),
    timeoutSeconds: intConfig(o, 'step_timeout_seconds', 0),
    deadlineSeconds: Math.max(1, intConfig(o, 'run_deadline_seconds', 86400)),
  };
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

function jobOptions(data: StepJobData) {
  const policy = retryPolicy(data.stack);
  const ttl = runTtlSeconds(data.stack);
  return {
    jobId: jobId(data.runId, data.stepId),
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: { age: ttl },
    removeOnFail: { age: ttl },
  };
}

export async function addStepJob(queues: QueueSource, queueName: string, data: StepJobData): Promise<void> {
  const q = await queues.queue(queueName);
  await q.add(data.stepId, data, jobOptions(data));
}

/** Adds several step jobs to one queue in one round trip (BullMQ's addBulk). */
export async function addStepJobs(queues: QueueSource, queueName: string, jobs: readonly StepJobData[]): Promise<void> {
  if (jobs.length === 0) return;
  const q = await queues.queue(queueName);
  await q.addBulk(jobs.map((data) => ({ name: data.stepId, data, opts: jobOptions(data) })));
}

/** Queues opened on one connection, by name. */
export function queueSource(
  bullmq: typeof import('bullmq'),
  redis: RedisClient,
): QueueSource & { close(): Promise<void> } {
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
