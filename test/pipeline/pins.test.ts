/**
 * Version pins in pipelines and version ids on record (issue 21 "Pins", issue 20 "Provenance"):
 * `secrets: ['db@2']` makes `context.secrets.get('db')` read version 2, `{{db@1.key}}` in a
 * component config reads version 1, and every record carries the version id read (and the pin).
 * On the local store, whose versions are numbered 1, 2, 3….
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessRecord } from '../../src/core/provenance.js';
import { ConfigError } from '../../src/errors.js';
import { Keystack } from '../../src/stack/client.js';
import { updateComponent } from '../../src/stack/component-ops.js';
import { pipeline, RunStore, runPipeline, step, StepFailedError, type StepContext } from '../../src/pipeline/index.js';

let ks: Keystack;
afterEach(async () => {
  vi.restoreAllMocks();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- ks is unset when a test failed early
  await ks?.close();
});

/** `db` at versions 1, 2 and 3 (current). */
async function versioned(env: Record<string, string> = {}): Promise<Keystack> {
  ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-pins-')), env });
  const sm = await ks.secretsManager();
  await sm.register('db', { password: 'pw-one-1111' });
  await sm.update('db', { password: 'pw-two-2222' });
  await sm.update('db', { password: 'pw-three-3333' });
  return ks;
}

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
const one = (s: (...a: any[]) => unknown) => pipeline('pins', () => s());

const reader = (secrets: string[], name = 'reader') =>
  step({
    name,
    secrets,
    // The test reads back which version's values the step got.
    allowSecretOutputs: ['db'],
    run: async (_i: Record<string, never>, ctx: StepContext) => (await ctx.secrets.get('db')).values['password'],
  });

describe('pins in steps', () => {
  it("`secrets: ['db@2']` reads version 2 with context.secrets.get('db'), recorded with pinned 2 and version 2", async () => {
    await versioned();
    const seen = spyRecords();
    const r = await runPipeline(ks, one(reader(['db@2'])));
    expect(r.outputs['reader']).toBe('pw-two-2222');
    expect(seen.steps.map((x) => [x.secret, x.outcome, x.version, x.pinned])).toEqual([['db', 'read', '2', '2']]);
    expect(JSON.stringify(seen)).not.toMatch(/pw-(one|two|three)/);
  });

  it("`db@previous.password` and the label's id: previous is version 2", async () => {
    await versioned();
    const seen = spyRecords();
    const r = await runPipeline(ks, one(reader(['db@previous.password'])));
    expect(r.outputs['reader']).toBe('pw-two-2222');
    expect(seen.steps.map((x) => [x.keys, x.version, x.pinned])).toEqual([[['password'], '2', 'previous']]);
  });

  it('an unpinned read records the current version id', async () => {
    await versioned();
    const seen = spyRecords();
    const r = await runPipeline(ks, one(reader(['db'])));
    expect(r.outputs['reader']).toBe('pw-three-3333');
    expect(seen.steps.map((x) => [x.version, x.pinned])).toEqual([['3', null]]);
  });

  it('a missing version refuses the run before it starts: not_found, naming the readable versions', async () => {
    await versioned();
    const seen = spyRecords();
    const err = await runPipeline(ks, one(reader(['db@9']))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'not_found', hint: expect.stringContaining('Readable versions: 3, 2, 1') });
    expect((err as Error).message).toMatch(/^secret 'db' in secrets manager 'default' .*has no version 9$/);
    expect(seen.steps).toEqual([]);
  });

  it('unchecked (validation level NONE), a missing version fails the step, recorded as an error with that code', async () => {
    await versioned({ KEYSTACK_SECRET_VALIDATION_LEVEL: 'NONE' });
    const seen = spyRecords();
    const err = await runPipeline(ks, one(reader(['db@9']))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as Error).message).toContain("step 'reader' failed: secret 'db' in secrets manager 'default'");
    expect((err as Error).message).toContain('has no version 9');
    expect(seen.steps.map((x) => [x.outcome, x.pinned, x.errorCode])).toEqual([['error', '9', 'not_found']]);
  });

  it('declaring one secret at two versions is a declaration error', () => {
    expect(() => step({ name: 'two', secrets: ['db', 'db@3'], run: async () => 1 })).toThrow(ConfigError);
    expect(() => step({ name: 'two', secrets: ['db@3.password', 'db@4'], run: async () => 1 })).toThrow(
      "step 'two' declares the secret 'db' at two versions, 'db@3' and 'db@4'; a step reads one version of a secret",
    );
    expect(() => step({ name: 'two', secrets: ['db.user', 'db@3'], run: async () => 1 })).toThrow(
      "declares the secret 'db' at two versions, 'db' and 'db@3'",
    );
    expect(step({ name: 'ok', secrets: ['db@3.user', 'db@3.password'], run: async () => 1 }).declaration).toEqual({
      all: false,
      entries: [
        { name: 'db', key: 'user', version: '3' },
        { name: 'db', key: 'password', version: '3' },
      ],
    });
  });

  it("a fresh read records the version it found, after another writer's update", async () => {
    await versioned();
    const seen = spyRecords();
    const s = step({
      name: 'long',
      secrets: ['db'],
      // The test reads back which version's values the step got.
      allowSecretOutputs: ['db'],
      run: async (_i: Record<string, never>, ctx: StepContext) => {
        const first = (await ctx.secrets.get('db')).values['password'];
        await (await ks.secretsManager()).update('db', { password: 'pw-four-4444' });
        const again = (await ctx.secrets.get('db', { fresh: true })).values['password'];
        return [first, again];
      },
    });
    const r = await runPipeline(ks, one(s));
    expect(r.outputs['long']).toEqual(['pw-three-3333', 'pw-four-4444']);
    expect(seen.steps.map((x) => x.version)).toEqual(['3', '4']);
  });

  it('context.stack.secretsManager.getVersion goes through the guard: declared, recorded, keys restricted', async () => {
    await versioned();
    await (await ks.secretsManager()).register('other', { token: 'tok-other-1' });
    const seen = spyRecords();
    const s = step({
      name: 'versions',
      secrets: ['db.password'],
      // The test reads back which version's values the step got.
      allowSecretOutputs: ['db'],
      run: async (_i: Record<string, never>, ctx: StepContext) => {
        const v1 = await ctx.stack.secretsManager.getVersion('db', '1');
        const denied = await ctx.stack.secretsManager.getVersion('other', 'current').catch((e: unknown) => e);
        return { v1: v1.values, version: v1.version, denied: (denied as StepFailedError).code };
      },
    });
    const r = await runPipeline(ks, one(s));
    expect(r.outputs['versions']).toEqual({ v1: { password: 'pw-one-1111' }, version: '1', denied: 'denied' });
    expect(seen.steps.map((x) => [x.secret, x.outcome, x.version, x.pinned])).toEqual([
      ['db', 'read', '1', '1'],
      ['other', 'denied', null, 'current'],
    ]);
  });
});

describe('pins in component configs', () => {
  it('{{db@1.password}} resolves version 1 for the component, and its records carry version and pin', async () => {
    await versioned();
    updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{db@1.password}}' });
    const seen = spyRecords();
    const s = step({
      name: 'key',
      secrets: ['db'],
      // The test reads back which version's values the step got.
      allowSecretOutputs: ['db'],
      run: async (_i: Record<string, never>, ctx: StepContext) => ({
        fromStep: await ctx.stack.artifactStore.getString('encryption_key'),
        current: (await ctx.secrets.get('db')).values['password'],
      }),
    });
    const r = await runPipeline(ks, one(s));
    expect(r.outputs['key']).toEqual({ fromStep: 'pw-one-1111', current: 'pw-three-3333' });
    expect(seen.steps.map((x) => [x.secret, x.version, x.pinned])).toEqual([
      ['db', '1', '1'],
      ['db', '3', null],
    ]);
    // The artifact store's own reads (sealing the output) are the component's, with the version.
    expect(seen.components.length).toBeGreaterThan(0);
    for (const c of seen.components)
      expect(c).toMatchObject({ component: 'artifact-store:default', secret: 'db', version: '1', pinned: '1' });
  });
});

describe('used-by --version', () => {
  it('finds the runs that read a version, and not those that read another', async () => {
    await versioned();
    const pinned = await runPipeline(ks, one(reader(['db@1'])));
    const current = await runPipeline(ks, one(reader(['db'])));
    const of = async (version: string) =>
      (await ks.provenance.usedBy({ secret: 'db', version })).map((a) => [a.runId, a.version]);
    expect(await of('1')).toEqual([[pinned.run.id, '1']]);
    expect(await of('3')).toEqual([[current.run.id, '3']]);
    expect(await of('2')).toEqual([]);
  });
});
