/**
 * The leak guard on bullmq workers (real Redis, OpenBao, moto's S3), with `--isolation process`
 * and `none`: the worker checks what a step would store before it writes anything, the step fails
 * with code `secret_leak` on its first attempt, nothing of it is in the artifact store, and no
 * form of the value is in Redis, the client's run history or any output. An allowed output goes
 * to the artifact store, never through Redis; the run's minimum length travels with the job.
 */
import { describe, expect, it } from 'vitest';
import { RunStore } from '../../src/pipeline/run-store.js';
import { leakForms } from '../../src/support/leak-match.js';
import { cliEnv, codeRoot, dumpRedis, listObjects, REDIS_URL, runCli, startWorkerProcess } from './harness.js';
import { queues, remoteTestScope, type RemoteFixture } from './fixture.js';

const { workers, fixture } = remoteTestScope();

const GUARDED = `
import { pipeline, step } from '{{LIB}}';
const token = async (ctx) => (await ctx.secrets.get('cpu_creds')).values.token;
const noise = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) % 256));
export const nested = pipeline('g_nested', () => step({ name: 'cfg', secrets: ['cpu_creds'], run: async (_i, ctx) =>
  ({ creds: { auth: Buffer.from(await token(ctx)).toString('base64') }, n: 1 }) })());
export const thrown = pipeline('g_thrown', () => step({ name: 'login', secrets: ['cpu_creds'], run: async (_i, ctx) => {
  throw new Error('refused ' + (await token(ctx)));
} })());
export const binary = pipeline('g_binary', () => step({ name: 'save', secrets: ['cpu_creds'], run: async (_i, ctx) =>
  ({ model: Buffer.concat([noise(100), Buffer.from(await token(ctx)), noise(100)]) }) })());
export const minter = pipeline('g_minter', () => step({ name: 'mint', secrets: ['cpu_creds'],
  allowSecretOutputs: ['cpu_creds.token'], run: async (_i, ctx) => ({ token: await token(ctx) }) })());
`;

function forbidden(value: string): string[] {
  return leakForms(value, 4).map((f) => f.form);
}

function expectNoValue(f: RemoteFixture, what: string, text: string): void {
  for (const form of forbidden(f.secrets.cpu))
    expect(text, `${what} shows ${JSON.stringify(form)}`).not.toContain(form);
}

describe.each(['process', 'none'] as const)('the leak guard on a worker with --isolation %s', (isolation) => {
  it('fails a step that would store a value (nested field, binary output, error) and writes nothing of it', async () => {
    const f = await fixture({ attempts: 3, backoffMs: 50 });
    const root = codeRoot({ 'guarded.mjs': GUARDED });
    const w = await startWorkerProcess({
      name: `guard-${isolation}`,
      client: f.configDir,
      queues: [queues(f).main],
      codeRoot: root,
      env: { VAULT_TOKEN: f.tokens.cpu },
      args: ['--isolation', isolation],
    });
    workers.push(w);
    const env = cliEnv(f.configDir, f.clientEnv);
    const runs = new RunStore(f.ks.store);
    const cases = [
      ['nested', 'cfg', "secret 'cpu_creds' key 'token' (base64) in its output at $.creds.auth"],
      ['binary', 'save', "secret 'cpu_creds' key 'token' in its output at $.model"],
      ['thrown', 'login', "secret 'cpu_creds' key 'token' in its error"],
    ] as const;
    let output = '';
    for (const [name, stepId, where] of cases) {
      const r = await runCli(['--json', 'pipeline', 'run', 'guarded.mjs', '-p', name], env, root);
      output += r.stdout + r.stderr;
      expect(r.status, r.stderr).toBe(1);
      const err = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(err.error.code).toBe('secret_leak');
      expect(err.error.message).toBe(
        `step '${stepId}' failed: secret_leak: step '${stepId}' would store the value of ${where}; nothing of the step was written`,
      );
      const [run] = runs.listRuns(1);
      const [rec] = runs.steps(run?.id ?? '');
      expect(rec?.status).toBe('failed');
      // Retrying cannot change what the step returns.
      expect(rec?.attempts).toBe(1);
      expect(rec?.output).toBeNull();
      expect(rec?.error?.startsWith('secret_leak: ')).toBe(true);
      expectNoValue(f, 'the run history', JSON.stringify({ run, steps: runs.steps(run?.id ?? '') }));
      // Nothing of the run in the artifact store.
      expect((await listObjects(f.bucket, 'runs/')).filter((k) => k.includes(run?.id ?? '?'))).toEqual([]);
    }
    expectNoValue(f, 'the CLI output', output);
    expectNoValue(f, 'the worker log', w.log());
    expectNoValue(f, 'Redis', await dumpRedis(REDIS_URL()));
  }, 240_000);

  it('an allowed output goes to the artifact store, not Redis; the run minimum travels to the worker', async () => {
    const f = await fixture();
    const root = codeRoot({ 'guarded.mjs': GUARDED });
    workers.push(
      await startWorkerProcess({
        name: `guard-allow-${isolation}`,
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        env: { VAULT_TOKEN: f.tokens.cpu },
        args: ['--isolation', isolation],
      }),
    );
    const env = cliEnv(f.configDir, f.clientEnv);
    const runs = new RunStore(f.ks.store);
    const minted = await runCli(['pipeline', 'run', 'guarded.mjs', '-p', 'minter'], env, root);
    expect(minted.status, minted.stderr).toBe(0);
    const [run] = runs.listRuns(1);
    const [rec] = runs.steps(run?.id ?? '');
    expect(rec?.allowSecretOutputs).toEqual(['cpu_creds.token']);
    expect(rec?.output?.uri).toBeDefined();
    expect((await listObjects(f.bucket, 'runs/')).some((k) => k.includes(run?.id ?? '?'))).toBe(true);
    // A minimum longer than the token: the worker applies the run's, and lets the output through.
    const long = await runCli(
      ['pipeline', 'run', 'guarded.mjs', '-p', 'nested', '--leak-min-length', String(f.secrets.cpu.length + 1)],
      env,
      root,
    );
    expect(long.status, long.stderr).toBe(0);
    expectNoValue(f, 'the CLI output', minted.stdout + minted.stderr + long.stdout + long.stderr);
    const dump = await dumpRedis(REDIS_URL());
    expectNoValue(f, 'Redis', dump);
    // An output the leak guard was told to let through (allowSecretOutputs) never travels beside
    // the store, even sealed; the other run's output did, sealed (so the check above covers it).
    const [longRun] = runs.listRuns(1);
    const lines = (id: string | undefined) => dump.split('\n').filter((l) => id !== undefined && l.includes(id));
    expect(lines(run?.id).some((l) => l.includes('sealedOutput'))).toBe(false);
    expect(lines(longRun?.id).some((l) => l.includes('sealedOutput'))).toBe(true);
  }, 240_000);
});
