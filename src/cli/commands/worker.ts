/** `keystack worker`: a long-running process that runs the steps of remote (bullmq) stacks. */
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { redisCredentials } from '../../pipeline/remote/redis.js';
import type { CommandContext, CommandResult } from '../context.js';

export interface WorkerCommandOptions {
  redisUrl?: string | undefined;
  queue?: string[] | undefined;
  concurrency?: string | undefined;
  codeRoot?: string | undefined;
  name?: string | undefined;
  /** Files of client public keys whose jobs this worker runs (besides its trust list and the variable). */
  trustKey?: string[] | undefined;
  /** FLAVOR:FIELD=VALUE,... specs: where the worker's credentials may go. */
  allowManager?: string[] | undefined;
  allowArtifactStore?: string[] | undefined;
  /** Resolves when the worker should stop (SIGTERM, SIGINT); default: those signals. */
  stop?: Promise<string> | undefined;
}

export const REDIS_URL_ENV = 'KEYSTACK_REDIS_URL';

export async function worker(ctx: CommandContext, o: WorkerCommandOptions): Promise<CommandResult> {
  const env = ctx.keystack().env;
  const fromArgv = o.redisUrl !== undefined;
  const url = o.redisUrl ?? env[REDIS_URL_ENV];
  if (url === undefined || url === '') {
    throw new UsageError(
      'keystack worker needs the Redis URL of the orchestrator',
      `Set ${REDIS_URL_ENV}=redis://:PASSWORD@HOST:PORT (it keeps the password out of the process list), or pass --redis-url.`,
    );
  }
  if (fromArgv && redisCredentials(url).length > 0) {
    ctx.out.warn(
      `the password in --redis-url is visible to every user of this machine in the process list; set ${REDIS_URL_ENV} instead`,
    );
  }
  const concurrency = o.concurrency === undefined ? 1 : Number(o.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new UsageError('--concurrency must be a positive integer');
  const ms = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new UsageError(`${name} must be a positive integer (milliseconds), not '${v}'`);
    return n;
  };
  const { startWorker } = await import('../../pipeline/remote/worker.js');
  let steps = 0;
  const w = await startWorker({
    configDir: ctx.keystack().configDir,
    trustKeys: o.trustKey?.map((f) => resolve(ctx.cwd, f)),
    allowManagers: o.allowManager,
    allowArtifactStores: o.allowArtifactStore,
    redisUrl: url,
    redisSource: fromArgv ? '--redis-url' : REDIS_URL_ENV,
    queues: o.queue && o.queue.length > 0 ? o.queue : ['keystack'],
    concurrency,
    codeRoot: o.codeRoot === undefined ? ctx.cwd : o.codeRoot,
    name: o.name,
    env,
    lockDurationMs: ms('KEYSTACK_WORKER_LOCK_MS'),
    stalledIntervalMs: ms('KEYSTACK_WORKER_STALLED_INTERVAL_MS'),
    onLog: (line) => {
      if (/: (completed|cached|attempt \d+ failed)/.test(line)) steps++;
      ctx.out.note(line);
    },
  });
  const signal = await (o.stop ?? stopSignal());
  ctx.out.note(`worker ${w.id}: ${signal}, finishing the current steps`);
  await w.close();
  return {
    data: { worker: w.id, steps, stoppedBy: signal },
    text: `Worker ${w.id} stopped (${signal}) after ${steps} step${steps === 1 ? '' : 's'}.`,
  };
}

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(s);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
