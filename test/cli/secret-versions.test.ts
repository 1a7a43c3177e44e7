// Versions through the built binary on the local flavor: `secret get --version` reads a version
// (it used to print keystack's own version and exit 0), history and diff never print a value in
// text or --json, rollback asks like other destructive commands, and `keystack version`.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tempEnv } from '../support/cli.js';

const V1 = 'pw-version-one-4417';
const V2 = 'pw-version-two-8823';
const TOKEN = 'tok-added-later-5501';

function threeWrites() {
  const e = tempEnv();
  expect(cli(e, ['secret', 'register', 'db', `--password=${V1}`, '--user=u']).status).toBe(0);
  expect(cli(e, ['secret', 'update', 'db', `--password=${V2}`]).status).toBe(0);
  expect(cli(e, ['secret', 'update', 'db', `--token=${TOKEN}`]).status).toBe(0);
  return e;
}

describe('keystack secret versions (built binary, local flavor)', () => {
  it('secret get --version reads that version, while keystack --version and keystack version print keystack', () => {
    const e = threeWrites();
    const one = cli(e, ['secret', 'get', 'db', '--version', '1', '--key', 'password']);
    expect(one.status, one.stderr).toBe(0);
    expect(one.stdout).toBe(V1);
    const two = JSON.parse(cli(e, ['--json', 'secret', 'get', 'db', '--version', '2']).stdout);
    expect(two).toMatchObject({ name: 'db', version: '2', values: { password: V2, user: 'u' } });
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'db', '--version', 'previous']).stdout).version).toBe('2');
    expect(cli(e, ['secret', 'get', 'db.password', '--version', '1']).stdout).toBe(V1);

    const root = cli(e, ['--version']);
    expect(root.status).toBe(0);
    expect(root.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(cli(e, ['-V']).stdout).toBe(root.stdout);
    expect(cli(e, ['version']).stdout.trim()).toBe(`keystack ${root.stdout.trim()}`);
    expect(JSON.parse(cli(e, ['--json', 'version']).stdout)).toEqual({
      version: root.stdout.trim(),
      node: process.versions.node,
    });
    // Without its argument, --version of `secret get` is a usage error, not keystack's version.
    const bare = cli(e, ['secret', 'get', 'db', '--version']);
    expect(bare.status).toBe(2);
    expect(bare.stdout).not.toContain(root.stdout.trim());
  });

  it('names a missing version and a non-version clearly', () => {
    const e = threeWrites();
    const missing = cli(e, ['secret', 'get', 'db', '--version', '9']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/secret 'db' .* has no version 9/);
    expect(missing.stderr).toMatch(/Readable versions: 3, 2, 1/);
    const bad = cli(e, ['secret', 'get', 'db', '--version', 'latest']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("'latest' is not a version");
  });

  it('history and diff show keys, labels and writers, never a value, in text and --json', () => {
    const e = threeWrites();
    const outputs = [
      cli(e, ['secret', 'history', 'db']),
      cli(e, ['--json', 'secret', 'history', 'db']),
      cli(e, ['secret', 'diff', 'db']),
      cli(e, ['--json', 'secret', 'diff', 'db', '1', 'current']),
      cli(e, ['secret', 'diff', 'db', '1', '2']),
    ];
    for (const o of outputs) {
      expect(o.status, o.stderr).toBe(0);
      for (const v of [V1, V2, TOKEN]) expect(o.stdout + o.stderr).not.toContain(v);
    }
    expect(outputs[0]?.stdout).toMatch(/3\s+\S+\s+current\s+password, token, user\s+\+token\s+\S+@\S+/);
    expect(outputs[0]?.stdout).toMatch(/2\s+\S+\s+previous\s+password, user\s+~password/);
    const history = JSON.parse(outputs[1]?.stdout ?? '') as { versions: { version: string }[] };
    expect(history.versions.map((v) => v.version)).toEqual(['3', '2', '1']);
    expect(history.versions[0]).toMatchObject({
      labels: ['current'],
      keys: ['password', 'token', 'user'],
      changes: { added: ['token'], removed: [], changed: [] },
      writer: expect.stringMatching(/.+@.+/),
    });
    expect(outputs[2]?.stdout).toContain("Secret 'db', version 2 → 3:\n  + token");
    expect(JSON.parse(outputs[3]?.stdout ?? '')).toMatchObject({
      from: '1',
      to: '3',
      added: ['token'],
      removed: [],
      changed: ['password'],
    });
    expect(outputs[4]?.stdout).toContain('  ~ password');
    expect(JSON.parse(cli(e, ['--json', 'secret', 'history', 'db', '--limit', '1']).stdout).versions).toHaveLength(1);
    expect(cli(e, ['secret', 'history', 'db', '--limit', '0']).status).toBe(2);
  });

  it('rollback asks first, refuses without a terminal, and with -y writes the old content as a new version', () => {
    const e = threeWrites();
    const refused = cli(e, ['secret', 'rollback', 'db', '--to', '1']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('refusing to roll back without confirmation');
    expect(JSON.parse(cli(e, ['--json', 'secret', 'history', 'db']).stdout).versions).toHaveLength(3);

    const r = cli(e, ['--json', 'secret', 'rollback', 'db', '--to', '1', '-y']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      name: 'db',
      manager: 'default',
      restored: '1',
      replaced: '3',
      version: '4',
    });
    expect(r.stdout).not.toContain(V1);
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'db']).stdout).values).toEqual({ password: V1, user: 'u' });
    const again = cli(e, ['secret', 'rollback', 'db', '--to', 'current', '-y']);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('already the current version');
  });
});

describe('who wrote a version, for pipeline writes', () => {
  it('history names the run and step that wrote a version, in a step of the local and the local_process orchestrator', () => {
    const e = tempEnv();
    expect(cli(e, ['secret', 'register', 'db', `--password=${V1}`]).status).toBe(0);
    const f = join(mkdtempSync(join(tmpdir(), 'keystack-writer-')), 'rotating.mjs');
    writeFileSync(
      f,
      `import { pipeline, step } from ${JSON.stringify(resolve('dist/lib/pipeline/authoring.js'))};
const s = step({ name: 'rotate_db', secrets: '*', enableCache: false,
  run: async (_i, ctx) => { await ctx.stack.secretsManager.update('db', { password: 'pw-' + process.pid + '-from-a-step' }); return 1; } });
export default pipeline('rotating', () => s());
`,
    );
    const runId = (): string => {
      const r = cli(e, ['--json', 'pipeline', 'run', f]);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { run: { id: string } }).run.id;
    };
    const inProcess = runId();
    expect(cli(e, ['orchestrator', 'register', 'proc', '--flavor=local_process']).status).toBe(0);
    expect(cli(e, ['stack', 'register', 'procs', '-o', 'proc', '-x', 'default', '--set']).status).toBe(0);
    const inChild = runId();
    expect(cli(e, ['secret', 'update', 'db', `--password=${V2}`]).status).toBe(0);
    const history = JSON.parse(cli(e, ['--json', 'secret', 'history', 'db']).stdout) as {
      versions: { version: string; writer: string | null }[];
    };
    expect(history.versions.map((v) => [v.version, v.writer])).toEqual([
      ['4', expect.stringMatching(/^[^ ]+@[^ ]+$/)],
      ['3', `run ${inChild.slice(0, 8)} step rotate_db`],
      ['2', `run ${inProcess.slice(0, 8)} step rotate_db`],
      ['1', expect.stringMatching(/^[^ ]+@[^ ]+$/)],
    ]);
  });
});
