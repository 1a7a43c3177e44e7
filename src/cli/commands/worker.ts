/** `keystack worker`: a long-running process that runs the steps of remote (bullmq) stacks. */
import { stopSignal } from '../stop-signal.js';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { defineCommand, type CommandInput } from '../define.js';
import { stepChildLauncher } from '../../pipeline/step-host/launcher.js';

export interface WorkerOptions {
  redisUrl?: string;
  queue?: string[];
  concurrency: string;
  codeRoot?: string;
  name?: string;
  /** Files of client public keys whose jobs this worker runs (besides its trust list and the variable). */
  trustKey?: string[];
  /** FLAVOR:FIELD=VALUE,... specs: where the worker's credentials may go. */
  allowManager?: string[];
  allowArtifactStore?: string[];
  isolation: string;
  stepUser?: string;
}

const REDIS_URL_ENV = 'KEYSTACK_REDIS_URL';

export default defineCommand({
  path: 'worker',
  summary: 'run the steps of remote (bullmq) stacks: take step jobs from Redis until SIGTERM',
  description: [
    'Run the steps of remote (bullmq) stacks: take step jobs from Redis until SIGTERM or SIGINT, then finish the current steps and exit 0.',
    '',
    "A job runs only if it is signed by a client key this worker trusts (--trust-key, $KEYSTACK_WORKER_TRUSTED_KEYS, `keystack keys trust --role client`), its run deadline has not passed, and this worker has not run that attempt of the step before. Anything else is refused before the job's stack is built. With no trusted client key the worker does not start.",
    '',
    "The worker's credentials go only to a secrets manager or artifact store whose location --allow-manager / --allow-artifact-store allow; for a kind with no such flag, only to a component registered in this worker's config store with the same UUID and location. Local-only components are refused.",
    '',
    "Each step result is signed with this worker's key (`keystack keys show-public --role worker`); the client records only results signed by a worker key it trusts.",
    '',
    "Where steps run (--isolation): `process` (the default) runs each step in a fresh step child, started while the previous step runs. Its environment is scrubbed of backend credentials, and it reads only its declared secrets, through a capability for its run, step and attempt that this worker answers with its own credentials. Through keystack, that capability is the only path; but a step child runs as the same user, so a step that deliberately reads that user's files (the local key file, config.db, ~/.aws/credentials, ~/.vault-token) can reach what the user can. Containment of hostile step code needs --step-user: a worker started as root runs step children as that user, who cannot read this worker's config dir, keys or credential files. `none` runs steps inside the worker process, with its credentials in reach: for trusted code only; it is printed at start and recorded in each step result.",
    '',
    "Not prevented: whoever can write to Redis can still delete, delay or reorder jobs, and replay a signed step to another worker of its queue before the run's deadline; whoever can read it sees the stack configs (references as text), step parameters, output URIs and small outputs sealed under the artifact store's encryption_key (inline_output_max_bytes of the orchestrator; none without a key), never a value read from a secrets manager. See docs/remote-stacks.md.",
  ].join('\n'),
  options: [
    {
      flags: '--redis-url <url>',
      description:
        "the orchestrator's Redis (default: $KEYSTACK_REDIS_URL, which keeps the password out of the process list)",
    },
    {
      flags: '-q, --queue <name>',
      description: 'a queue to serve, repeatable (default: keystack)',
      repeatable: 'optional',
    },
    { flags: '--concurrency <n>', description: 'steps run at once', default: '1' },
    {
      flags: '--code-root <dir>',
      description: 'where pipeline modules are loaded from (default: the current directory)',
    },
    { flags: '--name <name>', description: 'the worker id recorded for its steps (default: HOST:PID)' },
    {
      flags: '--trust-key <file>',
      description:
        'a file with a client public key (`keystack keys show-public` on the client) whose jobs this worker runs; repeatable (also: $KEYSTACK_WORKER_TRUSTED_KEYS, `keystack keys trust --role client`)',
      repeatable: 'optional',
    },
    {
      flags: '--allow-manager <spec>',
      description:
        "FLAVOR:FIELD=VALUE,... a secrets-manager location this worker's credentials may go to, e.g. vault:url=https://vault:8200; repeatable (default: only managers registered on this worker, matched by UUID)",
      repeatable: 'optional',
    },
    {
      flags: '--allow-artifact-store <spec>',
      description:
        'FLAVOR:FIELD=VALUE,... an artifact-store location, e.g. s3:path=s3://bucket/runs,region=eu-west-1; repeatable (default: only stores registered on this worker)',
      repeatable: 'optional',
    },
    {
      flags: '--isolation <mode>',
      description:
        'process: each step in a fresh child without credentials (default); none: steps in this process, for trusted code only',
      default: 'process',
    },
    {
      flags: '--step-user <name>',
      description:
        "run step children as this user (the worker must run as root): contains hostile step code, which then cannot read this worker's files",
    },
  ],
  examples: [
    'KEYSTACK_REDIS_URL=redis://127.0.0.1:6379 keystack worker --trust-key client.pub \\\n      --allow-manager vault:url=https://vault.internal:8200 --allow-artifact-store s3:path=s3://my-bucket/keystack,region=eu-west-1',
    'keystack worker -q gpu --concurrency 2 --code-root /srv/pipelines --trust-key client.pub   # credentials: registered components only',
    'sudo keystack worker --step-user ks-steps --trust-key client.pub   # step children run as ks-steps',
    'keystack worker --isolation none --trust-key client.pub   # trusted code only: steps run in the worker process',
  ],
  // Prints its result when it stops (SIGTERM, SIGINT).
  shape: (z) => z.strictObject({ worker: z.string(), steps: z.number(), stoppedBy: z.string() }),
  run: async (ctx, { opts: o }: CommandInput<WorkerOptions>) => {
    const env = ctx.keystack().env;
    const fromArgv = o.redisUrl !== undefined;
    const url = o.redisUrl ?? env[REDIS_URL_ENV];
    if (url === undefined || url === '') {
      throw new UsageError(
        'keystack worker needs the Redis URL of the orchestrator',
        `Set ${REDIS_URL_ENV}=redis://:PASSWORD@HOST:PORT (it keeps the password out of the process list), or pass --redis-url.`,
      );
    }
    const { redisCredentials } = await import('../../pipeline/remote/redis.js');
    if (fromArgv && redisCredentials(url).length > 0) {
      ctx.out.warn(
        `the password in --redis-url is visible to every user of this machine in the process list; set ${REDIS_URL_ENV} instead`,
      );
    }
    const concurrency = Number(o.concurrency);
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
    if (o.isolation !== 'process' && o.isolation !== 'none')
      throw new UsageError(`--isolation must be 'process' or 'none', not '${o.isolation}'`);
    if (o.stepUser !== undefined && o.isolation === 'none')
      throw new UsageError('--step-user needs --isolation process: with none, steps run in the worker process');
    const { resolveStepUser } = await import('../../pipeline/step-host/step-user.js');
    const stepUser = o.stepUser === undefined ? undefined : resolveStepUser(o.stepUser);
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
      isolation: o.isolation,
      stepUser,
      stepLauncher: selfLauncher(),
      lockDurationMs: ms('KEYSTACK_WORKER_LOCK_MS'),
      stalledIntervalMs: ms('KEYSTACK_WORKER_STALLED_INTERVAL_MS'),
      onLog: (line) => {
        if (/: (completed|cached|attempt \d+ failed)/.test(line)) steps++;
        ctx.out.note(line);
      },
    });
    const signal = await stopSignal();
    ctx.out.note(`worker ${w.id}: ${signal}, finishing the current steps`);
    await w.close();
    return {
      data: { worker: w.id, steps, stoppedBy: signal },
      text: `Worker ${w.id} stopped (${signal}) after ${steps} step${steps === 1 ? '' : 's'}.`,
    };
  },
});

declare const __filename: string | undefined;

/** From the CLI bundle, step children run the same bundle. */
function selfLauncher(): { command: string; args: string[] } | undefined {
  const self = typeof __filename === 'string' ? __filename : undefined;
  return self && self.endsWith('.cjs') ? stepChildLauncher(dirname(self)) : undefined;
}
