/**
 * Who wrote a version, when a pipeline step wrote it on a bullmq worker (real Redis, OpenBao,
 * moto's S3), with `--isolation process` and `none`: the worker sends the versions back in its
 * signed result, and `secret history` where the run was started names the run and step. The step
 * reads its own history and diff too, answered by the worker in both modes, and its manager view
 * answers keepsVersions and refuses close() in both.
 */
import { describe, expect, it } from 'vitest';
import { BAO_ROOT, cliEnv, codeRoot, runCli, startWorkerProcess } from './harness.js';
import { queues, remoteTestScope } from './fixture.js';

const { workers, fixture } = remoteTestScope();

// The step also reads back what it wrote through history and diff, which a step child asks its worker for.
const WRITER = `
import { pipeline, step } from '{{LIB}}';
export default pipeline('w_rotate', () => step({ name: 'rotate_scratch', secrets: '*', enableCache: false,
  run: async (_i, ctx) => {
    const m = ctx.stack.secretsManager;
    // The manager view's rules hold on a worker too: a getter answers a boolean, close() is refused.
    const closed = await m.close().then(() => 'closed', (e) => e.code);
    if (m.keepsVersions !== true || closed !== 'unsupported') throw new Error('view: ' + typeof m.keepsVersions + ' ' + closed);
    await m.update('scratch', { pw: 'rotated-on-a-worker-' + process.pid });
    const h = await m.history('scratch', { limit: 2 });
    const d = await m.diff('scratch');
    const seen = JSON.stringify([h.map((e) => [e.keys, e.changes, e.labels, e.createdAt instanceof Date]), d.changed]);
    const want = JSON.stringify([[[['pw'], { added: [], removed: [], changed: ['pw'] }, ['current'], true],
      [['pw'], null, ['previous'], true]], ['pw']]);
    if (seen !== want) throw new Error('history and diff in the step: ' + seen);
    return 1;
  } })());
`;

describe.each(['process', 'none'] as const)(
  'a step that writes a secret on a worker with --isolation %s',
  (isolation) => {
    it("is the writer of the version in the client's secret history", async () => {
      const f = await fixture();
      await (await f.ks.secretsManager('vault')).register('scratch', { pw: 'first-value-82731' });
      const root = codeRoot({ 'writer.mjs': WRITER });
      const w = await startWorkerProcess({
        name: `writer-${isolation}`,
        client: f.configDir,
        queues: [queues(f).main],
        codeRoot: root,
        // This step writes: the worker's token may, unlike the read-only ones of the other tests.
        env: { VAULT_TOKEN: BAO_ROOT() },
        args: ['--isolation', isolation],
      });
      workers.push(w);
      const env = cliEnv(f.configDir, f.clientEnv);
      const r = await runCli(['--json', 'pipeline', 'run', 'writer.mjs'], env, root);
      expect(r.status, r.stderr).toBe(0);
      const runId = (JSON.parse(r.stdout) as { run: { id: string } }).run.id;
      const h = await runCli(['--json', 'secret', 'history', 'scratch'], env, root);
      expect(h.status, h.stderr).toBe(0);
      const versions = (JSON.parse(h.stdout) as { versions: { version: string; writer: string | null }[] }).versions;
      expect(versions.map((v) => [v.version, v.writer])).toEqual([
        ['2', `run ${runId.slice(0, 8)} step rotate_scratch`],
        ['1', expect.stringMatching(/^[^ ]+@[^ ]+$/)],
      ]);
    });
  },
);
