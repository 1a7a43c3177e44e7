/**
 * `--step-user`: a worker started as root runs its step children as another user, who cannot
 * read the worker's config dir, key files, or another user's private files. Two throwaway users:
 * A runs the step, B owns a private file. Needs root and useradd; skipped, with the reason
 * printed, otherwise (CI runs it as root).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CollectingSink } from '../../src/core/provenance.js';
import { stepHost, type StepHost } from '../../src/pipeline/remote/step-host.js';
import type { JobEnvelope } from '../../src/pipeline/remote/envelope.js';
import { loadPipelineModule } from '../../src/pipeline/index.js';
import { scrubbedEnv } from '../../src/pipeline/step-host/env.js';
import { resolveStepUser } from '../../src/pipeline/step-host/step-user.js';
import { Keystack } from '../../src/stack/client.js';
import { StackRuntime } from '../../src/stack/runtime.js';

const A = 'ks-stepuser-a';
const B = 'ks-stepuser-b';
const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const why =
  process.getuid?.() !== 0
    ? 'the test process is not root'
    : !existsSync('/usr/sbin/useradd') && run('useradd', ['--help']).error
      ? 'useradd is missing'
      : undefined;
if (why !== undefined) console.log(`--step-user test skipped: ${why}`);

/** Waits for every process of `user` to end: userdel refuses a user that still runs one. */
async function noProcessesOf(user: string): Promise<void> {
  for (let i = 0; i < 100 && run('pgrep', ['-u', user]).status === 0; i++) await new Promise((r) => setTimeout(r, 50));
}

describe.skipIf(why !== undefined)('--step-user', () => {
  let host: StepHost | undefined;
  let ks: Keystack | undefined;
  const removeUsers = async () => {
    host?.close();
    host = undefined;
    for (const u of [A, B]) {
      await noProcessesOf(u);
      run('userdel', ['-f', u]);
    }
  };
  beforeAll(async () => {
    await removeUsers(); // left over from an interrupted run
    for (const u of [A, B]) {
      const r = run('useradd', ['-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', u]);
      expect(r.status, r.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await ks?.close();
    await removeUsers();
    for (const u of [A, B]) expect(run('id', [u]).status).not.toBe(0);
  });

  it('runs the step child as that user, who cannot read the worker config dir, its key file or another user private file', async () => {
    const configDir = mkdtempSync(join(tmpdir(), 'keystack-su-worker-'));
    ks = new Keystack({ configDir, env: {} });
    await (await ks.secretsManager()).register('api', { token: 'step-user-token-1' });
    const stack = await StackRuntime.load(ks);
    // Another user's private file, beside the worker's own.
    const other = mkdtempSync(join(tmpdir(), 'keystack-su-other-'));
    chmodSync(other, 0o755);
    const bFile = join(other, 'private');
    writeFileSync(bFile, 'b-private', { mode: 0o600 });
    const b = resolveStepUser(B);
    chownSync(bFile, b.uid, b.gid);
    // A code root the step user can read, with a module that imports the built library.
    const root = mkdtempSync(join(tmpdir(), 'keystack-su-code-'));
    chmodSync(root, 0o755);
    const mod = join(root, 'probe.mjs');
    writeFileSync(
      mod,
      `import { readdirSync, readFileSync } from 'node:fs';\n` +
        `import { pipeline, step } from ${JSON.stringify(resolve('dist/lib/index.js'))};\n` +
        `const attempt = (f) => { try { f(); return 'readable'; } catch (e) { return e.code ?? 'error'; } };\n` +
        `const probe = step({ name: 'probe', run: async (i) => ({ uid: process.getuid(),\n` +
        `  files: i.files.map((f) => attempt(() => readFileSync(f))), dirs: i.dirs.map((d) => attempt(() => readdirSync(d))) }) });\n` +
        `export default pipeline('step_user', () => probe({ files: [], dirs: [] }));\n`,
      { mode: 0o644 },
    );
    const user = resolveStepUser(A);
    host = await stepHost({
      launcher: { command: process.execPath, args: [resolve('dist/cli.cjs'), 'pipeline', '__step'] },
      env: scrubbedEnv(process.env),
      user,
    });
    const loaded = await loadPipelineModule(mod);
    const node = loaded.pipeline.graph()[0];
    if (!node) throw new Error('no step');
    const keyFile = join(configDir, 'local_stores', 'secrets.db.key');
    expect(existsSync(keyFile)).toBe(true);
    const r = await host.run(
      { stack, module: { path: loaded.module, exportName: loaded.exportName }, own: { configDir, env: {} } },
      { runId: 'run-step-user', pipeline: 'step_user' } as JobEnvelope,
      node,
      { files: [keyFile, join(configDir, 'config.db'), bFile], dirs: [configDir] },
      60,
      { worker: 'w', attempt: 1, sink: new CollectingSink() },
    );
    expect(r.value).toEqual({ uid: user.uid, files: ['EACCES', 'EACCES', 'EACCES'], dirs: ['EACCES'] });
  });
});
