import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaValidationError, StackValidationError } from '../../src/errors.js';
import { Keystack } from '../../src/stack/client.js';
import { defineFlavor } from '../../src/core/types.js';
import { registerComponent, updateComponent } from '../../src/stack/component-ops.js';
import type { ComponentFlavor } from '../../src/stack/components.js';
import { requiresAuthentication, StackRuntime } from '../../src/stack/runtime.js';
import { assertStackValid, validateStack, validationLevelFrom } from '../../src/stack/validation.js';

let ks: Keystack;
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- ks is unset when beforeEach failed
afterEach(async () => ks?.close());

function fresh(env: Record<string, string> = {}): Keystack {
  ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-val-')), env });
  return ks;
}

/** Two components with references to two secrets; `db` exists without the `password` key. */
async function withReferences(): Promise<void> {
  updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{art.key}}' });
  registerComponent(ks, { type: 'orchestrator', name: 'proc', flavor: 'local_process', config: {} });
  ks.updateStack('default', { orchestrator: 'proc' });
  // A second reference in another component, through a custom flavor with a sensitive field.
  await (await ks.secretsManager()).register('db', { user: 'u' });
}

const tokenFlavor: ComponentFlavor = {
  type: 'container_registry',
  name: 'token_registry',
  description: 'test registry with a token',
  config: {
    uri: { type: 'string', description: 'uri', required: true, allowReference: false },
    token: { type: 'string', description: 'token', sensitive: true },
  },
};

describe('stack validation levels', () => {
  it('SECRET_AND_KEY_EXISTS (default) reports every missing secret and key at once, with the fixing command', async () => {
    fresh();
    await withReferences();
    registerComponent(
      ks,
      {
        type: 'container_registry',
        name: 'reg',
        flavor: 'token_registry',
        config: { uri: 'r', token: '{{db.password}}' },
      },
      [tokenFlavor],
    );
    ks.updateStack('default', { container_registry: 'reg' });
    const report = await validateStack(ks, { componentFlavors: [tokenFlavor] });
    expect(report.level).toBe('SECRET_AND_KEY_EXISTS');
    expect(report.missing.map((m) => [m.name, m.key, m.reason])).toEqual([
      ['art', 'key', 'missing_secret'],
      ['db', 'password', 'missing_key'],
    ]);
    const err = await assertStackValid(ks, { componentFlavors: [tokenFlavor] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackValidationError);
    expect((err as Error).message).toContain('{{art.key}}');
    expect((err as Error).message).toContain('{{db.password}}');
    expect((err as StackValidationError).hint).toContain('keystack stack register-secrets default');
    expect((err as StackValidationError).hint).toContain('KEYSTACK_SECRET_VALIDATION_LEVEL');
  });

  it('SECRET_EXISTS only lists (one backend call): a missing key passes, a missing secret does not', async () => {
    fresh({ KEYSTACK_SECRET_VALIDATION_LEVEL: 'SECRET_EXISTS' });
    await withReferences();
    updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{db.password}}' });
    const ok = await validateStack(ks);
    expect(ok.level).toBe('SECRET_EXISTS');
    expect(ok.problems).toEqual([]);
    expect(ok.backendCalls).toBe(1);
    updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{nope.password}}' });
    expect((await validateStack(ks)).missing).toEqual([{ name: 'nope', key: 'password', reason: 'missing_secret' }]);
  });

  it('NONE checks no secret at all', async () => {
    fresh({ KEYSTACK_SECRET_VALIDATION_LEVEL: 'none' });
    await withReferences();
    const r = await validateStack(ks);
    expect([r.level, r.problems, r.backendCalls]).toEqual(['NONE', [], 0]);
  });

  it('refuses an unknown level, and references without a secrets manager', async () => {
    expect(() => validationLevelFrom({ KEYSTACK_SECRET_VALIDATION_LEVEL: 'SOME' })).toThrow(
      /NONE, SECRET_EXISTS, SECRET_AND_KEY_EXISTS/,
    );
    fresh();
    await withReferences();
    ks.updateStack('default', { secrets_manager: null });
    const r = await validateStack(ks);
    expect(r.problems.join()).toMatch(/reference secrets \(\{\{art\.key\}\}\), but the stack has no secrets manager/);
  });
});

describe('remote orchestrators', () => {
  it('refuse components that exist only on this machine, naming each; an s3 store and a remote secrets manager pass', async () => {
    fresh();
    registerComponent(ks, {
      type: 'orchestrator',
      name: 'cluster',
      flavor: 'bullmq',
      config: { redis_url: '{{redis.url}}' },
    });
    registerComponent(ks, {
      type: 'artifact_store',
      name: 'bucket',
      flavor: 's3',
      config: { path: 's3://keystack-artifacts/runs' },
    });
    await (await ks.secretsManager()).register('redis', { url: 'redis://:pw@127.0.0.1:6379' });
    ks.registerStack('remote', { orchestrator: 'cluster', artifact_store: 'default', secrets_manager: 'default' });
    const r = await validateStack(ks, { stack: 'remote' });
    expect(r.problems).toEqual([
      "the remote orchestrator 'cluster' (flavor bullmq) cannot use artifact-store 'default' (flavor local), which exists only on this machine",
      "the remote orchestrator 'cluster' (flavor bullmq) cannot use secrets-manager 'default' (flavor local), which exists only on this machine",
    ]);
    const err = await assertStackValid(ks, { stack: 'remote' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackValidationError);
    expect((err as StackValidationError).hint).toContain('other than local');

    // The s3 store is accepted: only the local secrets manager is left.
    ks.updateStack('remote', { artifact_store: 'bucket' });
    expect((await validateStack(ks, { stack: 'remote' })).problems).toEqual([
      "the remote orchestrator 'cluster' (flavor bullmq) cannot use secrets-manager 'default' (flavor local), which exists only on this machine",
    ]);
    // With a manager that other machines reach too, the stack is valid (NONE: no server to ask here).
    await ks.registerSecretsManager({ name: 'vault', flavor: 'vault', config: { url: 'http://127.0.0.1:1' } });
    ks.updateStack('remote', { secrets_manager: 'vault' });
    expect((await validateStack(ks, { stack: 'remote', level: 'NONE' })).problems).toEqual([]);
    // The local orchestrators accept local components.
    expect((await validateStack(ks)).problems).toEqual([]);
  });

  it('a custom flavor with remote: true is treated the same', async () => {
    fresh();
    const remote: ComponentFlavor = {
      type: 'orchestrator',
      name: 'k8s',
      description: 'remote test orchestrator',
      config: {},
      remote: true,
    };
    registerComponent(ks, { type: 'orchestrator', name: 'cluster', flavor: 'k8s' }, [remote]);
    ks.registerStack('remote', { orchestrator: 'cluster', artifact_store: 'default', secrets_manager: 'default' });
    const r = await validateStack(ks, { stack: 'remote', componentFlavors: [remote] });
    expect(r.problems).toEqual([
      "the remote orchestrator 'cluster' (flavor k8s) cannot use artifact-store 'default' (flavor local), which exists only on this machine",
      "the remote orchestrator 'cluster' (flavor k8s) cannot use secrets-manager 'default' (flavor local), which exists only on this machine",
    ]);
  });
});

describe('container registry', () => {
  it('requires authentication exactly when authentication_secret is set', () => {
    fresh();
    const a = registerComponent(ks, {
      type: 'container_registry',
      name: 'a',
      flavor: 'default',
      config: { uri: 'r.example' },
    }).record;
    const b = registerComponent(ks, {
      type: 'container_registry',
      name: 'b',
      flavor: 'default',
      config: { uri: 'r.example', authentication_secret: 'creds' },
    }).record;
    expect([requiresAuthentication(a), requiresAuthentication(b)]).toEqual([false, true]);
    expect(() =>
      registerComponent(ks, { type: 'container_registry', name: 'c', flavor: 'default', config: {} }),
    ).toThrow(/needs the config field 'uri'/);
  });

  it('needs a basic_auth secret, and says which schema to register it with', async () => {
    fresh();
    registerComponent(ks, {
      type: 'container_registry',
      name: 'reg',
      flavor: 'default',
      config: { uri: 'r.example', authentication_secret: 'creds' },
    });
    ks.updateStack('default', { container_registry: 'reg' });
    expect((await validateStack(ks)).problems.join()).toContain(
      "the authentication secret 'creds' of container-registry 'reg' does not exist",
    );
    const sm = await ks.secretsManager();
    await sm.register('creds', { username: 'u', password: 'p4ssword' });
    const r = await validateStack(ks);
    expect(r.problems).toEqual([
      "the authentication secret 'creds' of container-registry 'reg' has schema 'arbitrary'; register it with schema 'basic_auth'",
    ]);
    const err = await (await StackRuntime.load(ks)).registryCredentials().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaValidationError);
    expect((err as Error).message).toContain("must be registered with schema 'basic_auth'");
    expect((err as SchemaValidationError).hint).toContain('--schema=basic_auth');
    expect((err as Error).message).not.toContain('p4ssword');
    await sm.delete('creds');
    await sm.register('creds', { username: 'u', password: 'p4ssword' }, { schema: 'basic_auth' });
    expect((await validateStack(ks)).problems).toEqual([]);
    expect(await (await StackRuntime.load(ks)).registryCredentials()).toEqual({ username: 'u', password: 'p4ssword' });
  });
});

describe('write-only secrets managers', () => {
  it('are validated by secret names when their values cannot be read here', async () => {
    const names = new Set(['present']);
    const writeOnly = defineFlavor({
      name: 'writeonly',
      description: 'test',
      supportsScoping: false,
      separator: '/',
      maxContentBytes: 1000,
      nameRule: { pattern: /[a-z]+/, maxLength: 20, description: 'lowercase' },
      config: {},
      capabilities: { readValues: false },
      create: () => ({
        create: async () => true,
        update: async () => true,
        delete: async () => true,
        deleteAll: async () => 0,
        list: async () => [...names],
        get: async () => {
          throw new Error('get must not be called for a write-only flavor');
        },
      }),
    });
    const ks = new Keystack({ configDir: join(mkdtempSync(join(tmpdir(), 'ks-wo-')), 'cfg'), env: {} });
    const builtin = ks.flavors.get.bind(ks.flavors);
    ks.flavors.get = async (n) => (n === 'writeonly' ? writeOnly : builtin(n));
    ks.store.addComponent({
      type: 'secrets_manager',
      flavor: 'writeonly',
      name: 'wo',
      config: { scope: 'none', scope_prefix: 'keystack' },
    });
    ks.store.addComponent({
      type: 'artifact_store',
      flavor: 'local',
      name: 'refs',
      config: { encryption_key: '{{present.key}}' },
    });
    ks.registerStack('s', { secrets_manager: 'wo', artifact_store: 'refs', orchestrator: 'default' });
    const ok = await validateStack(ks, { stack: 's', level: 'SECRET_AND_KEY_EXISTS' });
    expect(ok.level).toBe('SECRET_EXISTS');
    expect(ok.problems).toEqual([]);
    names.clear();
    const bad = await validateStack(ks, { stack: 's', level: 'SECRET_AND_KEY_EXISTS' });
    expect(bad.problems.join(' ')).toContain('{{present.key}}');
    await ks.close();
  });
});
