/**
 * Run history that tells the truth: a run whose process died is `interrupted`, EPIPE does not
 * cut a run short, `--json` keeps stdout pure, a step that never settles does not exit 0, and a
 * cached output that can no longer be decrypted is a cache miss.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Keystack } from '../../src/stack/client.js';
import { updateComponent } from '../../src/stack/component-ops.js';
import { StackRuntime } from '../../src/stack/runtime.js';
import { LocalArtifactStore } from '../../src/pipeline/local-artifacts.js';
import { pipeline, runPipeline, step } from '../../src/pipeline/index.js';
import { BIN, cli, tempEnv, type CliEnv } from '../support/cli.js';

const FIXTURE = resolve('test/pipeline/fixtures/integrity-pipeline.ts');

interface RunView {
  id: string;
  status: string;
  error: string | null;
}
interface StepView {
  step: string;
  status: string;
}

function runs(e: CliEnv): RunView[] {
  const r = cli(e, ['--json', 'pipeline', 'runs', 'list']);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { runs: RunView[] }).runs;
}

function describeRun(e: CliEnv, id: string): { run: RunView; steps: StepView[] } {
  const r = cli(e, ['--json', 'pipeline', 'runs', 'describe', id]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { run: RunView; steps: StepView[] };
}

const steps = (d: { steps: StepView[] }) => d.steps.map((s) => [s.step, s.status]);

async function until(check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('pipeline runs from the CLI', () => {
  it('a run whose process died is shown as interrupted, not running; a live one stays running', async () => {
    const e = tempEnv();
    const marker = join(e.configDir, 'marker');
    const child = spawn(process.execPath, [BIN, 'pipeline', 'run', FIXTURE], {
      env: { ...e.env, INTEGRITY_MODE: 'wait', INTEGRITY_MARKER: marker },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.on('exit', r));
    try {
      await until(() => existsSync(marker));
      const [live] = runs(e);
      expect(live?.status).toBe('running');
      expect(steps(describeRun(e, live!.id))).toEqual([
        ['first', 'running'],
        ['after', 'pending'],
      ]);
    } finally {
      child.kill('SIGKILL');
    }
    await exited;
    const [dead] = runs(e);
    expect(dead).toMatchObject({ status: 'interrupted' });
    expect(dead!.error).toMatch(/ended before the run finished/);
    expect(steps(describeRun(e, dead!.id))).toEqual([
      ['first', 'interrupted'],
      ['after', 'skipped'],
    ]);
    const text = cli(e, ['pipeline', 'runs', 'list']);
    expect(text.stdout).toContain('interrupted');
    expect(text.stdout).not.toContain('running');
  });

  it('a step that never settles exits 1 with a clear error, and the run is not left running', () => {
    const e = tempEnv();
    const r = cli(e, ['pipeline', 'run', FIXTURE], { env: { INTEGRITY_MODE: 'never' } });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      'keystack stopped before the command finished: a step, flavor or plugin promise never settled',
    );
    expect(runs(e).map((x) => x.status)).toEqual(['interrupted']);
  });

  it('--json keeps stdout to one JSON document: console.log and process.stdout.write of steps go to stderr', () => {
    const e = tempEnv();
    const r = cli(e, ['--json', 'pipeline', 'run', FIXTURE], { env: { INTEGRITY_MODE: 'chatty' } });
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { run: RunView };
    expect(doc.run.status).toBe('completed');
    expect(r.stderr).toContain('console 2999 ');
    expect(r.stderr).toContain('write 2999 ');
  });

  it('EPIPE in the middle of a run does not cut it short: every step runs, the run is recorded, and the exit is not 0', () => {
    const e = tempEnv();
    const r = spawnSync(
      'bash',
      [
        '-c',
        '"$0" "$1" pipeline run "$2" | head -1 >/dev/null; exit "${PIPESTATUS[0]}"',
        process.execPath,
        BIN,
        FIXTURE,
      ],
      {
        env: { ...e.env, INTEGRITY_MODE: 'chatty' },
        encoding: 'utf8',
      },
    );
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/Error: standard output was closed while the command was still running \(EPIPE\)/);
    const [run] = runs(e);
    expect(run?.status).toBe('completed');
    expect(steps(describeRun(e, run!.id))).toEqual([
      ['first', 'completed'],
      ['after', 'completed'],
    ]);
  });
});

describe('cached outputs after an encryption key rotation', () => {
  let ks: Keystack | undefined;
  afterEach(async () => ks?.close());

  it('a cached step whose artifact cannot be decrypted any more is a cache miss and runs again', async () => {
    ks = new Keystack({ configDir: mkdtempSync(join(tmpdir(), 'keystack-runs-')), env: {} });
    updateComponent(ks, 'artifact_store', 'default', { encryption_key: '{{art.key}}' });
    const sm = await ks.secretsManager();
    await sm.register('art', { key: 'passphrase-one' });
    let calls = 0;
    const p = pipeline('rot', () => step({ name: 'calc', run: async () => (calls++, { n: 42 }) })());
    const first = await runPipeline(ks, p);
    expect((await runPipeline(ks, p)).steps.map((s) => s.status)).toEqual(['cached']);
    expect(calls).toBe(1);

    await sm.update('art', { key: 'passphrase-two' });
    const rotated = new Keystack({ configDir: ks.configDir, env: {} });
    try {
      const r = await runPipeline(rotated, p);
      expect(r.steps.map((s) => s.status)).toEqual(['completed']);
      expect(r.run.status).toBe('completed');
      expect(r.outputs).toEqual({ calc: { n: 42 } });
      expect(calls).toBe(2);
      // Reading the old output with the new key names the cause and says what to do.
      const store = new LocalArtifactStore((await StackRuntime.load(rotated)).artifactStore, rotated.configDir);
      const err = (await store.read(`${first.run.id}/calc.json`).catch((x: unknown) => x)) as {
        message: string;
        hint?: string;
      };
      expect(err.message).toMatch(/cannot decrypt artifact/);
      expect(err.hint).toMatch(/rotated/);
    } finally {
      await rotated.close();
    }
  });
});
