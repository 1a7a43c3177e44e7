/**
 * The s3 artifact store against moto's S3 (the moto server the aws flavor uses): outputs and the
 * step cache in a bucket, encrypted at rest, with credentials from an aws-schema secret of the
 * stack's secrets manager, and clear errors that never carry a credential.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BackendError, NotFoundError, SchemaValidationError } from '../../src/errors.js';
import { Keystack } from '../../src/stack/client.js';
import { registerComponent, updateComponent } from '../../src/stack/component-ops.js';
import { StackRuntime } from '../../src/stack/runtime.js';
import {
  openArtifactStore,
  pipeline,
  RunStore,
  runPipeline,
  step,
  type ArtifactStore,
} from '../../src/pipeline/index.js';
import { FLAVOR_DEPENDENCIES, S3ArtifactStore } from '../../src/pipeline/s3-artifacts.js';
import { closedPortUrl, requireEnv } from '../support/fake-http.js';
import { cli, tempEnv } from '../support/cli.js';

const endpoint = requireEnv('AWS_SM_ENDPOINT', 'the moto server (its S3 API)');
// moto accepts any credentials: distinctive ones show whether they leak anywhere.
const ACCESS_KEY = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
const SECRET_KEY = `moto-secret-${randomBytes(12).toString('hex')}`;
const raw = new S3Client({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
const bucket = `keystack-${randomUUID().slice(0, 8)}`;

// The SDK's default chain must not find credentials of this process: only the secret gives them.
const saved: Record<string, string | undefined> = {};
beforeAll(async () => {
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
    saved[k] = process.env[k];
    Reflect.deleteProperty(process.env, k);
  }
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
  await raw.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
});

const clients: Keystack[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

/** A config dir whose active stack keeps artifacts in the bucket, credentials from the `moto` secret. */
async function s3Stack(
  o: {
    prefix?: string;
    config?: Record<string, unknown>;
    secret?: Record<string, string> | null;
    schema?: string;
    auth?: boolean;
  } = {},
): Promise<Keystack> {
  const ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-s3-')), env: {} });
  clients.push(ks);
  registerComponent(ks, {
    type: 'artifact_store',
    name: 'bucket',
    flavor: 's3',
    config: {
      path: `s3://${bucket}/${o.prefix ?? randomUUID().slice(0, 8)}`,
      endpoint_url: endpoint,
      region: 'us-east-1',
      ...(o.auth === false ? {} : { authentication_secret: 'moto' }),
      ...o.config,
    },
  });
  ks.registerStack('s3', { orchestrator: 'default', artifact_store: 'bucket', secrets_manager: 'default' });
  ks.store.setActiveStack('s3');
  if (o.secret !== null) {
    const sm = await ks.secretsManager();
    await sm.register('moto', o.secret ?? { aws_access_key_id: ACCESS_KEY, aws_secret_access_key: SECRET_KEY }, {
      schema: o.schema ?? 'aws',
    });
  }
  return ks;
}

async function store(ks: Keystack): Promise<ArtifactStore> {
  const stack = await StackRuntime.load(ks);
  return openArtifactStore(stack.artifactStore, { configDir: ks.configDir, env: ks.env });
}

async function objectBytes(prefix: string): Promise<Buffer[]> {
  const listed = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return Promise.all(
    (listed.Contents ?? []).map(async (o) =>
      Buffer.from(
        await (await raw.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }))).Body!.transformToByteArray(),
      ),
    ),
  );
}

describe('the s3 artifact store', () => {
  it('writes and reads outputs under the prefix, with the content hash', async () => {
    const prefix = `rt-${randomUUID().slice(0, 8)}`;
    const s = await store(await s3Stack({ prefix }));
    expect(s).toBeInstanceOf(S3ArtifactStore);
    const value = {
      text: 'héllo',
      n: 42,
      list: [1, null, true],
      nested: { pem: '-----BEGIN-----\nabc\n-----END-----' },
    };
    const a = await s.write('run-1/step.json', value);
    expect(a.uri).toBe('run-1/step.json');
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await s.read('run-1/step.json')).toEqual(value);
    expect(await s.readable('run-1/step.json')).toBe(true);
    expect(await s.readable('run-1/absent.json')).toBe(false);
    await expect(s.read('run-1/absent.json')).rejects.toThrow(
      /artifact run-1\/absent.json is missing from artifact-store 'bucket'/,
    );
    const keys = (await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }))).Contents?.map(
      (o) => o.Key,
    );
    expect(keys).toEqual([`${prefix}/run-1/step.json`]);
  });

  it('encrypts at rest with encryption_key: the object bytes in moto do not contain the plaintext', async () => {
    const prefix = `enc-${randomUUID().slice(0, 8)}`;
    const ks = await s3Stack({ prefix, config: { encryption_key: '{{art.key}}' } });
    await (await ks.secretsManager()).register('art', { key: 'artifact-passphrase' });
    const s = await store(ks);
    await s.write('r/x.json', { secret: 'plain-output-7731' });
    const [body] = await objectBytes(`${prefix}/r/`);
    expect(body?.subarray(0, 4).toString()).toBe('KSA2');
    expect(body?.toString('latin1')).not.toContain('plain-output-7731');
    expect(await s.read('r/x.json')).toEqual({ secret: 'plain-output-7731' });
    // A store on the same path without the key cannot read it, and says why.
    const other = await store(await s3Stack({ prefix }));
    await expect(other.read('r/x.json')).rejects.toThrow(
      /is encrypted, but artifact-store 'bucket' has no encryption_key/,
    );
    expect(await other.readable('r/x.json')).toBe(false);
  });

  it("takes its credentials from the aws-schema authentication_secret of the stack's secrets manager", async () => {
    const ks = await s3Stack();
    const stack = await StackRuntime.load(ks);
    const s = await openArtifactStore(stack.artifactStore, { configDir: ks.configDir });
    await s.write('a/b.json', 1);
    expect(stack.resolver.fetches).toBe(1);
    // Without the secret, this process has no AWS credentials at all: the write fails.
    const none = await s3Stack({ auth: false, secret: null });
    const err = await (await store(none)).write('a/b.json', 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(
      /^\[artifact-store s3\] write a\/b.json failed: no AWS credentials for artifact-store 'bucket' on this machine$/,
    );
    expect((err as BackendError).hint).toContain('authentication_secret');
  });

  it('a missing secret, or one of another schema, is a clear error with the command that fixes it', async () => {
    const missing = await (await store(await s3Stack({ secret: null }))).write('x.json', 1).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as Error).message).toBe(
      "the authentication secret 'moto' of artifact-store 'bucket' does not exist",
    );
    expect((missing as NotFoundError).hint).toContain('keystack secret register moto --schema=aws');

    const wrong = await (
      await store(
        await s3Stack({
          schema: 'arbitrary',
          secret: { aws_access_key_id: ACCESS_KEY, aws_secret_access_key: SECRET_KEY },
        }),
      )
    )
      .write('x.json', 1)
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(SchemaValidationError);
    expect((wrong as Error).message).toContain("has schema 'arbitrary', but it must be registered with schema 'aws'");
    expect(JSON.stringify({ m: (wrong as Error).message, h: (wrong as SchemaValidationError).hint })).not.toContain(
      SECRET_KEY,
    );
  });

  it('a bucket that does not exist: a BackendError that says to create it, without any credential', async () => {
    const ks = await s3Stack();
    registerComponent(ks, {
      type: 'artifact_store',
      name: 'nobucket',
      flavor: 's3',
      config: { path: 's3://keystack-no-such-bucket/p', endpoint_url: endpoint, authentication_secret: 'moto' },
    });
    ks.updateStack('s3', { artifact_store: 'nobucket' });
    const err = await (await store(ks)).write('x.json', 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toContain(
      "the bucket 'keystack-no-such-bucket' of artifact-store 'nobucket' does not exist",
    );
    expect((err as BackendError).hint).toContain('aws s3 mb s3://keystack-no-such-bucket');
    const everything = JSON.stringify({
      m: (err as Error).message,
      h: (err as BackendError).hint,
      c: String((err as Error).cause),
      s: (err as Error).stack,
    });
    expect(everything).not.toContain(SECRET_KEY);
    expect(everything).not.toContain(ACCESS_KEY);
  });

  it('an unreachable endpoint: a BackendError naming the network failure', async () => {
    const ks = await s3Stack({ config: { endpoint_url: await closedPortUrl() } });
    const err = await (await store(ks)).write('x.json', 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/cannot reach the S3 endpoint of artifact-store 'bucket' \(ECONNREFUSED\)/);
    expect(JSON.stringify({ m: (err as Error).message, c: String((err as Error).cause) })).not.toContain(SECRET_KEY);
  });

  it('declares its optional SDK with the range package.json installs', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { optionalDependencies: Record<string, string> };
    for (const [dep, range] of Object.entries(FLAVOR_DEPENDENCIES))
      expect(pkg.optionalDependencies[dep], dep).toBe(range);
  });

  it('refuses a path that is not s3://BUCKET[/PREFIX]', async () => {
    const ks = await s3Stack();
    expect(() =>
      registerComponent(ks, {
        type: 'artifact_store',
        name: 'web',
        flavor: 's3',
        config: { path: 'https://example.com/x' },
      }),
    ).toThrow(
      "the path of the artifact-store flavor s3 must be s3://BUCKET[/PREFIX] with a valid bucket name (3-63 lowercase letters, digits, '.' and '-')",
    );
    expect(() => updateComponent(ks, 'artifact_store', 'bucket', { path: 's3://UPPER/x' })).toThrow(
      /must be s3:\/\/BUCKET/,
    );
    expect(() => registerComponent(ks, { type: 'artifact_store', name: 'nopath', flavor: 's3', config: {} })).toThrow(
      /needs the config field 'path'/,
    );
    expect(() =>
      registerComponent(ks, { type: 'artifact_store', name: 'ref', flavor: 's3', config: { path: '{{a.b}}' } }),
    ).toThrow(/cannot be a secret reference/);
  });
});

describe('pipelines on a stack with the s3 store', () => {
  it('caches across machines: a second runner with its own config store finds the cache entries in the bucket', async () => {
    const prefix = `cache-${randomUUID().slice(0, 8)}`;
    let calls = 0;
    const p = pipeline('shared', () =>
      step({ name: 'calc', run: async ({ n }: { n: number }) => (calls++, { n: n * 2 }) })({ n: 21 }),
    );
    const first = await runPipeline(await s3Stack({ prefix }), p);
    expect(first.steps.map((s) => s.status)).toEqual(['completed']);
    // Another machine: nothing shared but the bucket.
    const second = await runPipeline(await s3Stack({ prefix }), p);
    expect(second.steps.map((s) => [s.status, s.cachedFrom])).toEqual([['cached', first.run.id]]);
    expect(second.outputs).toEqual({ calc: { n: 42 } });
    expect(calls).toBe(1);
    // A store elsewhere in the bucket has no such entries.
    expect((await runPipeline(await s3Stack(), p)).steps.map((s) => s.status)).toEqual(['completed']);
    expect(calls).toBe(2);
  });

  it('runs a pipeline from the CLI on the s3 store; no credential in any output, the run history or the bucket', () => {
    const e = tempEnv({ AWS_EC2_METADATA_DISABLED: 'true' });
    const prefix = `cli-${randomUUID().slice(0, 8)}`;
    const outputs: string[] = [];
    const ok = (args: string[]) => {
      const r = cli(e, args);
      outputs.push(r.stdout, r.stderr);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    ok([
      'secret',
      'register',
      'moto',
      '--schema=aws',
      `--aws_access_key_id=${ACCESS_KEY}`,
      `--aws_secret_access_key=${SECRET_KEY}`,
    ]);
    ok([
      'artifact-store',
      'register',
      'bucket',
      '--flavor=s3',
      `--path=s3://${bucket}/${prefix}`,
      `--endpoint_url=${endpoint}`,
      '--authentication_secret=moto',
    ]);
    ok(['stack', 'register', 's3', '-a', 'bucket', '-x', 'default', '--set']);
    const run = JSON.parse(ok(['--json', 'pipeline', 'run', resolve('test/pipeline/fixtures/s3-pipeline.ts')])) as {
      run: { id: string; status: string };
    };
    expect(run.run.status).toBe('completed');
    const again = JSON.parse(ok(['--json', 'pipeline', 'run', resolve('test/pipeline/fixtures/s3-pipeline.ts')])) as {
      steps: { status: string }[];
    };
    expect(again.steps.map((s) => s.status)).toEqual(['cached', 'cached', 'cached']);
    ok(['pipeline', 'runs', 'describe', run.run.id]);
    ok(['--json', 'pipeline', 'runs', 'list']);
    const described = ok(['--json', 'artifact-store', 'describe', 'bucket']);
    expect(JSON.parse(described)).toMatchObject({ flavor: 's3', config: { authentication_secret: 'moto' } });
    ok(['artifact-store', 'flavor', 'list']);

    const all = outputs.join('\n');
    expect(all).not.toContain(SECRET_KEY);
    expect(all).not.toContain(Buffer.from(SECRET_KEY).toString('base64'));
    const db = readFileSync(join(e.configDir, 'config', 'config.db')).toString('latin1');
    expect(db).not.toContain(SECRET_KEY);
    const steps = new RunStoreView(join(e.configDir, 'config')).steps(run.run.id);
    expect(steps).toEqual(['completed', 'completed', 'completed']);
    return objectBytes(`${prefix}/`).then((bodies) => {
      expect(bodies.length).toBe(6); // three outputs and three cache entries
      for (const b of bodies) expect(b.toString('latin1')).not.toContain(SECRET_KEY);
    });
  });
});

/** Reads a CLI config dir's run history through the library. */
class RunStoreView {
  readonly #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
  }
  steps(runId: string): string[] {
    const ks = new Keystack({ configDir: this.#dir, env: {} });
    clients.push(ks);
    return new RunStore(ks.store).steps(runId).map((s) => s.status);
  }
}
