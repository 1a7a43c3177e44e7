/**
 * Least privilege on a bullmq worker: the worker builds the step's context the same way as the
 * local orchestrators, so a step that reads a secret it did not declare fails with code
 * `denied`, on the first attempt (retrying cannot change a declaration), and the client's run
 * history and exit show it.
 */
import { describe, expect, it } from 'vitest';
import { RunStore } from '../../src/pipeline/run-store.js';
import { cliEnv, codeRoot, runCli, startWorkerProcess } from './harness.js';
import { queues, remoteTestScope } from './fixture.js';

const { workers, fixture } = remoteTestScope();

const SNEAKY = `
import { pipeline, step } from '{{LIB}}';
const sneaky = step({ name: 'sneaky', secrets: ['cpu_creds'], run: async (_i, ctx) => {
  const own = await ctx.secrets.get('cpu_creds');
  const other = await ctx.stack.secretsManager.get('gpu_creds');
  return own.values.token.length + other.values.token.length;
} });
export default pipeline('sneaky', () => sneaky());
`;

describe('least privilege on a bullmq worker', () => {
  it('fails a step that reads an undeclared secret with code denied, without retrying it', async () => {
    const f = await fixture({ attempts: 3, backoffMs: 50 });
    const root = codeRoot({ 'sneaky.mjs': SNEAKY });
    workers.push(
      await startWorkerProcess({
        name: 'w1',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        // The guard refuses before any backend call: the worker's token is not what stops the read.
        env: { VAULT_TOKEN: f.tokens.cpu },
      }),
    );
    const r = await runCli(['pipeline', 'run', 'sneaky.mjs', '--json'], cliEnv(f.configDir, f.clientEnv), root);
    expect(r.status).toBe(1);
    // With --json, the error is the one JSON document on stdout.
    const err = JSON.parse(r.stdout) as { error?: { code?: string; message?: string; hint?: string } };
    expect(err.error?.code).toBe('denied');
    expect(err.error?.message).toBe(
      "step 'sneaky' failed: denied: step 'sneaky' did not declare the secret 'gpu_creds', so it may not read it",
    );
    expect(err.error?.hint).toMatch(/`secrets:` option/);
    expect(r.stderr).not.toContain(f.secrets.cpu);
    expect(workers[0]?.log().match(/sneaky: attempt \d failed: denied: /g)).toHaveLength(1);
    const runs = new RunStore(f.ks.store);
    const [run] = runs.listRuns(1);
    const [rec] = runs.steps(run?.id ?? '');
    expect(rec?.status).toBe('failed');
    expect(rec?.attempts).toBe(1);
    expect(rec?.error).toMatch(/^denied: step 'sneaky' did not declare the secret 'gpu_creds'/);
  }, 60_000);
});
