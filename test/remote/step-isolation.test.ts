/**
 * Workers with `--isolation process` (the default) run each step in a fresh child that holds no
 * credential and reads only its declared secrets through its capability; `--isolation none`
 * runs steps in the worker process and says so.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEnv, codeRoot, runCli, startWorkerProcess } from './harness.js';
import { queues, remoteTestScope } from './fixture.js';

const { workers, fixture } = remoteTestScope();

const ISO = (results: string) => `
import { readFileSync, writeFileSync } from 'node:fs';
const save = (name, v) => { writeFileSync(${JSON.stringify(results)} + '/' + name + '.json', JSON.stringify(v)); return v; };
import { pipeline, step, Keystack } from '{{LIB}}';
const env = () => Object.fromEntries(readFileSync('/proc/self/environ', 'latin1').split('\\0').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const error = async (f) => { try { await f(); return 'no error'; } catch (e) { return (e.code ?? 'none') + ': ' + e.message; } };
const probe = step({ name: 'probe', secrets: ['cpu_creds'], run: async (_i, ctx) => {
  const s = await ctx.stack.secretsManager.get('cpu_creds');
  const e = env();
  return save('probe', {
    pid: process.pid,
    credentials: Object.keys(e).filter((k) => /^(VAULT_|BAO_|AWS_|KEYSTACK_REDIS_URL|KEYSTACK_PROVENANCE_KEY)/.test(k)),
    marker: e.KEYSTACK_STEP_PROCESS ?? null,
    tokenOk: s.values.token.startsWith('cpu-'),
    undeclared: await error(() => ctx.stack.secretsManager.get('gpu_creds')),
    scratch: await error(() => new Keystack({ env: { VAULT_TOKEN: 'x' } }).secretsManager()),
  });
} });
const forge = step({ name: 'forge', secrets: ['cpu_creds'], run: async ({ after }, ctx) => {
  const send = process.send.bind(process);
  let mine;
  process.send = (m, ...rest) => { if (m.kind === 'keystack.step.secret') mine = m; return send(m, ...rest); };
  await ctx.stack.secretsManager.get('cpu_creds');
  process.send = send;
  const reply = await new Promise((resolve) => {
    process.on('message', (m) => { if (m.id === 777) resolve(m); });
    send({ ...mine, id: 777, stepId: 'probe', name: 'gpu_creds' });
  });
  return save('forge', { pid: process.pid, code: reply.error?.code ?? null, gotSecret: reply.secret !== undefined, after: after.pid });
} });
export default pipeline('iso', () => forge({ after: probe() }));
`;

describe('worker step isolation', () => {
  const run = async (isolation: 'process' | 'none') => {
    const f = await fixture();
    const results = mkdtempSync(join(tmpdir(), 'keystack-iso-results-'));
    const root = codeRoot({ 'iso.mjs': ISO(results) });
    const w = await startWorkerProcess({
      name: `iso-${isolation}`,
      client: f.configDir,
      queues: [queues(f).main, queues(f).gpu],
      codeRoot: root,
      env: { VAULT_TOKEN: f.tokens.cpu, AWS_SECRET_ACCESS_KEY: 'worker-aws-secret' },
      args: ['--isolation', isolation],
    });
    workers.push(w);
    const r = await runCli(['pipeline', 'run', 'iso.mjs'], cliEnv(f.configDir, f.clientEnv), root);
    const read = (name: string) =>
      JSON.parse(readFileSync(join(results, `${name}.json`), 'utf8')) as Record<string, unknown>;
    return { f, w, r, probe: read('probe'), forge: () => read('forge') };
  };

  it('--isolation process: a child per step, no credentials in it, no widening of its capability', async () => {
    const { f, w, r, probe, forge: forged } = await run('process');
    const forge = forged();
    expect(r.status, r.stderr).toBe(0);
    expect(w.log()).toContain('steps run in step children without credentials as this user');
    expect(probe).toMatchObject({ credentials: [], marker: '1', tokenOk: true });
    expect(probe['pid']).not.toBe(w.proc.pid);
    // A fresh child per step: nothing carries over.
    expect(forge['pid']).not.toBe(probe['pid']);
    expect(forge['after']).toBe(probe['pid']);
    expect(probe['undeclared']).toBe(
      "denied: step 'probe' did not declare the secret 'gpu_creds', so it may not read it",
    );
    expect(probe['scratch']).toBe('config: a step process may not open the config store: it holds no credentials');
    // Its own capability, another step's name: denied by the worker.
    expect(forge).toMatchObject({ code: 'denied', gotSecret: false });
    expect(w.log()).not.toContain(f.secrets.cpu);
  }, 240_000);

  it('--isolation none: steps run in the worker process, which it says at start', async () => {
    const { w, r, probe } = await run('none');
    // The forging step has no IPC channel to forge on in the worker process.
    expect(r.stderr).toContain("step 'forge' failed");
    expect(w.log()).toContain('--isolation none: steps run inside this worker process');
    expect(probe['pid']).toBe(w.proc.pid);
    expect(probe['marker']).toBeNull();
  }, 240_000);
});
