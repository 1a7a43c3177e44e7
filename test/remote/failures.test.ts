import { describe, expect, it } from 'vitest';
import { chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { RunStore } from '../../src/pipeline/run-store.js';
import { registerComponent } from '../../src/stack/component-ops.js';
import {
  cliEnv,
  codeRoot,
  dumpRedis,
  forms,
  REDIS_URL,
  runCli,
  startWorkerProcess,
  trustSomeWorker,
} from './harness.js';
import { queues, remoteTestScope } from './fixture.js';

const { workers, fixture } = remoteTestScope();

const FLAKY = `
import { pipeline, step } from '{{LIB}}';
const first = step({ name: 'first', run: async () => 1 });
const flaky = step({ name: 'flaky', secrets: ['cpu_creds'], run: async ({ x }, ctx) => {
  const s = await ctx.stack.secretsManager.get('cpu_creds');
  // The token's first 12 characters: masked (a fragment), but not the value, which the leak guard would refuse.
  throw new Error('the service refused token ' + s.values.token.slice(0, 12) + ' for input ' + x);
} });
const after = step({ name: 'after', run: async ({ y }) => y + 1 });
export default pipeline('flaky', () => after({ y: flaky({ x: first() }) }));
`;

const ONE_STEP = `
import { pipeline, step } from '{{LIB}}';
const only = step({ name: 'only', secrets: ['cpu_creds'], run: async (_i, ctx) => (await ctx.stack.secretsManager.get('cpu_creds')).values.token.length });
export default pipeline('one_step', () => only());
`;

/** Keys of one queue: present once anything was added to it. */
async function queueKeys(queue: string): Promise<string[]> {
  const dump = await dumpRedis(REDIS_URL());
  return dump
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((k) => k.startsWith(`keystack:${queue}:`));
}

describe('remote runs that fail', () => {
  it('retries a failing step `attempts` times, then fails the run with the masked error; later steps never run', async () => {
    const f = await fixture({ attempts: 3, backoffMs: 50 });
    const root = codeRoot({ 'flaky.mjs': FLAKY });
    workers.push(
      await startWorkerProcess({
        name: 'w1',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        env: { VAULT_TOKEN: f.tokens.cpu },
      }),
    );
    const r = await runCli(['pipeline', 'run', 'flaky.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("step 'flaky' failed: Error: the service refused token *** for input 1");
    expect(r.stderr).toMatch(/Hint: /);
    expect(r.stderr).not.toContain(f.secrets.cpu);
    expect(workers[0]?.log().match(/flaky: attempt \d failed/g)).toHaveLength(3);
    const runs = new RunStore(f.ks.store);
    const [run] = runs.listRuns(1);
    expect(run?.status).toBe('failed');
    expect(run?.error).toContain('***');
    const steps = Object.fromEntries(runs.steps(run?.id ?? '').map((s) => [s.stepId, s]));
    expect(steps['first']?.status).toBe('completed');
    expect(steps['flaky']?.status).toBe('failed');
    expect(steps['flaky']?.attempts).toBe(3);
    expect(steps['after']?.status).toBe('skipped');
    // BullMQ keeps the failed reason and stack trace in Redis: masked there too.
    const dump = await dumpRedis(REDIS_URL());
    expect(dump).toContain('the service refused token ***');
    for (const form of forms(f.secrets.cpu)) expect(dump).not.toContain(form);
  }, 60_000);

  it('refuses a stack with the local secrets manager or the local artifact store before anything is enqueued', async () => {
    const f = await fixture();
    const q = queues(f);
    const { ks } = f;
    const local = registerComponent(ks, { type: 'artifact_store', name: 'here', flavor: 'local', config: {} }).record;
    const localSm = ks.store.getComponent('secrets_manager', 'default');
    const stack = ks.store.getStack('remote');
    ks.store.addStack('bad', {
      orchestrator: stack.components.orchestrator ?? '',
      artifact_store: local.uuid,
      secrets_manager: localSm.uuid,
    });
    ks.store.setActiveStack('bad');
    const root = codeRoot({ 'one.mjs': ONE_STEP });
    const r = await runCli(['pipeline', 'run', 'one.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("artifact-store 'here' (flavor local)");
    expect(r.stderr).toContain("secrets-manager 'default' (flavor local)");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await queueKeys(q.main)).toEqual([]);
    ks.store.setActiveStack('remote');
  }, 60_000);

  it('a worker without credentials for the secrets manager fails the step naming what is missing, not "not found"', async () => {
    const f = await fixture({ attempts: 3 });
    const root = codeRoot({ 'one.mjs': ONE_STEP });
    workers.push(
      await startWorkerProcess({
        name: 'nocreds',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        env: {},
      }),
    );
    const r = await runCli(['pipeline', 'run', 'one.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the vault flavor has no credentials');
    expect(r.stderr).not.toMatch(/not found|does not exist/i);
    // Retrying cannot give the worker credentials: one attempt.
    expect(workers[0]?.log().match(/only: attempt \d failed/g)).toHaveLength(1);

    // A token whose policy does not cover the secret: denied, still not "not found".
    workers.push(
      await startWorkerProcess({
        name: 'denied',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        env: { VAULT_TOKEN: f.tokens.none },
      }),
    );
    await workers[0]?.stop();
    const d = await runCli(['pipeline', 'run', 'one.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(d.status).toBe(1);
    expect(d.stderr).toMatch(/denied|403/i);
    expect(d.stderr).not.toMatch(/not found|does not exist/i);
  }, 90_000);

  it('a worker whose code root holds other module content refuses the step', async () => {
    const f = await fixture({ attempts: 3 });
    const root = codeRoot({ 'one.mjs': ONE_STEP });
    const other = codeRoot({ 'one.mjs': `${ONE_STEP}\n// changed on the worker\n` });
    workers.push(
      await startWorkerProcess({
        name: 'stale',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: other,
        env: { VAULT_TOKEN: f.tokens.cpu },
      }),
    );
    const r = await runCli(['pipeline', 'run', 'one.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(r.status).toBe(1);
    // ("code root" may read "code ***" here: the client masks OpenBao's dev token, which is "root".)
    expect(r.stderr).toMatch(
      /pipeline module one\.mjs in this worker's code (root|\*\*\*) differs from the one the client ran/,
    );
    expect(workers[0]?.log().match(/only: attempt \d failed/g)).toHaveLength(1);
  }, 60_000);

  it('a worker whose code root others can write refuses the module, as the client would, without running it', async () => {
    const f = await fixture({ attempts: 3 });
    const root = codeRoot({ 'one.mjs': ONE_STEP });
    // The same bytes on the worker (so the hash check passes), in a directory anyone can change.
    const open = codeRoot({ 'one.mjs': ONE_STEP });
    chmodSync(open, 0o777);
    workers.push(
      await startWorkerProcess({
        name: 'open',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: open,
        env: { VAULT_TOKEN: f.tokens.cpu },
      }),
    );
    const r = await runCli(['pipeline', 'run', 'one.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`refusing to use ${open}: it is writable by group and others`);
    expect(workers[0]?.log().match(/only: attempt \d failed/g)).toHaveLength(1);
  }, 60_000);
});

describe('Redis down or refusing', () => {
  async function closedPort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }

  it('the client: unreachable and wrong password are clear errors, at once', async () => {
    const f = await fixture();
    trustSomeWorker(f.configDir);
    const sm = await f.ks.secretsManager('vault');
    const root = codeRoot({ 'one.mjs': ONE_STEP });
    const port = await closedPort();
    await sm.update('redis', { url: `redis://:whatever@127.0.0.1:${port}/0` });
    let t0 = Date.now();
    const down = await runCli(['pipeline', 'run', 'one.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(down.status).toBe(1);
    // The address is part of the secret redis_url, so the client masks it.
    expect(down.stderr).toMatch(/cannot reach Redis at redis:\/\/\S+ from the client \(ECONNREFUSED\)/);
    expect(down.stderr).toContain(
      "Hint: Start Redis, or check the host and port in the redis_url of orchestrator 'bq'.",
    );
    expect(Date.now() - t0).toBeLessThan(15_000);
    const u = new URL(REDIS_URL());
    u.password = 'wrong-password-here';
    await sm.update('redis', { url: u.toString() });
    t0 = Date.now();
    const wrong = await runCli(['pipeline', 'run', 'one.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('refused the credentials of the client');
    expect(wrong.stderr).not.toContain('wrong-password-here');
    expect(Date.now() - t0).toBeLessThan(15_000);
  }, 60_000);

  it('the worker: unreachable and wrong password are clear errors and exit 1, no hang', async () => {
    const f = await fixture();
    const root = codeRoot({ 'one.mjs': ONE_STEP });
    const port = await closedPort();
    const down = await startWorkerProcess({
      name: 'down',
      client: f.configDir,
      codeRoot: root,
      redisUrl: `redis://127.0.0.1:${port}`,
    });
    expect(await down.exited).toBe(1);
    expect(down.log()).toContain(`cannot reach Redis at redis://127.0.0.1:${port} from worker down`);
    expect(down.log()).toContain('Hint: Start Redis, or check the host and port in KEYSTACK_REDIS_URL.');
    const u = new URL(REDIS_URL());
    u.password = 'wrong-password-here';
    const wrong = await startWorkerProcess({
      name: 'wrong',
      client: f.configDir,
      codeRoot: root,
      redisUrl: u.toString(),
    });
    expect(await wrong.exited).toBe(1);
    expect(wrong.log()).toContain('refused the credentials of worker wrong');
    expect(wrong.log()).not.toContain('wrong-password-here');
    const none = await startWorkerProcess({ name: 'none', client: f.configDir, codeRoot: root, redisUrl: null });
    expect(await none.exited).toBe(2);
    expect(none.log()).toContain('KEYSTACK_REDIS_URL');
  }, 60_000);
});
