/**
 * The guarantees of a local_process step child: no backend credential in its environment, and
 * no way through keystack to widen its capability (another step's or run's name, an old
 * capability, a manager built from scratch, an undeclared secret or key). Attempts that reach
 * the parent are recorded as denied.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AccessRecord } from '../../src/core/provenance.js';
import { loadPipelineModule, RunStore, runPipeline, type WorkerLauncher } from '../../src/pipeline/index.js';
import { registerComponent } from '../../src/stack/component-ops.js';
import { Keystack } from '../../src/stack/client.js';

const worker: WorkerLauncher = {
  command: process.execPath,
  // The step child's own entry, as a built keystack starts it (dist/step-child.cjs).
  args: ['--import', 'tsx', resolve('src/pipeline/step-host/entry.ts')],
};
const fixture = resolve('test/pipeline/fixtures/isolation-pipeline.ts');

/** Credentials of every kind the parent holds; none may reach the child. */
const CREDENTIALS: Record<string, string> = {
  VAULT_TOKEN: 'hvs.parent-vault-token-0001',
  BAO_TOKEN: 'parent-bao-token-0002',
  VAULT_ROLE_ID: 'parent-role-id-0003',
  AWS_ACCESS_KEY_ID: 'AKIAPARENT00000004',
  AWS_SECRET_ACCESS_KEY: 'parent-aws-secret-0005',
  AZURE_CLIENT_SECRET: 'parent-azure-secret-0006',
  GOOGLE_APPLICATION_CREDENTIALS: '/parent/gcp-credentials-0007.json',
  GITHUB_TOKEN: 'ghp_parent0008',
  KEYSTACK_REDIS_URL: 'redis://:parent-redis-pass-0009@127.0.0.1:1',
  KEYSTACK_PROVENANCE_KEY: randomBytes(32).toString('base64'),
};

let ks: Keystack | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await ks?.close();
});

describe('a local_process step child', () => {
  it('holds no credential, and cannot widen its capability through keystack', async () => {
    const probeDir = mkdtempSync(join(tmpdir(), 'keystack-probe-'));
    const configDir = mkdtempSync(join(tmpdir(), 'keystack-iso-'));
    const k = new Keystack({ configDir, env: { ...CREDENTIALS, PROBE_DIR: probeDir, PROBE_CONFIG: configDir } });
    ks = k;
    registerComponent(k, { type: 'orchestrator', name: 'proc', flavor: 'local_process' });
    k.updateStack('default', { orchestrator: 'proc' });
    const m = await k.secretsManager();
    await m.register('api', { token: 'child-token-42', extra: 'not-declared-key-43' });
    await m.register('other', { value: 'other-secret-44' });
    const records = new Map<string, AccessRecord[]>();
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the store as this
    const finish = RunStore.prototype.finishStep;
    vi.spyOn(RunStore.prototype, 'finishStep').mockImplementation(function (this: RunStore, runId, stepId, r) {
      records.set(stepId, [...(r.records ?? [])]);
      finish.call(this, runId, stepId, r);
    });
    const loaded = await loadPipelineModule(fixture);
    const running = runPipeline(k, loaded.pipeline, {
      module: { path: loaded.module, exportName: loaded.exportName },
      worker,
    });
    // The probe step waits while its environment is read from outside, as another process would.
    let environ = '';
    for (let i = 0; i < 600 && environ === ''; i++) {
      if (existsSync(join(probeDir, 'pid'))) {
        environ = readFileSync(`/proc/${readFileSync(join(probeDir, 'pid'), 'utf8')}/environ`, 'latin1');
      } else await new Promise((r) => setTimeout(r, 50));
    }
    writeFileSync(join(probeDir, 'go'), '');
    const r = await running;

    const vars = new Map(
      environ
        .split('\0')
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(vars.get('KEYSTACK_STEP_PROCESS')).toBe('1');
    expect(vars.get('PROBE_DIR')).toBe(probeDir);
    for (const [name, value] of Object.entries(CREDENTIALS)) {
      expect(vars.has(name), name).toBe(false);
      expect(environ.includes(value), name).toBe(false);
    }
    expect(r.outputs['probe']).toEqual({ tokenLength: 'child-token-42'.length });

    const deniedCapability = (stepId: string) =>
      (records.get(stepId) ?? []).filter((x) => x.outcome === 'denied' && x.errorCode === 'capability');
    // An old capability, after its attempt ended, in another step's child.
    expect(r.outputs['replay']).toMatchObject({ error: { code: 'denied' } });
    expect(JSON.stringify(r.outputs['replay'])).not.toContain('child-token-42');
    expect(deniedCapability('replay')).toHaveLength(1);
    // Its own capability with another step's name, or another run's id.
    expect(r.outputs['other_step']).toMatchObject({ error: { code: 'denied' } });
    expect(JSON.stringify(r.outputs['other_step'])).not.toContain('other-secret-44');
    expect(deniedCapability('other_step').map((x) => x.secret)).toEqual(['other']);
    expect(r.outputs['other_run']).toMatchObject({ error: { code: 'denied' } });
    expect(deniedCapability('other_run')).toHaveLength(1);
    // Its legitimate reads are on record, with a keyed fingerprint and never the value.
    const reads = (records.get('leak_token') ?? []).filter((x) => x.outcome === 'read');
    expect(reads.map((x) => [x.secret, x.step, x.attempt])).toEqual([['api', 'leak_token', 1]]);
    expect(JSON.stringify(records.get('leak_token'))).not.toContain('child-token-42');

    // keystack's API refuses to open the store or build a manager inside a step child.
    const scratch = r.outputs['scratch'] as { store: string; manager: string };
    expect(scratch.store).toBe('config: a step process may not open the config store: it holds no credentials');
    expect(scratch.manager).toBe('config: a step process may not open the config store: it holds no credentials');
    // What it did not declare: another secret is denied (and recorded), another key never sent.
    expect(r.outputs['undeclared']).toEqual({
      other: "denied: step 'undeclared' did not declare the secret 'other', so it may not read it",
      keys: ['token'],
      write: expect.stringMatching(/^denied: /) as unknown,
    });
    expect((records.get('undeclared') ?? []).map((x) => [x.secret, x.outcome])).toEqual([
      ['other', 'denied'],
      ['api', 'read'],
      // As for an in-process step, the refused write is on record.
      ['x', 'denied'],
    ]);
  }, 240_000);
});
