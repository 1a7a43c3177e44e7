/**
 * Least privilege for steps (issue 20, "Declaring and enforcing"): a step reads only what it
 * declares in `step({ secrets })`, through `context.secrets` or the same guarded
 * `context.stack`; anything else fails the step with code `denied`, and every read and denial is
 * handed to the run history with the step's status.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, type SecretAccessDeniedError } from '../../src/errors.js';
import { SecretsManager } from '../../src/core/manager.js';
import { fingerprint, type AccessRecord } from '../../src/core/provenance.js';
import { STEP_MANAGER_MEMBERS } from '../../src/pipeline/step-context.js';
import { Keystack } from '../../src/stack/client.js';
import { registerComponent, updateComponent } from '../../src/stack/component-ops.js';
import { loadProvenanceKey } from '../../src/stack/provenance-key.js';
import {
  loadPipelineModule,
  pipeline,
  RunStore,
  runPipeline,
  step,
  StepFailedError,
  type StepContext,
  type WorkerLauncher,
} from '../../src/pipeline/index.js';

let ks: Keystack;
afterEach(async () => {
  vi.restoreAllMocks();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- ks is unset when a test failed early
  await ks?.close();
});

async function fresh(): Promise<Keystack> {
  ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-lp-')), env: {} });
  const sm = await ks.secretsManager();
  await sm.register('api', { token: 'api-token-value-1' });
  await sm.register('db', { username: 'db-user-value', password: 'db-password-value' });
  return ks;
}

/** Every access record given to finishStep and recordAccess in this process. */
function spyRecords(): { steps: AccessRecord[]; components: AccessRecord[] } {
  const seen = { steps: [] as AccessRecord[], components: [] as AccessRecord[] };
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called again with the store as `this`
  const finish = RunStore.prototype.finishStep;
  vi.spyOn(RunStore.prototype, 'finishStep').mockImplementation(function (this: RunStore, runId, stepId, r) {
    seen.steps.push(...(r.records ?? []));
    finish.call(this, runId, stepId, r);
  });
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called again with the store as `this`
  const record = RunStore.prototype.recordAccess;
  vi.spyOn(RunStore.prototype, 'recordAccess').mockImplementation(function (this: RunStore, runId, records) {
    seen.components.push(...records);
    record.call(this, runId, records);
  });
  return seen;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any step of no inputs
const one = (s: (...a: any[]) => unknown) => pipeline('lp', () => s());

describe('declaring secrets', () => {
  it('keeps the option and its parsed declaration on the step; a bad option fails at definition', () => {
    const s = step({ name: 's', secrets: ['api', 'db.password', 'old@3'], run: async () => 1 });
    expect(s.secrets).toEqual(['api', 'db.password', 'old@3']);
    expect(s.declaration).toEqual({
      all: false,
      entries: [
        { name: 'api', key: undefined, version: undefined },
        { name: 'db', key: 'password', version: undefined },
        { name: 'old', key: undefined, version: '3' },
      ],
    });
    expect(step({ name: 'n', run: async () => 1 }).declaration).toEqual({ all: false, entries: [] });
    expect(step({ name: 'a', secrets: '*', run: async () => 1 }).declaration).toEqual({ all: true });
    expect(() => step({ name: 'bad', secrets: 'api' as unknown as string[], run: async () => 1 })).toThrow(ConfigError);
  });
});

describe('enforcing on the local orchestrator', () => {
  it('fails a step that reads an undeclared secret with code denied, and records the denial', async () => {
    await fresh();
    const seen = spyRecords();
    const s = step({
      name: 'reader',
      secrets: ['api'],
      run: async (_i: Record<string, never>, ctx: StepContext) => {
        await ctx.secrets.get('api');
        return (await ctx.secrets.get('db')).values['password'];
      },
    });
    const err = await runPipeline(ks, one(s)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as StepFailedError).code).toBe('denied');
    expect((err as Error).message).toBe(
      "step 'reader' failed: denied: step 'reader' did not declare the secret 'db', so it may not read it",
    );
    expect((err as StepFailedError).hint).toMatch(/`secrets:` option/);
    const runs = new RunStore(ks.store);
    const rec = runs.steps(runs.listRuns()[0]?.id ?? '')[0];
    expect(rec?.status).toBe('failed');
    expect(rec?.error).toMatch(/^denied: /);
    expect(seen.steps.map((r) => [r.secret, r.outcome, r.step])).toEqual([
      ['api', 'read', 'reader'],
      ['db', 'denied', 'reader'],
    ]);
    const key = loadProvenanceKey(ks.configDir, {});
    expect(seen.steps[0]?.fingerprints).toEqual({ token: fingerprint(key, 'api-token-value-1') });
    expect(seen.steps[0]?.manager).toMatchObject({ name: 'default', flavor: 'local' });
    expect(JSON.stringify(seen)).not.toMatch(/api-token-value-1|db-password-value|db-user-value/);
  });

  it('a step without `secrets` reads nothing: no secret, no list, no write', async () => {
    await fresh();
    const tried: string[] = [];
    const s = step({
      name: 'none',
      run: async (_i: Record<string, never>, ctx: StepContext) => {
        tried.push(`list:${(await ctx.stack.secretsManager.list()).join(',')}`);
        await ctx.stack.secretsManager.register('new', { v: '1' }).catch((e: unknown) => {
          tried.push(`register:${(e as SecretAccessDeniedError).code}`);
        });
        await ctx.stack.secretsManager.has('api').catch((e: unknown) => {
          tried.push(`has:${(e as SecretAccessDeniedError).code}`);
        });
        return ctx.stack.secretsManager.get('api');
      },
    });
    const err = await runPipeline(ks, one(s)).catch((e: unknown) => e);
    expect((err as StepFailedError).code).toBe('denied');
    expect(tried).toEqual(['list:', 'register:denied', 'has:denied']);
    expect(await (await ks.secretsManager()).has('new')).toBe(false);
  });

  it('context.stack.secretsManager is the same guarded view: list shows only what is declared', async () => {
    await fresh();
    const s = step({
      name: 'lister',
      secrets: ['api'],
      // The test reads the value back from the output.
      allowSecretOutputs: ['api.token'],
      run: async (_i: Record<string, never>, ctx: StepContext) => ({
        listed: await ctx.stack.secretsManager.list(),
        token: (await ctx.stack.secretsManager.get('api')).values['token'],
        keys: (await ctx.stack.secretsManager.describe('api')).keys,
      }),
    });
    const r = await runPipeline(ks, one(s));
    expect(r.outputs['lister']).toEqual({ listed: ['api'], token: 'api-token-value-1', keys: ['token'] });
  });

  it('`name.key` allows that key only: the others are left out, and asking for one is denied', async () => {
    await fresh();
    const seen = spyRecords();
    const s = step({
      name: 'keyed',
      secrets: ['db.password'],
      run: async (_i: Record<string, never>, ctx: StepContext) => {
        const got = await ctx.secrets.get('db');
        const denied = await ctx.secrets.get('db', { keys: ['username'] }).catch((e: unknown) => e);
        return { keys: Object.keys(got.values), denied: (denied as SecretAccessDeniedError).message };
      },
    });
    const r = await runPipeline(ks, one(s));
    expect(r.outputs['keyed']).toEqual({
      keys: ['password'],
      denied: "step 'keyed' did not declare the key 'username' of the secret 'db', so it may not read it",
    });
    expect(seen.steps.map((x) => [x.outcome, x.keys])).toEqual([
      ['read', ['password']],
      ['denied', ['username']],
    ]);
  });

  it('a component attribute that is a reference resolves for the step only when it declared the secret', async () => {
    await fresh();
    await (await ks.secretsManager()).register('art', { key: 'artifact-passphrase' });
    updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{art.key}}' });
    const seen = spyRecords();
    const reads = (name: string, secrets?: string[]) =>
      step({
        name,
        ...(secrets ? { secrets } : {}),
        run: async (_i: Record<string, never>, ctx: StepContext) =>
          (await ctx.stack.artifactStore.getString('encryption_key'))?.length,
      });
    const err = await runPipeline(ks, one(reads('sneaky'))).catch((e: unknown) => e);
    expect((err as StepFailedError).code).toBe('denied');
    expect((err as Error).message).toContain(
      "did not declare the secret 'art' (a reference in field 'encryption_key' of artifact-store 'default'), so it may not read it",
    );
    expect(seen.steps.filter((x) => x.step === 'sneaky').map((x) => x.outcome)).toEqual(['denied']);

    for (const declared of [['art'], ['art.key']]) {
      const r = await runPipeline(ks, one(reads('allowed', declared)));
      expect(r.outputs['allowed']).toBe('artifact-passphrase'.length);
    }
    expect(seen.steps.filter((x) => x.step === 'allowed').map((x) => [x.outcome, x.keys])).toEqual([
      ['read', ['key']],
      ['read', ['key']],
    ]);
    // The artifact store's own reads (sealing the outputs) are the component's, not a step's.
    expect(seen.components.length).toBeGreaterThan(0);
    expect(seen.components.every((x) => x.component === 'artifact-store:default' && x.step === undefined)).toBe(true);
    expect(seen.components[0]).toMatchObject({ secret: 'art', keys: ['key'], outcome: 'read' });
  });

  it("`secrets: '*'` reads and writes anything, and is warned about once per step on every run", async () => {
    await fresh();
    const warnings: string[] = [];
    const s = step({
      name: 'open',
      secrets: '*',
      allowSecretOutputs: ['db.username'],
      run: async (_i: Record<string, never>, ctx: StepContext) => {
        await ctx.stack.secretsManager.register(`made_${ctx.stepId}`, { v: 'x' });
        return (await ctx.secrets.get('db')).values['username'];
      },
    });
    const p = pipeline('lp', () => {
      s();
      s();
    });
    const r = await runPipeline(ks, p, { onWarning: (m) => warnings.push(m) });
    expect(r.outputs['open']).toBe('db-user-value');
    expect(warnings).toEqual([
      "step 'open' declares secrets: '*', so it may read and change every secret of the stack; declare the secrets it reads instead",
      "step 'open_2' declares secrets: '*', so it may read and change every secret of the stack; declare the secrets it reads instead",
    ]);
    expect(await (await ks.secretsManager()).list()).toContain('made_open_2');
    await (await ks.secretsManager()).deleteAll();
    await (await ks.secretsManager()).register('db', { username: 'db-user-value', password: 'p' });
    await runPipeline(ks, p, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(4);
  });

  it('`{ fresh: true }` reads the current value again, as a new record; otherwise the run reads once', async () => {
    await fresh();
    const seen = spyRecords();
    const s = step({
      name: 'rotating',
      secrets: ['api'],
      allowSecretOutputs: ['api'],
      run: async (_i: Record<string, never>, ctx: StepContext) => {
        const first = (await ctx.secrets.get('api')).values['token'];
        await (await ks.secretsManager()).update('api', { token: 'api-token-value-2' });
        const cached = (await ctx.secrets.get('api')).values['token'];
        const again = (await ctx.secrets.get('api', { fresh: true })).values['token'];
        return [first, cached, again];
      },
    });
    const r = await runPipeline(ks, one(s));
    expect(r.outputs['rotating']).toEqual(['api-token-value-1', 'api-token-value-1', 'api-token-value-2']);
    const key = loadProvenanceKey(ks.configDir, {});
    expect(seen.steps.map((x) => x.fingerprints['token'])).toEqual([
      fingerprint(key, 'api-token-value-1'),
      fingerprint(key, 'api-token-value-1'),
      fingerprint(key, 'api-token-value-2'),
    ]);
  });
});

describe("a step's manager view", () => {
  it('has a rule for every member of SecretsManager, so that a new one is decided before a step can call it', async () => {
    await fresh();
    const sm = await ks.secretsManager();
    const members = [
      ...Object.keys(sm),
      ...Object.getOwnPropertyNames(SecretsManager.prototype).filter((n) => n !== 'constructor'),
    ];
    expect(members.filter((n) => !Object.hasOwn(STEP_MANAGER_MEMBERS, n))).toEqual([]);
    expect(Object.keys(STEP_MANAGER_MEMBERS).filter((n) => !members.includes(n))).toEqual([]);
  });
});

describe('enforcing on the local_process orchestrator', () => {
  // The real step child; the parent (this process) answers its reads and writes its records.
  const worker: WorkerLauncher = {
    command: process.execPath,
    // The step child's own entry, as a built keystack starts it (dist/step-child.cjs).
    args: ['--import', 'tsx', resolve('src/pipeline/step-host/entry.ts')],
  };

  it('fails a step that reads an undeclared secret with code denied, and the parent records the denial with the step', async () => {
    await fresh();
    registerComponent(ks, { type: 'orchestrator', name: 'proc', flavor: 'local_process' });
    ks.updateStack('default', { orchestrator: 'proc' });
    const seen = spyRecords();
    const loaded = await loadPipelineModule(resolve('test/pipeline/fixtures/undeclared-pipeline.ts'));
    const err = await runPipeline(ks, loaded.pipeline, {
      module: { path: loaded.module, exportName: loaded.exportName },
      worker,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as StepFailedError).code).toBe('denied');
    expect((err as Error).message).toBe(
      "step 'child' failed: denied: step 'child' did not declare the secret 'db', so it may not read it",
    );
    expect(seen.steps.map((r) => [r.step, r.secret, r.outcome])).toEqual([
      ['child', 'api', 'read'],
      ['child', 'db', 'denied'],
    ]);
    expect(JSON.stringify(seen)).not.toMatch(/api-token-value-1|db-password-value/);
  });

  /**
   * Runs a fixture's pipeline on an orchestrator ('default' in-process, 'proc' in step children)
   * and returns the run with its access records, their run id and time blanked for comparison.
   */
  const runnerOf = async (fixture: string, exportName?: string) => {
    const loaded = await loadPipelineModule(resolve(`test/pipeline/fixtures/${fixture}`), exportName);
    registerComponent(ks, { type: 'orchestrator', name: 'proc', flavor: 'local_process' });
    return async (orchestrator: string) => {
      ks.updateStack('default', { orchestrator });
      const seen = spyRecords();
      const r = await runPipeline(ks, loaded.pipeline, {
        module: { path: loaded.module, exportName: loaded.exportName },
        worker,
        onWarning: () => undefined,
      });
      vi.restoreAllMocks();
      return { r, records: seen.steps.map((x) => ({ ...x, runId: '', at: '' })) };
    };
  };

  it('gives a step child the same context as an in-process step: same output, denials and records', async () => {
    await fresh();
    await (await ks.secretsManager()).register('other', { value: 'other-secret-value' });
    const runOn = await runnerOf('same-records-pipeline.ts');
    const local = await runOn('default');
    const child = await runOn('proc');
    expect(child.r.outputs['reader']).toEqual(local.r.outputs['reader']);
    expect(child.records).toEqual(local.records);
    // What the comparison covers: reads, a denied read, a denied describe and a denied write.
    expect(local.records.map((x) => [x.secret, x.keys, x.outcome])).toEqual([
      ['api', ['token'], 'read'],
      ['db', ['password'], 'read'],
      ['other', [], 'denied'],
      ['other', [], 'denied'],
      ['api', [], 'denied'],
    ]);
    expect((local.r.outputs['reader'] as { write: { code: string } }).write.code).toBe('denied');
  });

  it('answers history and diff in a step child as in-process: keys and changes only, an undeclared secret denied', async () => {
    await fresh();
    await (await ks.secretsManager()).update('db', {
      username: 'db-user-value',
      password: 'db-password-value-2',
      port: '5432',
    });
    const runOn = await runnerOf('versions-pipeline.ts', 'versions');
    const local = await runOn('default');
    const child = await runOn('proc');
    expect(child.r.outputs['historian']).toEqual(local.r.outputs['historian']);
    expect(child.records).toEqual(local.records);
    const denied = (what: string) => ({
      code: 'denied',
      message: `step 'historian' did not declare ${what}, so it may not read it`,
    });
    expect(local.r.outputs['historian']).toEqual({
      history: [
        {
          keys: ['password', 'port', 'username'],
          changes: { added: ['port'], removed: [], changed: ['password'] },
          labels: ['current'],
          readable: true,
          createdAt: 'Date',
        },
        { keys: ['password', 'username'], changes: null, labels: ['previous'], readable: true, createdAt: 'Date' },
      ],
      limited: [['current']],
      badLimit: { code: 'input', message: '--limit must be a whole number above 0, not 0' },
      diff: { name: 'db', from: '1', to: '2', added: ['port'], removed: [], changed: ['password'] },
      diffBack: { name: 'db', from: '2', to: '1', added: [], removed: ['port'], changed: ['password'] },
      undeclaredHistory: denied("the secret 'api'"),
      undeclaredDiff: denied("the secret 'api'"),
      rollback: {
        code: 'denied',
        message:
          "step 'historian' did not declare secrets: '*', which a step needs to rollback the secret 'db', so it may not read it",
      },
      retire: {
        code: 'denied',
        message:
          "step 'historian' did not declare secrets: '*', which a step needs to retireVersion the secret 'db', so it may not read it",
      },
      rotate: {
        code: 'denied',
        message:
          "step 'historian' did not declare secrets: '*', which a step needs to rotate the secret 'db', so it may not read it",
      },
    });
    // Each refusal is on record, as the guard records it in-process; history and diff read no value.
    expect(local.records.map((x) => [x.secret, x.outcome, x.step])).toEqual([
      ['api', 'denied', 'historian'],
      ['api', 'denied', 'historian'],
      ['db', 'denied', 'historian'],
      ['db', 'denied', 'historian'],
      ['db', 'denied', 'historian'],
    ]);
    expect(JSON.stringify([child, local])).not.toMatch(/db-password-value|db-user-value|api-token-value/);
    // Nothing was written: the refused rollback, retire and rotate changed no version.
    expect((await (await ks.secretsManager()).history('db')).map((e) => e.version)).toEqual(['2', '1']);
  });

  it('answers the getters, refuses schema() and close() and denies an undeclared secret alike in a step child and in-process', async () => {
    await fresh();
    const runOn = await runnerOf('manager-members-pipeline.ts');
    const local = await runOn('default');
    const child = await runOn('proc');
    expect(child.r.outputs).toEqual(local.r.outputs);
    expect(child.records).toEqual(local.records);
    const sm = await ks.secretsManager();
    const denied = { code: 'denied', message: "step 'member' did not declare the secret 'api', so it may not read it" };
    const refused = (method: string) => ({
      code: 'unsupported',
      message: `step 'member' may not call the secrets manager's ${method}(): the run owns its secrets manager`,
    });
    expect(local.r.outputs['member']).toMatchObject({
      // A boolean, as the run's manager answers it: not a function (the step child's old stand-in).
      keepsVersions: sm.keepsVersions,
      mergesAtomically: sm.mergesAtomically,
      identity: { name: sm.name, where: sm.where, flavor: 'local', scope: sm.scope.scope },
      schemaOf: { ok: 'arbitrary' },
      undeclaredSchemaOf: denied,
      undeclaredHas: denied,
      undeclaredVersion: denied,
      schema: { ...refused('schema'), hint: expect.stringContaining('get(name, schema)') as unknown },
      close: { ...refused('close'), hint: 'The run closes its secrets manager when it ends; a step leaves it open.' },
      afterClose: { ok: ['username', 'password'] },
    });
    expect(typeof (child.r.outputs['member'] as { keepsVersions: unknown }).keepsVersions).toBe('boolean');
    // The run went on after the refused close: the next step read through the run's manager.
    expect(local.r.outputs['later']).toEqual({ sawBefore: true, keys: ['username', 'password'] });
    expect(local.records.map((x) => [x.step, x.secret, x.outcome])).toEqual([
      ['member', 'api', 'denied'],
      ['member', 'api', 'denied'],
      ['member', 'api', 'denied'],
      ['member', 'db', 'read'],
      ['later', 'db', 'read'],
    ]);
    expect(JSON.stringify([child, local])).not.toMatch(/db-password-value|db-user-value|api-token-value/);
  });

  it("rolls back, retires and rotates from a step child with secrets: '*'; history names the run and step", async () => {
    await fresh();
    const sm = await ks.secretsManager();
    await sm.update('db', { username: 'db-user-value', password: 'db-password-value-2' });
    const runOn = await runnerOf('versions-pipeline.ts', 'rollback');
    const { r } = await runOn('proc');
    const writer = `run ${r.run.id.slice(0, 8)} step roller`;
    expect(r.outputs['roller']).toEqual({
      rollback: { name: 'db', restored: '1', replaced: '2', version: '3' },
      rotate: { name: 'db', version: '4', previous: '3' },
      after: [
        { version: '4', writer, labels: ['current'] },
        { version: '3', writer, labels: ['previous'] },
        { version: '1', writer: expect.stringMatching(/^[^ ]+@[^ ]+$/) as unknown, labels: [] },
      ],
    });
    expect((await sm.get('db')).values['password']).toBe('db-password-value-3');
    expect((await sm.getVersion('db', '3')).values['password']).toBe('db-password-value');
    expect((await sm.history('db')).map((e) => [e.version, e.writer])).toEqual([
      ['4', writer],
      ['3', writer],
      ['1', expect.stringMatching(/^[^ ]+@[^ ]+$/)],
    ]);
  });
});
