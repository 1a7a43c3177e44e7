/**
 * The provenance commands as a user meets them: `secret used-by` (a name, and a leaked value
 * from stdin that is never printed), `pipeline runs describe` (declared against read), `audit`
 * and `pipeline runs prune`. Records are written through the library into the same config dir.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CollectingSink, fingerprint } from '../../src/core/provenance.js';
import { parseDeclaration, SecretGuard } from '../../src/pipeline/access.js';
import { RunStore, type RunRecord } from '../../src/pipeline/run-store.js';
import { Keystack } from '../../src/stack/client.js';
import { loadProvenanceKey } from '../../src/stack/provenance-key.js';
import { cli, tempEnv } from '../support/cli.js';

const LEAKED = 'Leaked-Token-QX-77410';
const e = tempEnv();
const ks = new Keystack({ configDir: e.env['KEYSTACK_CONFIG_DIR'] ?? '', env: e.env });
afterAll(() => ks.close());

/** One run of pipeline `train`: step `load` declares db.password and reads it, then api (denied). */
async function recordedRun(): Promise<RunRecord> {
  const runs = new RunStore(ks.store);
  const run: RunRecord = {
    id: randomUUID(),
    pipeline: 'train',
    stack: 'default',
    orchestrator: 'default',
    module: null,
    exportName: null,
    status: 'running',
    startedAt: new Date().toISOString(),
    endedAt: null,
    error: null,
  };
  runs.createRun(run, [
    { stepId: 'load', name: 'load', position: 0, params: {}, cacheEnabled: false, secrets: ['db.password'] },
  ]);
  const m = await ks.secretsManager();
  const key = loadProvenanceKey(ks.configDir, ks.env);
  const sink = new CollectingSink();
  const g = new SecretGuard({
    reader: {
      runId: run.id,
      pipeline: 'train',
      step: 'load',
      component: undefined,
      attempt: 1,
      worker: 'box-1',
      host: 'h',
    },
    declaration: parseDeclaration('load', ['db.password']),
    manager: { uuid: m.uuid, name: m.name, flavor: m.flavor.name },
    read: async (name) => ((await m.has(name)) ? { secret: await m.get(name), version: '4' } : null),
    fingerprint: (v) => fingerprint(key, v),
    sink,
    where: m.where,
  });
  await g.get('db');
  await expect(g.get('api')).rejects.toMatchObject({ code: 'denied' });
  runs.finishStep(run.id, 'load', { status: 'failed', durationMs: 3, error: 'denied', records: sink.drain() });
  runs.finishRun(run.id, 'failed', 'denied');
  return run;
}

const encodings = [LEAKED, Buffer.from(LEAKED).toString('base64'), Buffer.from(LEAKED).toString('hex')];

describe('provenance commands', () => {
  it('secret used-by NAME, and --value @- / @FILE, which name the secret and the run and never the value', async () => {
    expect(cli(e, ['secret', 'register', 'db', '--user=svc', '--password=@-'], { input: LEAKED }).status).toBe(0);
    expect(cli(e, ['secret', 'register', 'api', '--token=tok-1234567'], {}).status).toBe(0);
    const run = await recordedRun();

    const byName = cli(e, ['secret', 'used-by', 'db']);
    expect(byName.status, byName.stderr).toBe(0);
    expect(byName.stdout).toContain(run.id.slice(0, 8));
    expect(byName.stdout).toMatch(/load\s.*db\s+password\s+4\s+read\s+box-1/);
    const denied = cli(e, ['--json', 'secret', 'used-by', 'api']);
    expect((JSON.parse(denied.stdout) as { accesses: { outcome: string }[] }).accesses.map((a) => a.outcome)).toEqual([
      'denied',
    ]);

    const file = join(e.configDir, 'leak.txt');
    writeFileSync(file, LEAKED, { mode: 0o600 });
    for (const [args, input] of [
      [['secret', 'used-by', '--value', '@-'], `${LEAKED}\n`],
      [['secret', 'used-by', '--value', `@${file}`], ''],
      [['--json', 'secret', 'used-by', '--value', '@-'], LEAKED],
    ] as const) {
      const r = cli(e, [...args], { input });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(args[0] === '--json' ? '"secret": "db"' : 'db.password');
      expect(r.stdout).toContain(args[0] === '--json' ? run.id : run.id.slice(0, 8));
      for (const enc of encodings) expect(r.stdout + r.stderr).not.toContain(enc);
    }
    const nothing = cli(e, ['secret', 'used-by', '--value', '@-'], { input: 'not-a-secret-0000' });
    expect(nothing.stdout).toContain('No secret of secrets manager');
    expect(nothing.stdout).toContain('No recorded run read this value.');
  });

  it('refuses a value on the command line without repeating it (exit 2)', () => {
    const r = cli(e, ['secret', 'used-by', '--value', LEAKED]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--value takes @- (standard input) or @FILE');
    for (const enc of encodings) expect(r.stdout + r.stderr).not.toContain(enc);
    expect(cli(e, ['secret', 'used-by']).status).toBe(2);
    expect(cli(e, ['secret', 'used-by', 'db', '--value', '@-'], { input: 'x' }).status).toBe(2);
  });

  it('pipeline runs describe shows each step declared against read; audit --denied lists the denial', async () => {
    const run = await recordedRun();
    const d = cli(e, ['pipeline', 'runs', 'describe', run.id]);
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/load\s+db\.password\s+db\s+password\s+4\s+read/);
    expect(d.stdout).toMatch(/api\s+\(all\)\s+-\s+denied/);
    const j = JSON.parse(cli(e, ['--json', 'pipeline', 'runs', 'describe', run.id]).stdout) as {
      steps: { declared: string[]; accesses: { secret: string; outcome: string }[] }[];
    };
    expect(j.steps[0]?.declared).toEqual(['db.password']);
    expect(j.steps[0]?.accesses.map((a) => [a.secret, a.outcome])).toEqual([
      ['db', 'read'],
      ['api', 'denied'],
    ]);
    const a = cli(e, ['audit', '--denied']);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toContain(run.id.slice(0, 8));
    expect(a.stdout).toMatch(/train\s+load\s+api/);
    expect(a.stdout).not.toMatch(/\bread\b/);
    expect(cli(e, ['audit', '--since', 'yesterday']).status).toBe(2);
  });

  it('pipeline runs prune: dry run, then deletes with -y, and --save keeps the retention', () => {
    const before = cli(e, ['--json', 'pipeline', 'runs', 'list']);
    const count = (JSON.parse(before.stdout) as { runs: unknown[] }).runs.length;
    expect(count).toBeGreaterThanOrEqual(2);
    const dry = cli(e, ['pipeline', 'runs', 'prune', '--keep', '1', '--dry-run']);
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`Would delete ${count - 1} run`);
    const refused = cli(e, ['pipeline', 'runs', 'prune', '--keep', '1']);
    expect([refused.status, refused.stderr]).toEqual([2, expect.stringContaining('without confirmation')]);
    const done = cli(e, ['--json', 'pipeline', 'runs', 'prune', '--keep', '1', '--save', '-y']);
    expect(done.status, done.stderr).toBe(0);
    const out = JSON.parse(done.stdout) as { runs: unknown[]; records: number; saved: boolean; retention: unknown };
    expect([out.runs.length, out.saved, out.retention]).toEqual([count - 1, true, { keep: 1, maxAge: '90d' }]);
    expect(out.records).toBeGreaterThan(0);
    expect(new RunStore(ks.store).retention()).toEqual({ keep: 1, maxAge: '90d' });
    expect(cli(e, ['pipeline', 'runs', 'prune', '--keep', 'many']).status).toBe(2);
  });
});
