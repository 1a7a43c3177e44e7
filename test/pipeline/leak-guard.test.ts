/**
 * The leak guard (issue 24 part 1) on the local orchestrators: a step whose output, parameters or
 * error would store a value delivered to the run fails with code `secret_leak`, nothing of it is
 * written, and no form of the value is in the run history, the error or the CLI's output.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Keystack } from '../../src/stack/client.js';
import { registerComponent } from '../../src/stack/component-ops.js';
import {
  loadPipelineModule,
  RunStore,
  runPipeline,
  StepFailedError,
  type WorkerLauncher,
} from '../../src/pipeline/index.js';
import type { RunOptions } from '../../src/pipeline/run-common.js';
import { leakForms } from '../../src/support/leak-match.js';
import { cli, tempEnv } from '../support/cli.js';
import { ENCODINGS, GUARD_SECRETS, type Encoding } from './fixtures/guard-pipeline.js';

const FIXTURE = resolve('test/pipeline/fixtures/guard-pipeline.ts');
const worker: WorkerLauncher = {
  command: process.execPath,
  args: ['--import', 'tsx', resolve('src/pipeline/step-host/entry.ts')],
};

/** Every form of every value the tests use (down to 4 characters), which nothing may show. */
const FORBIDDEN = [
  ...new Set(
    Object.values(GUARD_SECRETS)
      .flatMap((s) => Object.values(s) as string[])
      .flatMap((v) => leakForms(v, 4).map((f) => f.form)),
  ),
];
function expectNoValue(what: string, text: string): void {
  for (const f of FORBIDDEN) expect(text, `${what} shows ${JSON.stringify(f)}`).not.toContain(f);
}

let ks: Keystack | undefined;
afterEach(async () => {
  await ks?.close();
  ks = undefined;
});

async function setup(orchestrator: 'local' | 'local_process'): Promise<Keystack> {
  ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-guard-')), env: {} });
  const sm = await ks.secretsManager();
  for (const [name, values] of Object.entries(GUARD_SECRETS)) await sm.register(name, { ...values });
  if (orchestrator === 'local_process') {
    registerComponent(ks, { type: 'orchestrator', name: 'proc', flavor: 'local_process' });
    ks.updateStack('default', { orchestrator: 'proc' });
  }
  return ks;
}

async function run(k: Keystack, exportName: string, o: RunOptions = {}) {
  const loaded = await loadPipelineModule(FIXTURE, exportName);
  return runPipeline(k, loaded.pipeline, {
    module: { path: loaded.module, exportName: loaded.exportName },
    worker,
    ...o,
  });
}

/** Runs a pipeline that must fail with a leak; checks that nothing of the step was written. */
async function expectLeak(k: Keystack, exportName: string, o: RunOptions = {}): Promise<StepFailedError> {
  const err = await run(k, exportName, o).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StepFailedError);
  const failed = err as StepFailedError;
  expect(failed.code).toBe('secret_leak');
  const runs = new RunStore(k.store);
  const [rec] = runs.listRuns(1);
  expect(rec?.status).toBe('failed');
  const steps = runs.steps(rec?.id ?? '');
  const step = steps.find((s) => s.stepId === failed.stepId);
  expect(step?.status).toBe('failed');
  expect(step?.output).toBeNull();
  expect(step?.error?.startsWith('secret_leak: ')).toBe(true);
  // Nothing under the run in the artifact store.
  expect(existsSync(join(k.configDir, 'artifacts', rec?.id ?? ''))).toBe(false);
  expectNoValue('the run history', JSON.stringify({ rec, steps }));
  expectNoValue('the error', `${failed.message} ${failed.hint ?? ''}`);
  return failed;
}

describe.each(['local', 'local_process'] as const)('the leak guard on the %s orchestrator', (orchestrator) => {
  const keyOf = (e: Encoding) => (e === 'line' ? "secret 'pem' key 'key'" : "secret 'db' key 'password'");

  it.each(ENCODINGS)('fails a step whose nested output field holds a value (%s)', async (encoding) => {
    const k = await setup(orchestrator);
    const err = await expectLeak(k, encoding);
    const form = encoding === 'raw' ? '' : ` (${encoding})`;
    expect(err.message).toBe(
      `step 'cfg_${encoding}' failed: secret_leak: step 'cfg_${encoding}' would store the value of ${keyOf(encoding)}${form} in its output at $.db.url; nothing of the step was written`,
    );
    expect(err.hint).toMatch(/allowSecretOutputs/);
  });

  it('fails a step whose binary output holds a value among its bytes', async () => {
    const k = await setup(orchestrator);
    const err = await expectLeak(k, 'binary');
    expect(err.message).toContain(
      "would store the value of secret 'db' key 'password' in its output at $.model.weights;",
    );
  });

  it('fails a step whose output holds a binary file in base64 with a value inside', async () => {
    const k = await setup(orchestrator);
    const err = await expectLeak(k, 'binaryBase64');
    expect(err.message).toContain("secret 'db' key 'password' (base64) in its output at $.model;");
  });

  it('fails a step whose parameter holds a value, and drops its parameters from the history', async () => {
    const k = await setup(orchestrator);
    const err = await expectLeak(k, 'param');
    expect(err.message).toContain(
      "step 'uses_param' would store the value of secret 'db' key 'user' in its parameter 'config' at $.user;",
    );
    const runs = new RunStore(k.store);
    expect(runs.steps(runs.listRuns(1)[0]?.id ?? '')[0]?.params).toEqual({});
  });

  it("fails a step whose thrown error's message carries a value, as a leak rather than a masked error", async () => {
    const k = await setup(orchestrator);
    const err = await expectLeak(k, 'thrown');
    expect(err.message).toBe(
      "step 'login' failed: secret_leak: step 'login' would store the value of secret 'db' key 'password' (base64) in its error; nothing of the step was written",
    );
  });

  it('lets a step that logs a value complete: what it prints is masked and not stored', async () => {
    const k = await setup(orchestrator);
    const r = await run(k, 'logs');
    expect(r.run.status).toBe('completed');
    expect(r.outputs['chatty']).toBe('ok');
  });

  it('allowSecretOutputs allows exactly the key it names, and records it', async () => {
    const k = await setup(orchestrator);
    const r = await run(k, 'allowKey');
    expect(r.outputs['mint']).toEqual({ credential: GUARD_SECRETS.db.password });
    expect(r.steps[0]?.allowSecretOutputs).toEqual(['db.password']);
    const other = await expectLeak(k, 'allowOtherKey');
    expect(other.message).toContain("secret 'db' key 'user' in its output at $.credential;");
    // A secret's name allows each of its keys.
    expect((await run(k, 'allowSecret')).outputs['mint']).toEqual({ credential: GUARD_SECRETS.db.user });
  });

  it('does not guard values under the minimum length (8), unless the run lowers it', async () => {
    const k = await setup(orchestrator);
    expect((await run(k, 'short')).outputs['pin']).toEqual({ pin: GUARD_SECRETS.pin.code });
    const err = await expectLeak(k, 'short', { leakMinLength: 7 });
    expect(err.message).toContain("secret 'pin' key 'code' in its output at $.pin;");
  });
});

describe('the leak guard through the CLI', () => {
  const e = tempEnv();
  for (const [name, values] of Object.entries(GUARD_SECRETS)) {
    // One key per call reads stdin; register with the first, update with the rest.
    const [first, ...rest] = Object.entries(values) as [string, string][];
    if (!first) continue;
    expect(cli(e, ['secret', 'register', name, `--${first[0]}=@-`], { input: first[1] }).status).toBe(0);
    for (const [k, v] of rest) expect(cli(e, ['secret', 'update', name, `--${k}=@-`], { input: v }).status).toBe(0);
  }

  it('pipeline run exits 1 with code secret_leak, showing no value (text and --json)', () => {
    const text = cli(e, ['pipeline', 'run', FIXTURE, '-p', 'base64']);
    expect(text.status).toBe(1);
    expect(text.stderr).toContain(
      "would store the value of secret 'db' key 'password' (base64) in its output at $.db.url",
    );
    expectNoValue('pipeline run', text.stdout + text.stderr);
    const json = cli(e, ['--json', 'pipeline', 'run', FIXTURE, '-p', 'thrown']);
    expect(json.status).toBe(1);
    expect((JSON.parse(json.stdout) as { error: { code: string } }).error.code).toBe('secret_leak');
    expectNoValue('pipeline run --json', json.stdout + json.stderr);
  });

  it('a step that logs a value: what it prints is masked', () => {
    const r = cli(e, ['pipeline', 'run', FIXTURE, '-p', 'logs']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('connecting with ***');
    expectNoValue('pipeline run', r.stdout + r.stderr);
  });

  it('--leak-min-length lowers the minimum; a bad one is a usage error', () => {
    expect(cli(e, ['pipeline', 'run', FIXTURE, '-p', 'short']).status).toBe(0);
    const low = cli(e, ['pipeline', 'run', FIXTURE, '-p', 'short', '--leak-min-length', '7']);
    expect(low.status).toBe(1);
    expect(low.stderr).toContain("secret 'pin' key 'code' in its output at $.pin");
    const bad = cli(e, ['pipeline', 'run', FIXTURE, '-p', 'short', '--leak-min-length', 'x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--leak-min-length must be a whole number of at least 1');
  });

  it('runs describe shows allowSecretOutputs (text and --json)', () => {
    expect(cli(e, ['pipeline', 'run', FIXTURE, '-p', 'allowKey']).status).toBe(0);
    const list = JSON.parse(cli(e, ['--json', 'pipeline', 'runs', 'list']).stdout) as { runs: { id: string }[] };
    const id = list.runs[0]?.id ?? '';
    const json = JSON.parse(cli(e, ['--json', 'pipeline', 'runs', 'describe', id]).stdout) as {
      steps: { step: string; allowSecretOutputs: string[] }[];
    };
    expect(json.steps.map((s) => [s.step, s.allowSecretOutputs])).toEqual([['mint', ['db.password']]]);
    const text = cli(e, ['pipeline', 'runs', 'describe', id]).stdout;
    expect(text).toContain('Allowed in outputs (allowSecretOutputs; not checked by the leak guard)');
    expect(text).toMatch(/\nmint\s+db\.password\n/);
  });
});
