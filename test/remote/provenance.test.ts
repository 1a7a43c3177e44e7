/**
 * Remote provenance on real Redis: records travel inside the workers' signed results, wait in
 * Redis for a client killed mid-run, and carry fingerprints, never values; workers announce
 * themselves, signed, and `keystack status` lists them.
 *
 * The provenance table is another branch's: these tests read what the client hands to
 * `RunStore.finishStep` (status and records in one call), which is where that table is written.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint, type AccessRecord } from '../../src/core/provenance.js';
import { listWorkers } from '../../src/pipeline/remote/announce.js';
import { trustedKeys } from '../../src/pipeline/remote/keys.js';
import { RunStore } from '../../src/pipeline/run-store.js';
import { loadProvenanceKey } from '../../src/stack/provenance-key.js';
import { loadOrCreateSigningKey, signMessage } from '../../src/support/signing.js';
import { BIN } from '../support/cli.js';
import {
  allowFlagsFor,
  cliEnv,
  codeRoot,
  dumpRedis,
  forms,
  pairWithClient,
  REDIS_URL,
  runCli,
  startWorkerProcess,
  until,
} from './harness.js';
import { queues, remoteTestScope, type RemoteFixture } from './fixture.js';

const { workers, fixture } = remoteTestScope();

afterEach(() => {
  vi.restoreAllMocks();
});

/** `reader` reads its declared secret and is denied another; `flaky` fails its first attempt after a read. */
const PROV = (mark: string) => `
import { existsSync, writeFileSync } from 'node:fs';
import { pipeline, step } from '{{LIB}}';
const reader = step({ name: 'reader', secrets: ['cpu_creds'], run: async (_, ctx) => {
  const s = await ctx.secrets.get('cpu_creds');
  let denied = 'no';
  try { await ctx.secrets.get('gpu_creds'); } catch (e) { denied = e.code; }
  return { ok: s.values.token.startsWith('cpu-'), denied };
} });
const flaky = step({ name: 'flaky', secrets: ['cpu_creds.token'], enableCache: false, run: async ({ r }, ctx) => {
  await ctx.secrets.get('cpu_creds');
  if (!existsSync(${JSON.stringify(mark)})) {
    writeFileSync(${JSON.stringify(mark)}, 'x');
    throw new Error('the first attempt fails');
  }
  return r.denied;
} });
export default pipeline('prov', () => flaky({ r: reader() }));
`;

const SLOW = (mark: string) => `
import { writeFileSync } from 'node:fs';
import { pipeline, step } from '{{LIB}}';
const slow = step({ name: 'slow', secrets: ['cpu_creds'], enableCache: false, run: async (_, ctx) => {
  await ctx.secrets.get('cpu_creds');
  writeFileSync(${JSON.stringify(mark)}, 'started');
  await new Promise((r) => setTimeout(r, 2500));
  return 1;
} });
const after = step({ name: 'after', secrets: ['cpu_creds.token'], run: async ({ x }, ctx) => {
  await ctx.secrets.get('cpu_creds');
  return x + 1;
} });
export default pipeline('slowprov', () => after({ x: slow() }));
`;

/** The records handed to finishStep, by step id. */
function recordsByStep(spy: { mock: { calls: unknown[][] } }): Record<string, AccessRecord[]> {
  const out: Record<string, AccessRecord[]> = {};
  for (const [, stepId, r] of spy.mock.calls as [string, string, { records?: AccessRecord[] }][])
    (out[stepId] ??= []).push(...(r.records ?? []));
  return out;
}

/** The client's provenance key, given to workers out of band (the variable). */
const keyOf = (f: RemoteFixture) => loadProvenanceKey(f.configDir, {});

async function libWorker(f: RemoteFixture, root: string, name: string, extra: Record<string, unknown> = {}) {
  const { startWorker } = await import('../../src/index.js');
  const configDir = join(mkdtempSync(join(tmpdir(), 'keystack-prov-worker-')), 'config');
  const [, trustFile = ''] = pairWithClient(f.configDir, configDir, name);
  const [, manager = '', , store = ''] = await allowFlagsFor(f.configDir);
  const lines: string[] = [];
  const w = await startWorker({
    redisUrl: REDIS_URL(),
    queues: [queues(f).main],
    codeRoot: root,
    name,
    env: { VAULT_TOKEN: f.tokens.cpu, KEYSTACK_PROVENANCE_KEY: keyOf(f).toString('base64') },
    onLog: (l) => lines.push(l),
    configDir,
    trustKeys: [trustFile],
    allowManagers: [manager],
    allowArtifactStores: [store],
    ...extra,
  });
  return { w, lines };
}

const SAME = `
import { pipeline, step } from '{{LIB}}';
const outcome = async (f) => { try { return { ok: await f() }; } catch (e) { return { code: e.code, message: e.message }; } };
const same = step({ name: 'same', secrets: ['cpu_creds'], enableCache: false, run: async (_i, ctx) => {
  const m = ctx.stack.secretsManager;
  return {
    own: await outcome(async () => Object.keys((await ctx.secrets.get('cpu_creds')).values)),
    again: await outcome(async () => Object.keys((await m.get('cpu_creds')).values)),
    other: await outcome(() => m.get('gpu_creds')),
    describe: await outcome(() => m.describe('gpu_creds')),
    write: await outcome(() => m.update('cpu_creds', { token: 'written-by-step' })),
  };
} });
export default pipeline('same', () => same());
`;

describe('a worker step child records what an in-process step records', () => {
  it('the same pipeline on a worker (--isolation process) and on local gives the same output and records', async () => {
    const f = await fixture({ attempts: 1 });
    const root = codeRoot({ 'same.mjs': SAME });
    const { w } = await libWorker(f, root, 'same-w');
    const spy = vi.spyOn(RunStore.prototype, 'finishStep');
    try {
      const { loadPipelineModule, runPipeline } = await import('../../src/index.js');
      const loaded = await loadPipelineModule('same.mjs', undefined, root);
      const options = { module: { path: loaded.module, exportName: loaded.exportName }, codeRoot: root };
      const remote = await runPipeline(f.ks, loaded.pipeline, options);
      const remoteRecords = recordsByStep(spy)['same'] ?? [];
      spy.mockClear();
      // The same manager, on this machine's local orchestrator and artifact store.
      f.ks.store.addStack('same', {
        orchestrator: f.ks.store.getComponent('orchestrator', 'default').uuid,
        artifact_store: f.ks.store.getComponent('artifact_store', 'default').uuid,
        secrets_manager: f.ks.store.getComponent('secrets_manager', 'vault').uuid,
      });
      const local = await runPipeline(f.ks, loaded.pipeline, { ...options, stack: 'same' });
      const localRecords = recordsByStep(spy)['same'] ?? [];
      expect(remote.outputs['same']).toEqual(local.outputs['same']);
      const plain = (rs: AccessRecord[]) => rs.map((x) => ({ ...x, runId: '', at: '', worker: '' }));
      expect(plain(remoteRecords)).toEqual(plain(localRecords));
      expect(remoteRecords.every((x) => x.worker === 'same-w')).toBe(true);
      expect(localRecords.map((x) => [x.secret, x.outcome])).toEqual([
        ['cpu_creds', 'read'],
        ['cpu_creds', 'read'],
        ['gpu_creds', 'denied'],
        ['gpu_creds', 'denied'],
        ['cpu_creds', 'denied'],
      ]);
    } finally {
      await w.close();
    }
  }, 120_000);
});

describe('records in signed results', () => {
  it('every attempt’s reads and denials reach the client with the step status; fingerprints match the client’s key; no value in Redis', async () => {
    const f = await fixture({ attempts: 2 });
    const mark = join(mkdtempSync(join(tmpdir(), 'keystack-prov-')), 'failed-once');
    const root = codeRoot({ 'prov.mjs': PROV(mark) });
    const { w } = await libWorker(f, root, 'prov-w');
    const spy = vi.spyOn(RunStore.prototype, 'finishStep');
    try {
      const { loadPipelineModule, runPipeline } = await import('../../src/index.js');
      const loaded = await loadPipelineModule('prov.mjs', undefined, root);
      const r = await runPipeline(f.ks, loaded.pipeline, {
        module: { path: loaded.module, exportName: loaded.exportName },
        codeRoot: root,
      });
      expect(r.outputs['flaky']).toBe('denied');
      const by = recordsByStep(spy);
      const fp = fingerprint(keyOf(f), f.secrets.cpu);
      const run = r.run.id;
      expect(
        by['reader']?.map((x) => [x.runId, x.step, x.attempt, x.worker, x.secret, x.outcome, x.fingerprints]),
      ).toEqual([
        [run, 'reader', 1, 'prov-w', 'cpu_creds', 'read', { token: fp }],
        [run, 'reader', 1, 'prov-w', 'gpu_creds', 'denied', {}],
      ]);
      // The failed attempt's read is on record too, though a retry overwrote the step's state.
      expect(by['flaky']?.map((x) => [x.attempt, x.secret, x.keys, x.outcome])).toEqual([
        [1, 'cpu_creds', ['token'], 'read'],
        [2, 'cpu_creds', ['token'], 'read'],
      ]);
      expect(by['flaky']?.[0]?.manager).toMatchObject({ name: 'vault', flavor: 'vault' });
      const dump = await dumpRedis(REDIS_URL());
      // The records wait in Redis (until the run's time to live), as fingerprints only.
      expect(dump).toContain(fp);
      for (const form of forms(f.secrets.cpu)) expect(dump).not.toContain(form);
      // The provenance key went to the worker out of band, never through Redis.
      const key = keyOf(f);
      for (const form of [key.toString('base64'), key.toString('hex'), key.toString('base64url')])
        expect(dump).not.toContain(form);
      for (const recs of Object.values(by))
        for (const form of forms(f.secrets.cpu)) expect(JSON.stringify(recs)).not.toContain(form);
    } finally {
      await w.close();
    }
  }, 90_000);

  it('a SIGKILLed client loses nothing: `runs describe` later collects every step’s records from Redis', async () => {
    const f = await fixture();
    const mark = join(mkdtempSync(join(tmpdir(), 'keystack-prov-')), 'started');
    const root = codeRoot({ 'slow.mjs': SLOW(mark) });
    workers.push(
      await startWorkerProcess({
        name: 'kept',
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        env: { VAULT_TOKEN: f.tokens.cpu, KEYSTACK_PROVENANCE_KEY: keyOf(f).toString('base64') },
      }),
    );
    const client = spawn(process.execPath, [BIN, 'pipeline', 'run', 'slow.mjs'], {
      env: cliEnv(f.configDir, f.clientEnv),
      cwd: root,
      stdio: 'ignore',
    });
    const killed = new Promise((res) => client.on('exit', (_code, signal) => res(signal)));
    await until('the first step to start', () => existsSync(mark));
    client.kill('SIGKILL');
    expect(await killed).toBe('SIGKILL');
    const runs = new RunStore(f.ks.store);
    const [rec] = runs.listRuns(1);
    const runId = rec?.id ?? '';
    expect(rec?.status).toBe('running');
    // Nothing was collected before the kill: the first step was still running.
    expect(runs.steps(runId).every((s) => s.status === 'pending' || s.status === 'running')).toBe(true);
    const spy = vi.spyOn(RunStore.prototype, 'finishStep');
    const { refreshRemoteRun } = await import('../../src/pipeline/remote/orchestrator.js');
    const { StackRuntime } = await import('../../src/stack/runtime.js');
    const lost: string[] = [];
    // What `keystack pipeline runs describe RUN` does before it reads the run.
    await until(
      'describe to find the run completed',
      async () => {
        await refreshRemoteRun(
          f.ks,
          runId,
          (stack) => StackRuntime.load(f.ks, { stack }),
          (s, note) => lost.push(`${s}: ${note}`),
        );
        return runs.getRun(runId).status !== 'running';
      },
      60_000,
    );
    expect(runs.getRun(runId).status).toBe('completed');
    expect(lost).toEqual([]);
    const by = recordsByStep(spy);
    const fp = fingerprint(keyOf(f), f.secrets.cpu);
    expect(by['slow']?.map((x) => [x.runId, x.worker, x.outcome, x.fingerprints])).toEqual([
      [runId, 'kept', 'read', { token: fp }],
    ]);
    expect(by['after']?.map((x) => [x.runId, x.keys, x.outcome])).toEqual([[runId, ['token'], 'read']]);
    // Each step's records were handed over once, with its status.
    expect(spy.mock.calls.map((c) => c[1]).sort()).toEqual(['after', 'slow']);
    // The CLI's describe now shows the run as collected.
    const d = await runCli(['pipeline', 'runs', 'describe', runId, '--json'], cliEnv(f.configDir, f.clientEnv), root);
    expect(d.status).toBe(0);
    expect(JSON.parse(d.stdout)).toMatchObject({ run: { status: 'completed' } });
  }, 120_000);
});

describe('workers announce themselves', () => {
  it('signed, with name, host, isolation, queues and key; `keystack status` lists them and marks isolation none and unverified ones; dead workers disappear', async () => {
    const f = await fixture();
    const root = codeRoot({ 'prov.mjs': PROV(join(tmpdir(), 'unused')) });
    const trusted = () => trustedKeys('worker', { configDir: f.configDir, env: {} });
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL());
    const { w: inproc } = await libWorker(f, root, 'trusted-none', { isolation: 'none' });
    const killed = await startWorkerProcess({
      name: 'short-lived',
      client: f.configDir,
      queues: [queues(f).main],
      codeRoot: root,
      env: { VAULT_TOKEN: f.tokens.cpu, KEYSTACK_WORKER_ANNOUNCE_TTL_MS: '1500' },
    });
    workers.push(killed);
    // Written by someone with write access to Redis, signed with a key nobody trusts.
    const stranger = loadOrCreateSigningKey(join(mkdtempSync(join(tmpdir(), 'keystack-stranger-')), 'k.ed25519'));
    await redis.set(
      `keystack-worker:${stranger.id}:impostor`,
      JSON.stringify(
        signMessage(stranger, 'worker-announce/v1', {
          name: 'impostor',
          host: 'evil',
          isolation: 'process',
          startedAt: new Date().toISOString(),
          queues: [queues(f).main],
          keyId: stranger.id,
          pid: 1,
          seenAt: new Date().toISOString(),
          ttlMs: 30000,
        }),
      ),
      'PX',
      60_000,
    );
    try {
      const mine = async () =>
        (await listWorkers(redis, trusted())).filter((x) =>
          ['trusted-none', 'short-lived', 'impostor'].includes(x.name),
        );
      const listed = await mine();
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      expect([...listed].sort(byName).map((x) => [x.name, x.verified, x.isolation])).toEqual([
        ['impostor', false, null],
        ['short-lived', true, 'process'],
        ['trusted-none', true, 'none'],
      ]);
      const impostor = listed.find((x) => x.name === 'impostor');
      expect(impostor).toMatchObject({ host: null, problem: expect.stringContaining('not trusted') });
      const short = listed.find((x) => x.name === 'short-lived');
      expect(short?.keyId).toMatch(/^[0-9a-f]{16}$/);
      expect(short?.queues).toEqual([queues(f).main]);

      const json = await runCli(['status', '--json'], cliEnv(f.configDir, f.clientEnv));
      expect(json.status, json.stderr).toBe(0);
      const remote = (JSON.parse(json.stdout) as { remote: { workers: { name: string }[]; error: null } }).remote;
      expect(remote.error).toBeNull();
      expect(remote.workers.map((x) => x.name)).toEqual(
        expect.arrayContaining(['trusted-none', 'short-lived', 'impostor']),
      );
      const text = await runCli(['status'], cliEnv(f.configDir, f.clientEnv));
      expect(text.status).toBe(0);
      expect(text.stdout).toMatch(/trusted-none on \S+, isolation NONE/);
      expect(text.stdout).toMatch(/impostor: NOT VERIFIED/);
      expect(text.stdout).not.toContain('evil');

      // A worker that stops cleanly takes its announcement away; a killed one disappears with its TTL.
      await inproc.close();
      killed.proc.kill('SIGKILL');
      await killed.exited;
      await until(
        'the dead workers to disappear',
        async () => {
          const names = (await mine()).map((x) => x.name);
          return !names.includes('trusted-none') && !names.includes('short-lived');
        },
        15_000,
      );
    } finally {
      await inproc.close().catch(() => undefined);
      await redis.del(`keystack-worker:${stranger.id}:impostor`);
      redis.disconnect();
    }
  }, 90_000);
});
