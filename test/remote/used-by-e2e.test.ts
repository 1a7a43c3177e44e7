/**
 * The leak questions end to end (issue 20): one pipeline run on `local`, `local_process` and two
 * bullmq workers (--isolation process), against a real OpenBao whose KV v2 versions change between
 * runs, through the CLI a user would type after a leak. Then a scan of every place a value could
 * have landed on the way (the client's config dir, all of Redis, the S3 artifact bucket on moto)
 * for any form of any value the runs read.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { RunStore } from '../../src/pipeline/run-store.js';
import { registerComponent } from '../../src/stack/component-ops.js';
import { loadProvenanceKey } from '../../src/stack/provenance-key.js';
import { BIN } from '../support/cli.js';
import {
  cliEnv,
  codeRoot,
  dumpRedis,
  forms,
  listObjects,
  REDIS_URL,
  runCli,
  S3_ENDPOINT,
  startWorkerProcess,
} from './harness.js';
import { queues, remoteTestScope, type RemoteFixture } from './fixture.js';

const { workers, fixture } = remoteTestScope();

/** `read` reads its declared secret and returns nothing of it; `after` gives the artifact store an output to write. */
const PIPELINE = `
import { pipeline, step } from '{{LIB}}';
const read = step({ name: 'read', secrets: ['cpu_creds'], enableCache: false, run: async (_i, ctx) => {
  const s = await ctx.secrets.get('cpu_creds');
  return { length: s.values.token.length, ok: s.values.token.startsWith('cpu-') };
} });
const after = step({ name: 'after', enableCache: false, run: async ({ r }) => ({ seen: r.ok, n: r.length }) });
export default pipeline('leakq', () => after({ r: read() }));
`;

interface Access {
  runId: string;
  step: string | null;
  worker: string | null;
  version: string | null;
  outcome: string;
  keys: string[];
}

/** `keystack …` with `input` on standard input (runCli gives none). */
function cliWithInput(
  args: readonly string[],
  env: Record<string, string>,
  input: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => res({ status, stdout, stderr }));
    p.stdin.end(input);
  });
}

/** Every object of the bucket, as bytes. */
async function bucketBytes(bucket: string): Promise<{ key: string; body: Buffer }[]> {
  const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    endpoint: S3_ENDPOINT(),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const out: { key: string; body: Buffer }[] = [];
  try {
    for (const key of await listObjects(bucket, '')) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      out.push({ key, body: Buffer.from(await r.Body!.transformToByteArray()) });
    }
  } finally {
    s3.destroy();
  }
  return out;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

/** Runs the pipeline through the CLI on the active stack; returns the new run's id. */
async function runOnce(f: RemoteFixture, root: string, printed: string[]): Promise<string> {
  const r = await runCli(['pipeline', 'run', 'leakq.mjs'], cliEnv(f.configDir, f.clientEnv), root);
  printed.push(r.stdout, r.stderr);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  const [run] = new RunStore(f.ks.store).listRuns(1);
  expect(run?.status).toBe('completed');
  return run?.id ?? '';
}

describe('secret used-by after runs on every orchestrator', () => {
  it('lists each run with the version it read, answers --version and --value exactly, and no value is left in config.db, Redis or S3', async () => {
    const f = await fixture({ attempts: 1 });
    const root = codeRoot({ 'leakq.mjs': PIPELINE });
    const sm = await f.ks.secretsManager('vault');
    const v1 = f.secrets.cpu;
    const v2 = `cpu-${v1.slice(4, -6)}-second-value`;
    const v3 = `cpu-${v1.slice(4, -6)}-third-value`;
    const store = f.ks.store.getComponent('artifact_store', 's3').uuid;
    const manager = f.ks.store.getComponent('secrets_manager', 'vault').uuid;
    const local = f.ks.store.getComponent('orchestrator', 'default').uuid;
    const proc = registerComponent(f.ks, { type: 'orchestrator', name: 'proc', flavor: 'local_process' }).record.uuid;
    // The same manager and artifact store under every orchestrator, so that the scan covers all runs.
    f.ks.store.addStack('here', { orchestrator: local, artifact_store: store, secrets_manager: manager });
    f.ks.store.addStack('child', { orchestrator: proc, artifact_store: store, secrets_manager: manager });
    const key = loadProvenanceKey(f.configDir, {});
    const worker = (name: string) =>
      startWorkerProcess({
        name,
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        env: { VAULT_TOKEN: f.tokens.cpu, KEYSTACK_PROVENANCE_KEY: key.toString('base64') },
        args: ['--isolation', 'process'],
      });

    /** Everything the CLI and the workers printed, scanned at the end. */
    const printed: string[] = [];
    f.ks.store.setActiveStack('here');
    const runLocal = await runOnce(f, root, printed); // reads version 1
    await sm.update('cpu_creds', { token: v2 });
    f.ks.store.setActiveStack('child');
    const runProc = await runOnce(f, root, printed); // version 2
    f.ks.store.setActiveStack('remote');
    const a = await worker('e2e-a');
    workers.push(a);
    const runA = await runOnce(f, root, printed); // version 2 again: --version 2 must list two runs
    await a.stop();
    await sm.update('cpu_creds', { token: v3 });
    const b = await worker('e2e-b');
    workers.push(b);
    const runB = await runOnce(f, root, printed); // version 3
    await b.stop();
    expect(new Set([runLocal, runProc, runA, runB]).size).toBe(4);
    for (const w of [a, b]) expect(w.log()).toContain('steps run in step children without credentials');

    const env = cliEnv(f.configDir, f.clientEnv);
    const usedBy = async (...extra: string[]): Promise<Access[]> => {
      const r = await runCli(['--json', 'secret', 'used-by', 'cpu_creds', ...extra], env);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { accesses: Access[] }).accesses;
    };
    const all = await usedBy();
    // Newest first; one read per run, by the declaring step, of the version current at the time.
    expect(all.map((x) => [x.runId, x.step, x.outcome, x.keys, x.version])).toEqual([
      [runB, 'read', 'read', ['token'], '3'],
      [runA, 'read', 'read', ['token'], '2'],
      [runProc, 'read', 'read', ['token'], '2'],
      [runLocal, 'read', 'read', ['token'], '1'],
    ]);
    expect(all.slice(0, 2).map((x) => x.worker)).toEqual(['e2e-b', 'e2e-a']);
    for (const x of all.slice(2)) expect(['e2e-a', 'e2e-b']).not.toContain(x.worker);

    const byVersion = async (v: string) => (await usedBy('--version', v)).map((x) => x.runId);
    expect(await byVersion('1')).toEqual([runLocal]);
    expect(await byVersion('2')).toEqual([runA, runProc]);
    expect(await byVersion('3')).toEqual([runB]);
    expect(await byVersion('4')).toEqual([]);

    const text = await runCli(['secret', 'used-by', 'cpu_creds'], env);
    expect(text.status, text.stderr).toBe(0);
    for (const run of [runLocal, runProc, runA, runB]) expect(text.stdout).toContain(run.slice(0, 8));

    const values = [v1, v2, v3];
    printed.push(text.stdout, text.stderr, a.log(), b.log());
    /** The leaked-value question, with the value on standard input, as text and as --json. */
    const byValue = async (value: string) => {
      const t = await cliWithInput(['secret', 'used-by', '--value', '@-'], env, `${value}\n`);
      expect(t.status, t.stderr).toBe(0);
      const j = await cliWithInput(['--json', 'secret', 'used-by', '--value', '@-'], env, value);
      expect(j.status, j.stderr).toBe(0);
      printed.push(t.stdout, t.stderr, j.stdout, j.stderr);
      const data = JSON.parse(j.stdout) as { current: { secret: string; key: string }[]; reads: Access[] };
      return { text: t.stdout, current: data.current, runs: data.reads.map((x) => x.runId) };
    };
    // A rotated-away value: no secret holds it now, but the runs that read it are found.
    const old = await byValue(v2);
    expect(old.current).toEqual([]);
    expect(old.runs).toEqual([runA, runProc]);
    expect(old.text).toContain(runA.slice(0, 8));
    expect((await byValue(v1)).runs).toEqual([runLocal]);
    const now = await byValue(v3);
    expect(now.current).toEqual([{ secret: 'cpu_creds', key: 'token' }]);
    expect(now.runs).toEqual([runB]);
    expect(now.text).toContain('cpu_creds.token');
    const never = await byValue('cpu-never-stored-value-0000');
    expect([never.current, never.runs]).toEqual([[], []]);
    for (const out of printed)
      for (const [i, v] of values.entries())
        for (const [j, form] of forms(v).entries())
          expect(out.includes(form), `value ${i}, form ${j}, in the output`).toBe(false);

    // The leak scan, after all runs. Everything any run read, and the secrets components referenced.
    const leaked = [...values, f.secrets.storeKey, ...(f.secrets.redisPassword ? [f.secrets.redisPassword] : [])];
    f.ks.store.db.pragma('wal_checkpoint(TRUNCATE)');
    // The workers' own config dirs too: their stores and nonce records saw every job.
    const places: { where: string; bytes: Buffer }[] = [f.configDir, a.configDir, b.configDir]
      .flatMap(filesUnder)
      .map((p) => ({ where: p, bytes: readFileSync(p) }));
    expect(places.some((p) => p.where.endsWith('config.db'))).toBe(true);
    places.push({ where: 'redis', bytes: Buffer.from(await dumpRedis(REDIS_URL()), 'latin1') });
    const objects = await bucketBytes(f.bucket);
    // The runs' outputs really went to S3: the scan is not over an empty bucket.
    expect(objects.length).toBeGreaterThanOrEqual(8);
    for (const o of objects) places.push({ where: `s3://${f.bucket}/${o.key}`, bytes: o.body });
    // A failure names the value and the form by index: the message must not print the value either.
    for (const p of places)
      for (const [i, v] of leaked.entries())
        for (const [j, form] of forms(v).entries())
          expect(p.bytes.includes(Buffer.from(form)), `value ${i}, form ${j}, in ${p.where}`).toBe(false);
  }, 240_000);
});
