/**
 * One remote stack for the tests: a vault secrets manager on OpenBao (scope global, a fresh
 * prefix), a bullmq orchestrator and a `gpu` step operator on the test Redis, an encrypted s3
 * artifact store on moto whose credentials come from an aws secret, and tokens that let each kind
 * of worker read only what its steps need.
 */
import { afterAll, afterEach } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keystack } from '../../src/stack/client.js';
import { registerComponent } from '../../src/stack/component-ops.js';
import type { RemoteWorker, WorkerOptions } from '../../src/pipeline/remote/worker.js';
import {
  allowFlagsFor,
  BAO_ADDR,
  BAO_ROOT,
  createBucket,
  fresh,
  pairWithClient,
  readOnlyToken,
  REDIS_URL,
  S3_ENDPOINT,
  type WorkerProcess,
} from './harness.js';

export interface RemoteFixture {
  ks: Keystack;
  configDir: string;
  prefix: string;
  bucket: string;
  /** Values a test checks never appear in Redis or in output. */
  secrets: { cpu: string; gpu: string; storeKey: string; redisPassword: string };
  /** Worker tokens: cpu (keystack queue) and gpu (gpu queue). */
  tokens: { cpu: string; gpu: string; none: string };
  clientEnv: Record<string, string>;
}

export async function remoteFixture(
  o: { attempts?: number; backoffMs?: number; timeoutSeconds?: number; queue?: string; gpuQueue?: string } = {},
): Promise<RemoteFixture> {
  const configDir = mkdtempSync(join(tmpdir(), 'keystack-remote-client-'));
  const prefix = fresh('rs');
  const bucket = fresh('bkt');
  await createBucket(bucket);
  const clientEnv = { VAULT_TOKEN: BAO_ROOT(), AWS_EC2_METADATA_DISABLED: 'true' };
  const ks = new Keystack({ configDir, env: clientEnv, onWarning: () => undefined });
  await ks.registerSecretsManager({
    name: 'vault',
    flavor: 'vault',
    config: { url: BAO_ADDR(), scope: 'global', scope_prefix: prefix },
  });
  const sm = await ks.secretsManager('vault');
  const secrets = {
    cpu: `cpu-${fresh('tok')}-value`,
    gpu: `gpu-${fresh('tok')}-value`,
    storeKey: `store-${fresh('key')}-passphrase`,
    redisPassword: new URL(REDIS_URL()).password,
  };
  await sm.register('redis', { url: REDIS_URL() });
  await sm.register('store', { key: secrets.storeKey });
  await sm.register('s3creds', { aws_access_key_id: 'testing', aws_secret_access_key: 'testing' }, { schema: 'aws' });
  await sm.register('cpu_creds', { token: secrets.cpu });
  await sm.register('gpu_creds', { token: secrets.gpu });
  const orch = registerComponent(ks, {
    type: 'orchestrator',
    name: 'bq',
    flavor: 'bullmq',
    config: {
      redis_url: '{{redis.url}}',
      queue: o.queue ?? fresh('q'),
      attempts: o.attempts ?? 2,
      backoff_ms: o.backoffMs ?? 100,
      step_timeout_seconds: o.timeoutSeconds ?? 0,
    },
  }).record;
  const gpu = registerComponent(ks, {
    type: 'step_operator',
    name: 'gpu',
    flavor: 'bullmq',
    config: { redis_url: '{{redis.url}}', queue: o.gpuQueue ?? fresh('gpu') },
  }).record;
  const store = registerComponent(ks, {
    type: 'artifact_store',
    name: 's3',
    flavor: 's3',
    config: {
      path: `s3://${bucket}/runs`,
      endpoint_url: S3_ENDPOINT(),
      region: 'us-east-1',
      authentication_secret: 's3creds',
      encryption_key: '{{store.key}}',
    },
  }).record;
  const managerId = ks.store.getComponent('secrets_manager', 'vault').uuid;
  ks.store.addStack('remote', { orchestrator: orch.uuid, artifact_store: store.uuid, secrets_manager: managerId }, [
    gpu.uuid,
  ]);
  ks.store.setActiveStack('remote');
  const path = (name: string) => `${prefix}/global/${name}`;
  const tokens = {
    cpu: await readOnlyToken(`${prefix}-cpu`, [path('store'), path('s3creds'), path('cpu_creds')]),
    gpu: await readOnlyToken(`${prefix}-gpu`, [path('store'), path('s3creds'), path('gpu_creds')]),
    none: await readOnlyToken(`${prefix}-none`, [path('nothing_here')]),
  };
  return { ks, configDir, prefix, bucket, secrets, tokens, clientEnv };
}

/**
 * A worker in this process (`startWorker`), paired with the fixture's client and allowed its
 * manager and artifact store, on the main queue, with the cpu token: for tests that count what
 * happens inside the worker.
 */
export async function inProcessWorker(
  f: RemoteFixture,
  root: string,
  name: string,
  extra: Partial<WorkerOptions> = {},
): Promise<RemoteWorker> {
  const { startWorker } = await import('../../src/index.js');
  const configDir = join(mkdtempSync(join(tmpdir(), `keystack-${name}-worker-`)), 'config');
  const [, trustFile = ''] = pairWithClient(f.configDir, configDir, name);
  const [, manager = '', , store = ''] = await allowFlagsFor(f.configDir);
  return startWorker({
    redisUrl: REDIS_URL(),
    queues: [queues(f).main],
    codeRoot: root,
    name,
    env: { VAULT_TOKEN: f.tokens.cpu },
    configDir,
    trustKeys: [trustFile],
    allowManagers: [manager],
    allowArtifactStores: [store],
    ...extra,
  });
}

/** The orchestrator's and the gpu step operator's queue names. */
export function queues(f: RemoteFixture): { main: string; gpu: string } {
  const main = f.ks.store.getComponent('orchestrator', 'bq').config['queue'];
  const gpu = f.ks.store.getComponent('step_operator', 'gpu').config['queue'];
  return { main: String(main), gpu: String(gpu) };
}

export const DEMO_PIPELINE = `
import { pipeline, step } from '{{LIB}}';
const load = step({ name: 'load', run: async () => [1, 2, 3, 4] });
const square = step({ name: 'square', run: async ({ xs }) => xs.map((x) => x * x) });
const cube = step({ name: 'cube', run: async ({ xs }) => xs.map((x) => x ** 3) });
const embed = step({ name: 'embed', stepOperator: 'gpu', secrets: ['gpu_creds'], run: async ({ xs }, ctx) => {
  const s = await ctx.stack.secretsManager.get('gpu_creds');
  return { dims: xs.length * 2, tokenOk: s.values.token.startsWith('gpu-') };
} });
const join = step({ name: 'join', run: async ({ a, b, e }) => ({ sum: [...a, ...b].reduce((s, x) => s + x, 0), dims: e.dims }) });
const train = step({ name: 'train', secrets: ['cpu_creds'], run: async ({ j }, ctx) => {
  const s = await ctx.stack.secretsManager.get('cpu_creds');
  return { model: j.sum * j.dims, tokenOk: s.values.token.startsWith('cpu-') };
} });
const report = step({ name: 'report', run: async ({ m }) => 'model=' + m.model });
export default pipeline('remote_demo', () => {
  const xs = load();
  const a = square({ xs });
  const b = cube({ xs });
  const e = embed({ xs });
  const j = join({ a, b, e });
  const m = train({ j });
  report({ m });
});
`;

/**
 * A test file's bookkeeping: the workers a test starts are stopped after it, and the fixtures
 * are closed after the file.
 */
export function remoteTestScope(): {
  workers: WorkerProcess[];
  fixture: (o?: Parameters<typeof remoteFixture>[0]) => Promise<RemoteFixture>;
} {
  const workers: WorkerProcess[] = [];
  const fixtures: RemoteFixture[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });
  afterAll(async () => {
    await Promise.all(fixtures.map((f) => f.ks.close()));
  });
  return {
    workers,
    fixture: async (o = {}) => {
      const f = await remoteFixture(o);
      fixtures.push(f);
      return f;
    },
  };
}
