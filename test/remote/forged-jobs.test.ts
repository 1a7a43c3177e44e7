/**
 * Threat (issue 18): whoever can write to the workers' Redis (knows its password, or it has none)
 * forges or alters BullMQ jobs and run state. A worker that acted on such a job would build the
 * stack the job names and read secrets with its OWN credentials: a vault url or an S3 endpoint
 * pointing at the attacker's host hands the worker's token over. Here a request catcher on
 * loopback stands in for that host. Every forged job below is refused before any request (the
 * catcher gets nothing, no forged run marks the marks file), the worker stays up, and a real run
 * beside it completes; a forged step result is never recorded by the client. Jobs are forged with
 * BullMQ's own API and with raw Redis commands (the job hash, the wait list, the marker).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openResult,
  RESULT_DOMAIN,
  signJob,
  signResult,
  snapshotHash,
  type JobEnvelope,
  type StepResult,
} from '../../src/pipeline/remote/envelope.js';
import { ownKey } from '../../src/pipeline/remote/keys.js';
import { stackSnapshot } from '../../src/pipeline/remote/orchestrator.js';
import { runKey } from '../../src/pipeline/remote/protocol.js';
import {
  moduleHash,
  type SnapshotComponent,
  type StackSnapshot,
  type StepJobData,
} from '../../src/pipeline/remote/snapshot.js';
import { encodeArtifact } from '../../src/pipeline/artifact-store.js';
import { openArtifactStore } from '../../src/pipeline/artifacts.js';
import { RunStore } from '../../src/pipeline/run-store.js';
import { ArtifactSealer } from '../../src/pipeline/sealing.js';
import type { ResolvedComponent } from '../../src/stack/runtime.js';
import { StackRuntime } from '../../src/stack/runtime.js';
import {
  canonicalJson,
  keyring,
  loadOrCreateSigningKey,
  parsePublicKey,
  signMessage,
  type SignedMessage,
  type SigningKey,
} from '../../src/support/signing.js';
import {
  cliEnv,
  codeRoot,
  dumpRedis,
  fresh,
  putObject,
  REDIS_URL,
  registerLikeClient,
  requestCatcher,
  runCli,
  S3_ENDPOINT,
  startWorkerProcess,
  trustSomeWorker,
  until,
  type Catcher,
  type WorkerProcess,
} from './harness.js';
import { queues, remoteTestScope, type RemoteFixture } from './fixture.js';

const { workers, fixture } = remoteTestScope();
type Cleanup = (() => Promise<unknown>)[];
const cleanup: Cleanup = [];
let redis: Redis;
beforeAll(() => void (redis = new Redis(REDIS_URL())));
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((c) => c()));
});
afterAll(() => redis.disconnect());

/** One step that reads a secret and appends its run id to a marks file: a run that happened leaves a mark. */
const MARKS = (marks: string, out: string) => `
import { appendFileSync } from 'node:fs';
import { pipeline, step } from '{{LIB}}';
const mark = step({ name: 'mark', enableCache: false, secrets: ['cpu_creds'], run: async (_inputs, ctx) => {
  await ctx.stack.secretsManager.get('cpu_creds');
  appendFileSync(${JSON.stringify(marks)}, ctx.runId + '\\n');
  return ${JSON.stringify(out)};
} });
export default pipeline('marks', () => mark());
`;

interface Scene {
  f: RemoteFixture;
  q: { main: string; gpu: string };
  root: string;
  marks: string;
  /** What the step returns: it must never show up outside the artifact store. */
  out: string;
  catcher: Catcher;
  /** The client's own stack, as its jobs carry it. */
  snapshot: StackSnapshot;
  w: WorkerProcess;
  queue(name?: string): Queue;
}
type WorkerOptions = Partial<Parameters<typeof startWorkerProcess>[0]>;

/**
 * By default the worker is pinned the operator's other way: the client's components registered on
 * it (no --allow-* flags) and the client key in KEYSTACK_WORKER_TRUSTED_KEYS.
 */
async function startWorker(
  s: Omit<Scene, 'w'>,
  o: WorkerOptions = {},
  list: WorkerProcess[] | null = workers,
): Promise<WorkerProcess> {
  const w = await startWorkerProcess({
    name: fresh('w'),
    client: s.f.configDir,
    queues: [s.q.main],
    codeRoot: s.root,
    env: { VAULT_TOKEN: s.f.tokens.cpu },
    allow: false,
    register: true,
    trustVia: 'env',
    ...o,
  });
  list?.push(w);
  if (w.proc.exitCode !== null)
    throw new Error(`worker ${w.name} did not start (exit ${w.proc.exitCode}): ${w.log().slice(-300)}`);
  return w;
}

async function scene(
  o: { fixture?: Parameters<typeof fixture>[0]; worker?: WorkerOptions; start?: boolean; shared?: Cleanup } = {},
): Promise<Scene> {
  const f = await fixture(o.fixture);
  const marks = join(mkdtempSync(join(tmpdir(), 'keystack-marks-')), 'marks');
  const out = fresh('output-');
  const catcher = await requestCatcher();
  const opened = new Map<string, Queue>();
  const list = o.shared ?? cleanup;
  list.push(
    () => catcher.close(),
    () => Promise.all([...opened.values()].map((q) => q.close())),
  );
  const q = queues(f);
  const queue = (name = q.main): Queue => {
    const found = opened.get(name) ?? new Queue(name, { connection: redis, prefix: 'keystack' });
    opened.set(name, found);
    return found;
  };
  const s = {
    f,
    q,
    root: codeRoot({ 'marks.mjs': MARKS(marks, out) }),
    marks,
    out,
    catcher,
    queue,
    snapshot: stackSnapshot(f.ks, await StackRuntime.load(f.ks, { stack: 'remote' })),
  };
  const w =
    o.start === false
      ? (undefined as unknown as WorkerProcess)
      : await startWorker(s, o.worker, o.shared ? null : workers);
  if (o.shared && o.start !== false) o.shared.push(() => w.stop());
  return { ...s, w };
}

type Forge = Partial<JobEnvelope> & { stack?: StackSnapshot; key?: SigningKey };

/** A job of the `mark` step as the client builds one (its key, its stack), with `o` changed. */
function forge(
  s: Pick<Scene, 'f' | 'q' | 'root' | 'snapshot'>,
  o: Forge = {},
): { envelope: JobEnvelope; data: StepJobData } {
  const { stack = s.snapshot, key = ownKey(s.f.configDir, 'client'), ...over } = o;
  const envelope: JobEnvelope = {
    runId: randomUUID(),
    pipeline: 'marks',
    snapshotHash: snapshotHash(stack),
    module: { path: 'marks.mjs', exportName: 'default', sha256: moduleHash(join(s.root, 'marks.mjs')) },
    step: { id: 'mark', name: 'mark', params: {} },
    inputs: {},
    queue: s.q.main,
    attempts: 1,
    deadline: Date.now() + 600_000,
    noCache: true,
    ...over,
  };
  return { envelope, data: { v: 2, runId: envelope.runId, stepId: 'mark', job: signJob(key, envelope), stack } };
}

/** The stack with its component of `type` changed. */
function changed(
  stack: StackSnapshot,
  type: SnapshotComponent['type'],
  change: (c: SnapshotComponent) => SnapshotComponent,
): StackSnapshot {
  return { ...stack, components: stack.components.map((c) => (c.type === type ? change(c) : c)) };
}
const managerAt = (stack: StackSnapshot, url: string) =>
  changed(stack, 'secrets_manager', (c) => ({ ...c, config: { ...c.config, url } }));

/** Adds a job with BullMQ's own API, as anyone who can write to Redis can. */
async function add(s: Scene, data: unknown, queue = s.q.main, attempts = 1): Promise<string> {
  const id = fresh('forged');
  await s.queue(queue).add('mark', data, { jobId: id, attempts });
  return id;
}

/** The same with raw commands, laid out as BullMQ 6 does: the job hash, the wait list, and the marker that wakes workers. */
async function rawAdd(_s: Scene, data: unknown, queue = _s.q.main): Promise<string> {
  const id = fresh('raw');
  await redis.hset(`keystack:${queue}:${id}`, {
    name: 'mark',
    data: JSON.stringify(data),
    opts: '{"attempts":1}',
    timestamp: Date.now(),
    delay: 0,
    priority: 0,
  });
  await redis.lpush(`keystack:${queue}:wait`, id);
  await redis.zadd(`keystack:${queue}:marker`, 0, '0');
  return id;
}

const marked = (s: Scene): string[] => (existsSync(s.marks) ? readFileSync(s.marks, 'utf8').trim().split('\n') : []);

/**
 * Waits until each job is finished, the worker still up; then nothing reached the catcher and no
 * run of `forgedRuns` left a mark. Returns why each job failed (undefined for one that completed).
 */
async function settled(
  s: Scene,
  ids: readonly string[],
  forgedRuns: readonly string[],
  queue = s.q.main,
): Promise<(string | undefined)[]> {
  const jobs: Job[] = [];
  for (const id of ids) {
    await until(`job ${id} to finish`, async () => {
      if (s.w.proc.exitCode !== null)
        throw new Error(`worker ${s.w.name} exited (${s.w.proc.exitCode}): ${s.w.log().slice(-300)}`);
      const job = await s.queue(queue).getJob(id);
      if (job?.finishedOn === undefined) return false;
      jobs.push(job);
      return true;
    });
  }
  expect(s.catcher.seen()).toEqual([]);
  for (const run of forgedRuns) expect(marked(s)).not.toContain(run);
  return jobs.map((j) => (j.returnvalue === null || j.returnvalue === undefined ? j.failedReason : undefined));
}

/**
 * The worker's log once it holds at least `n` lines matching `pattern` (or after 10 s, for the
 * assertion to report what is there): a worker logs a refusal before BullMQ records the job as
 * failed, but the line can still be on its way through the pipe when the test sees the failure.
 */
async function logWith(s: Scene, pattern: RegExp, n = 1): Promise<string> {
  const count = () => s.w.log().match(new RegExp(pattern.source, 'g'))?.length ?? 0;
  await until(`${n} worker log lines matching ${pattern}`, () => count() >= n, 10_000).catch(() => undefined);
  return s.w.log();
}

const realRun = (s: Scene) => runCli(['pipeline', 'run', 'marks.mjs'], cliEnv(s.f.configDir, s.f.clientEnv), s.root);
const runIdIn = (text: string): string => /run ([0-9a-f-]{36})/.exec(text)?.[1] ?? 'no run id';

/** The real run started beside the forged jobs completed on the same worker, still up; no forged run left a mark, nothing reached the catcher. */
async function realRunCompleted(
  s: Scene,
  real: ReturnType<typeof realRun>,
  forgedRuns: readonly string[],
): Promise<void> {
  const r = await real;
  expect(r.status, r.stderr).toBe(0);
  expect(s.w.proc.exitCode).toBeNull();
  expect(marked(s)).toContain(runIdIn(r.stdout));
  for (const id of forgedRuns) expect(marked(s)).not.toContain(id);
  expect(s.catcher.seen()).toEqual([]);
}

/** The state the worker wrote for a run's step, checked against the worker's public key as the client checks it. */
async function workerState(s: Scene, runId: string): Promise<StepResult> {
  const raw = await redis.hget(runKey(runId), 'step:mark');
  const opened = openResult(
    JSON.parse(raw ?? 'null'),
    runId,
    'mark',
    keyring([parsePublicKey(ownKey(s.w.configDir, 'worker').text, 'the worker')]),
  );
  if (!opened.ok) throw new Error(opened.reason);
  return opened.result;
}

const REFUSED = {
  v1: 'refused a step job: it is not a keystack step job of payload version 2',
  unsigned: 'refused a step job: it is not signed',
  untrusted: 'refused a step job: it is signed by a key that is not trusted here',
  altered:
    'refused a step job: its signature does not match its content (altered after signing, or signed for another purpose)',
  snapshot: 'refused a step job: its stack snapshot is not the one the client signed',
  expired: 'refused a step job: its run deadline has passed',
  uri: 'refused a step job: an input URI lies outside the run',
  replay: 'refused a step job: this worker has already run this attempt of the step (a replay)',
  attempts: 'refused a step job: it claims more attempts than the client allowed',
  queue: 'refused a step job: it was taken from another queue than the one the client signed it for',
};

describe('forged step jobs are refused before anything runs; the worker stays up', () => {
  it('unsigned: a payload v1 job and v2 jobs without a signature, their vault url at the catcher', async () => {
    const s = await scene();
    const evil = managerAt(s.snapshot, s.catcher.url);
    const { envelope } = forge(s, { stack: evil });
    const v1 = {
      v: 1,
      runId: envelope.runId,
      pipeline: 'marks',
      stack: evil,
      module: envelope.module,
      step: envelope.step,
      inputs: {},
      noCache: true,
    };
    const v2 = { v: 2, runId: envelope.runId, stepId: 'mark', stack: evil };
    const ids = [
      await add(s, v1),
      await add(s, { ...v2, job: envelope }),
      await rawAdd(s, { ...v2, job: { p: canonicalJson(envelope) } }),
    ];
    const real = realRun(s);
    expect(await settled(s, ids, [envelope.runId])).toEqual([REFUSED.v1, REFUSED.unsigned, REFUSED.unsigned]);
    await realRunCompleted(s, real, [envelope.runId]);
    // Nothing of a refused job is written to run state.
    expect(await redis.exists(runKey(envelope.runId))).toBe(0);
    expect((await logWith(s, /refused a step job/, 3)).match(/refused a step job/g)).toHaveLength(3);
  }, 60_000);

  it("re-signed: by an attacker's own key, by the worker's key, and by the client's key as a step result", async () => {
    const s = await scene();
    const attacker = loadOrCreateSigningKey(
      join(mkdtempSync(join(tmpdir(), 'keystack-attacker-')), 'attacker.ed25519'),
    );
    const theirs = forge(s, { key: attacker });
    const workers = forge(s, { key: ownKey(s.w.configDir, 'worker') });
    const asResult = forge(s);
    asResult.data.job = signMessage(ownKey(s.f.configDir, 'client'), RESULT_DOMAIN, asResult.envelope);
    const ids = [await add(s, theirs.data), await rawAdd(s, workers.data), await add(s, asResult.data)];
    const forgedRuns = [theirs, workers, asResult].map((x) => x.envelope.runId);
    const real = realRun(s);
    expect(await settled(s, ids, forgedRuns)).toEqual([REFUSED.untrusted, REFUSED.untrusted, REFUSED.altered]);
    await realRunCompleted(s, real, forgedRuns);
  }, 60_000);

  it("altered after signing: a queued real job's snapshot rewritten in Redis (vault url → catcher), and an envelope's deadline stretched", async () => {
    const s = await scene({ start: false });
    trustSomeWorker(s.f.configDir);
    const detached = await runCli(
      ['pipeline', 'run', 'marks.mjs', '--detach'],
      cliEnv(s.f.configDir, s.f.clientEnv),
      s.root,
    );
    expect(detached.status, detached.stderr).toBe(0);
    const runId = runIdIn(detached.stdout);
    // Raw: the data of the job the client queued, rewritten before any worker takes it.
    const jobKey = `keystack:${s.q.main}:${runId}__mark`;
    const data = JSON.parse((await redis.hget(jobKey, 'data')) ?? '{}') as StepJobData;
    await redis.hset(jobKey, 'data', JSON.stringify({ ...data, stack: managerAt(data.stack, s.catcher.url) }));
    const t = { ...s, w: await startWorker(s) };
    expect(await settled(t, [`${runId}__mark`], [runId])).toEqual([REFUSED.snapshot]);
    // BullMQ: the client's signed envelope from the run hash, a year more to live, signature kept.
    const signed = JSON.parse((await redis.hget(runKey(runId), 'job:mark')) ?? '{}') as SignedMessage;
    const stretched = {
      ...signed,
      p: canonicalJson({ ...(JSON.parse(signed.p) as JobEnvelope), deadline: Date.now() + 365 * 86_400_000 }),
    };
    const again = await add(t, { ...data, job: stretched });
    const real = realRun(t);
    expect(await settled(t, [again], [runId])).toEqual([REFUSED.altered]);
    await realRunCompleted(t, real, [runId]);
  }, 60_000);

  it("expired: a captured genuine job, signed with the client's own key, past its run deadline", async () => {
    const s = await scene();
    const late = forge(s, { deadline: Date.now() - 60_000 });
    const later = forge(s, { deadline: Date.now() - 1 });
    const ids = [await add(s, late.data), await rawAdd(s, later.data)];
    const real = realRun(s);
    expect(await settled(s, ids, [late.envelope.runId, later.envelope.runId])).toEqual([
      REFUSED.expired,
      REFUSED.expired,
    ]);
    await realRunCompleted(s, real, [late.envelope.runId, later.envelope.runId]);
  }, 60_000);

  it('a replay to the same worker: the job re-added, and the completed job pushed back raw, do not run the step again', async () => {
    const s = await scene({ fixture: { attempts: 1 } });
    const first = await realRun(s);
    expect(first.status, first.stderr).toBe(0);
    const runId = runIdIn(first.stdout);
    const jobKey = `keystack:${s.q.main}:${runId}__mark`;
    const data = JSON.parse((await redis.hget(jobKey, 'data')) ?? '{}') as unknown;
    const again = await add(s, data);
    // The completed job itself, back on the wait list as new (its attempt count and finish undone).
    await redis.hdel(jobKey, 'finishedOn', 'returnvalue');
    await redis.hset(jobKey, 'atm', 0);
    await redis.lpush(`keystack:${s.q.main}:wait`, `${runId}__mark`);
    await redis.zadd(`keystack:${s.q.main}:marker`, 0, '0');
    const real = realRun(s);
    const why = await settled(s, [again, `${runId}__mark`], []);
    expect(marked(s).filter((m) => m === runId)).toHaveLength(1);
    expect(why).toEqual([REFUSED.replay, REFUSED.replay]);
    expect((await logWith(s, /\(a replay\)/, 2)).match(/\(a replay\)/g)).toHaveLength(2);
    await realRunCompleted(s, real, []);
  }, 60_000);

  it('a replay runs a step at most `attempts` times on one worker in all, however Redis counts attempts (the documented bound)', async () => {
    const s = await scene({ fixture: { attempts: 3 } });
    const first = await realRun(s);
    expect(first.status, first.stderr).toBe(0);
    const runId = runIdIn(first.stdout);
    const data = JSON.parse((await redis.hget(`keystack:${s.q.main}:${runId}__mark`, 'data')) ?? '{}') as unknown;
    // Each replay is retried by BullMQ past the attempts this worker already ran: attempts 2 and 3
    // are new to it and run; after that, any attempt is more than the client signed.
    const replays: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) replays.push(...(await settled(s, [await add(s, data, s.q.main, 10)], [])));
    expect(marked(s).filter((m) => m === runId)).toHaveLength(3);
    expect(replays).toEqual([undefined, undefined, REFUSED.attempts]);
    expect(await logWith(s, /\(a replay\)/)).toContain(REFUSED.replay);
  }, 60_000);

  it('moved: a signed job put on another queue than the one the client signed it for', async () => {
    const s = await scene({ start: false });
    const w = await startWorker(s, { queues: [s.q.main, s.q.gpu] });
    const t = { ...s, w };
    const moved = forge(t);
    const ids = [await add(t, moved.data, t.q.gpu), await rawAdd(t, forge(t).data, t.q.gpu)];
    const real = realRun(t);
    expect(await settled(t, ids, [moved.envelope.runId], t.q.gpu)).toEqual([REFUSED.queue, REFUSED.queue]);
    await realRunCompleted(t, real, [moved.envelope.runId]);
  }, 60_000);

  it("input URIs outside the run (../private.json, /etc/passwd, another run's output): refused; their bytes never reach Redis or the log", async () => {
    const s = await scene();
    const other = await realRun(s);
    expect(other.status, other.stderr).toBe(0);
    const secret = `PRIVATE-${fresh('bytes')}`;
    await putObject(s.f.bucket, 'private.json', secret);
    const passwd = (readFileSync('/etc/passwd', 'utf8').split('\n')[0] ?? '').slice(0, 16);
    const uris = ['../private.json', '/etc/passwd', `${runIdIn(other.stdout)}/mark.json`, '../../keys/worker.ed25519'];
    const forged = uris.map((uri) => forge(s, { inputs: { x: uri } }));
    const ids = [
      await add(s, forged[0]?.data),
      await rawAdd(s, forged[1]?.data),
      await add(s, forged[2]?.data),
      await add(s, forged[3]?.data),
    ];
    const real = realRun(s);
    expect(
      await settled(
        s,
        ids,
        forged.map((x) => x.envelope.runId),
      ),
    ).toEqual(uris.map(() => REFUSED.uri));
    await realRunCompleted(
      s,
      real,
      forged.map((x) => x.envelope.runId),
    );
    const dump = await dumpRedis(REDIS_URL());
    for (const bytes of [secret, passwd, s.out, 'PRIVATE KEY']) {
      expect(dump.includes(bytes), 'private bytes in Redis').toBe(false);
      expect(s.w.log().includes(bytes), 'private bytes in the worker log').toBe(false);
    }
  }, 60_000);
});

describe('sealed copies of inputs beside a signed job: used only when they open under the store’s key for that URI', () => {
  it('a copy in clear, under another key, or for another run is refused and the input read from the store; a genuine one is used', async () => {
    const s = await scene();
    const rt = await StackRuntime.load(s.f.ks, { stack: 'remote' });
    const store = await openArtifactStore(rt.artifactStore, { configDir: s.f.configDir, env: s.f.clientEnv });
    const attacker = new ArtifactSealer(
      {
        name: 's3',
        getString: async (f: string) => (f === 'encryption_key' ? 'attacker-passphrase' : undefined),
      } as unknown as ResolvedComponent,
      `keystack-artifacts:s3://${s.f.bucket}/runs`,
    );
    const json = encodeArtifact({ weights: 'forged' }).json;
    // Each job names an input its run never wrote to the store: only a copy taken as genuine could feed it.
    const jobFor = async (copy: (uri: string) => Promise<string>) => {
      const runId = randomUUID();
      const uri = `${runId}/train.json`;
      const { envelope, data } = forge(s, { runId, inputs: { x: uri } });
      return { envelope, data: { ...data, sealedInputs: { [uri]: await copy(uri) } } };
    };
    const b64 = (b: Buffer | undefined) => (b as Buffer).toString('base64');
    const forged = [
      await jobFor(async () => json.toString('base64')),
      await jobFor(async (uri) => b64(await attacker.sealCopy(json, uri))),
      await jobFor(async () => b64(await store.copies.sealCopy(json, `${randomUUID()}/train.json`))),
    ];
    const ids = [];
    for (const j of forged) ids.push(await add(s, j.data));
    const reasons = await settled(
      s,
      ids,
      forged.map((j) => j.envelope.runId),
    );
    // Not used: the input was read from the store, which does not have it, so the step failed before it ran.
    for (const reason of reasons) expect(reason).toMatch(/train\.json/);
    const log = await logWith(s, /read from the store instead/, 3);
    expect(log).toMatch(
      /the copy of artifact \S+\/train\.json carried beside artifact-store 's3' is not sealed; read from the store instead/,
    );
    expect(log).toMatch(
      /cannot decrypt artifact \S+\/train\.json of artifact-store 's3'.*; read from the store instead/,
    );
    expect(log.match(/read from the store instead/g)).toHaveLength(3);
    expect(log).not.toContain('forged');
    // The positive control: a copy made under the store's key for the job's own URI feeds the step.
    const genuine = await jobFor(async (uri) => b64(await store.copies.sealCopy(json, uri)));
    const [ok] = await settled(s, [await add(s, genuine.data)], []);
    expect(ok).toBeUndefined();
    expect(marked(s)).toContain(genuine.envelope.runId);
    expect((await workerState(s, genuine.envelope.runId)).status).toBe('completed');
  }, 60_000);
});

describe('forged step results: the client records only a state a trusted worker signed for that run and step', () => {
  // Provenance records (who produced an output from what) are not built yet: nothing to forge there.
  let s: Scene;
  let genuine: { runId: string; state: unknown; key: SigningKey };
  const shared: Cleanup = [];
  beforeAll(async () => {
    s = await scene({ shared });
    const r = await realRun(s);
    expect(r.status, r.stderr).toBe(0);
    const runId = runIdIn(r.stdout);
    genuine = {
      runId,
      state: JSON.parse((await redis.hget(runKey(runId), 'step:mark')) ?? 'null'),
      key: ownKey(s.w.configDir, 'worker'),
    };
    // From now on no worker serves the queue: whatever state the client sees, Redis gave it.
    await s.w.stop();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(shared.map((c) => c()));
  });

  it.each([
    {
      what: 'an unsigned state claiming completed, with an output',
      reason: 'it is not signed',
      state: (runId: string): unknown => ({
        status: 'completed',
        worker: 'evil',
        output: { uri: `${runId}/mark.json`, hash: 'f'.repeat(64) },
      }),
    },
    {
      what: 'the genuine signed state of another run',
      reason: 'it was signed for another run or step',
      state: (_runId: string): unknown => genuine.state,
    },
    {
      what: 'a state signed by a trusted worker key, its output in another run',
      reason: 'its output URI lies outside the run',
      state: (runId: string): unknown =>
        signResult(genuine.key, {
          runId,
          stepId: 'mark',
          status: 'completed',
          worker: 'evil',
          output: { uri: `${genuine.runId}/mark.json`, hash: 'f'.repeat(64) },
        }),
    },
  ])(
    '$what: refused, the step fails, nothing of it recorded, exit 1',
    async ({ reason, state }) => {
      const runs = new RunStore(s.f.ks.store);
      const known = new Set(runs.listRuns(100).map((r) => r.id));
      const client = realRun(s);
      let runId = '';
      await until('the client to start its run', async () => {
        runId = runs.listRuns(1).find((r) => !known.has(r.id))?.id ?? '';
        return runId !== '' && (await redis.hexists(runKey(runId), 'meta')) === 1;
      });
      await redis.hset(runKey(runId), 'step:mark', JSON.stringify(state(runId)));
      const r = await client;
      const step = runs.steps(runId)[0];
      expect(step).toMatchObject({ status: 'failed', output: null, worker: null, cachedFrom: null });
      expect(step?.error).toContain('its result in Redis was refused');
      expect(runs.getRun(runId).status).toBe('failed');
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`its result in Redis was refused: ${reason}`);
    },
    60_000,
  );
});

describe("a worker's credentials go only where its own configuration says, even for jobs the client signed", () => {
  describe('every location field of every flavor and of the s3 store, against an --allow-* list', () => {
    let s: Scene;
    const shared: Cleanup = [];
    beforeAll(async () => {
      // Allowed: the client's vault and S3 store (allowFlagsFor), and one location of each other flavor.
      const also = [
        `aws:region_name=us-east-1,endpoint_url=${S3_ENDPOINT()}`,
        'gcp:project_id=p1,api_endpoint=127.0.0.1:1',
        'azure:vault_url=http://127.0.0.1:1',
        'github:owner=o,repository=r,api_url=http://127.0.0.1:1',
      ];
      s = await scene({
        shared,
        worker: { allow: true, register: false, trustVia: 'flag', args: also.flatMap((a) => ['--allow-manager', a]) },
      });
    }, 60_000);
    afterAll(async () => {
      await Promise.all(shared.map((c) => c()));
    });

    const manager =
      (flavor: string, config: (c: Catcher) => Record<string, unknown>) => (st: StackSnapshot, c: Catcher) =>
        changed(st, 'secrets_manager', (m) => ({ ...m, flavor, config: config(c) }));
    const store = (config: (c: Catcher) => Record<string, unknown>) => (st: StackSnapshot, c: Catcher) =>
      changed(st, 'artifact_store', (a) => ({ ...a, config: { ...a.config, ...config(c) } }));
    it.each([
      {
        what: 'vault url → catcher',
        field: 'url',
        label: "secrets-manager 'vault' (flavor vault)",
        stack: (st: StackSnapshot, c: Catcher) => managerAt(st, c.url),
      },
      {
        what: 'aws endpoint_url → catcher',
        field: 'endpoint_url',
        label: "secrets-manager 'vault' (flavor aws)",
        stack: manager('aws', (c) => ({ region_name: 'us-east-1', endpoint_url: c.url })),
      },
      {
        what: 'gcp api_endpoint → catcher',
        field: 'api_endpoint',
        label: "secrets-manager 'vault' (flavor gcp)",
        stack: manager('gcp', (c) => ({ project_id: 'p1', api_endpoint: c.hostPort })),
      },
      {
        what: 'azure vault_url → catcher',
        field: 'vault_url',
        label: "secrets-manager 'vault' (flavor azure)",
        stack: manager('azure', (c) => ({ vault_url: c.url })),
      },
      {
        what: 'azure ca_file → a CA the job chose',
        field: 'ca_file',
        label: "secrets-manager 'vault' (flavor azure)",
        stack: manager('azure', () => ({ vault_url: 'http://127.0.0.1:1', ca_file: '/tmp/attacker-ca.pem' })),
      },
      {
        what: 'github api_url → catcher',
        field: 'api_url',
        label: "secrets-manager 'vault' (flavor github)",
        stack: manager('github', (c) => ({ owner: 'o', repository: 'r', api_url: c.url })),
      },
      {
        what: 's3 endpoint_url → catcher',
        field: 'endpoint_url',
        label: "artifact-store 's3' (flavor s3)",
        raw: true,
        stack: store((c) => ({ endpoint_url: c.url })),
      },
      {
        what: 's3 path → another bucket',
        field: 'path',
        label: "artifact-store 's3' (flavor s3)",
        raw: true,
        stack: store(() => ({ path: 's3://another-bucket/runs' })),
      },
    ])(
      '$what: refused before any request; the signed state names the field',
      async ({ field, label, raw, stack }) => {
        // A catcher of its own: each case is judged on what reached it alone.
        const t = { ...s, catcher: await requestCatcher() };
        cleanup.push(() => t.catcher.close());
        const { envelope, data } = forge(t, { stack: stack(t.snapshot, t.catcher) });
        const id = raw === true ? await rawAdd(t, data) : await add(t, data);
        const real = realRun(t);
        const [reason] = await settled(t, [id], [envelope.runId]);
        const state = await workerState(t, envelope.runId);
        expect(state.status).toBe('failed');
        expect(state.error).toContain(
          `refused: the field '${field}' of the job's ${label} is not one this worker's --allow-`,
        );
        expect(reason).toBe(state.error);
        await realRunCompleted(t, real, [envelope.runId]);
      },
      60_000,
    );
  });

  it('without --allow-* flags: an unregistered component is refused; registered with the same uuid and location it runs; the same uuid elsewhere is refused', async () => {
    const t = await scene({ worker: { allow: false, register: false, trustVia: 'flag' } });
    const unregistered = await realRun(t);
    expect(unregistered.status).toBe(1);
    expect(unregistered.stderr).toContain(
      "is not registered in this worker's config store, and the worker has no --allow-",
    );
    expect(marked(t)).toEqual([]);
    await registerLikeClient(t.f.configDir, t.w.configDir);
    const elsewhere = forge(t, { stack: managerAt(t.snapshot, t.catcher.url) });
    const id = await rawAdd(t, elsewhere.data);
    const real = realRun(t);
    await settled(t, [id], [elsewhere.envelope.runId]);
    expect((await workerState(t, elsewhere.envelope.runId)).error).toBe(
      "refused: the field 'url' of the job's secrets-manager 'vault' differs from the worker's own registration of it",
    );
    await realRunCompleted(t, real, [elsewhere.envelope.runId]);
  }, 60_000);

  it("local components in a signed stack: refused; the worker's own local store is never opened, nothing is written where a local store points", async () => {
    const t = await scene();
    const stolen = join(mkdtempSync(join(tmpdir(), 'keystack-stolen-')), 'artifacts');
    const cases = [
      {
        label: "the job's secrets-manager 'mine' (flavor local) exists only on the client's machine",
        change: [
          'secrets_manager',
          { flavor: 'local', name: 'mine', config: { path: join(t.w.configDir, 'local_stores', 'secrets.db') } },
        ],
      },
      {
        label: "the job's artifact-store 'here' (flavor local) exists only on the client's machine",
        change: ['artifact_store', { flavor: 'local', name: 'here', config: { path: stolen } }],
      },
      {
        label: "the job's orchestrator 'bq' (flavor local) does not run steps on workers",
        change: ['orchestrator', { flavor: 'local', config: {} }],
      },
    ] as const;
    const forged = cases.map(({ change: [type, to] }) =>
      forge(t, { stack: changed(t.snapshot, type, (c) => ({ ...c, ...to })) }),
    );
    const ids = [await add(t, forged[0]?.data), await rawAdd(t, forged[1]?.data), await add(t, forged[2]?.data)];
    const real = realRun(t);
    await settled(
      t,
      ids,
      forged.map((x) => x.envelope.runId),
    );
    for (const [i, c] of cases.entries())
      expect((await workerState(t, forged[i]?.envelope.runId ?? '')).error).toContain(`refused: ${c.label}`);
    await realRunCompleted(
      t,
      real,
      forged.map((x) => x.envelope.runId),
    );
    expect(existsSync(join(t.w.configDir, 'local_stores'))).toBe(false);
    expect(existsSync(stolen)).toBe(false);
  }, 60_000);
});
