// Version pins through the built binary on the local flavor (issue 21, "Pins"): `-s name@V`,
// `{{name@V.key}}` in --env, env files and templates (`run`, `inject`, `read`), a pinned step in
// `pipeline run` found again by `secret used-by --version`, and new names that would read as a
// pin refused at register and rename.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cli, tempEnv } from '../support/cli.js';

const V1 = 'pin-pw-one-6021';
const V2 = 'pin-pw-two-7133';

/** `db` at version 1 (V1) and 2 (V2, current). */
function twoVersions() {
  const e = tempEnv();
  expect(cli(e, ['secret', 'register', 'db', `--password=${V1}`, '--user=u']).status).toBe(0);
  expect(cli(e, ['secret', 'update', 'db', `--password=${V2}`]).status).toBe(0);
  return e;
}

/** A command that prints which version each variable holds, never a value (run masks them anyway). */
const WHICH = [
  process.execPath,
  '-e',
  `const v = (x) => x === ${JSON.stringify(V1)} ? 'v1' : x === ${JSON.stringify(V2)} ? 'v2' : String(x);
   process.stdout.write(['DB_PASSWORD', 'OLD', 'NEW', 'FILE'].map((k) => k + '=' + v(process.env[k])).join(' '));`,
];

describe('pins in keystack run, inject and read (built binary, local flavor)', () => {
  it('-s db@1 and {{db@1.password}} in --env and env files read version 1; unpinned reads stay current', () => {
    const e = twoVersions();
    const dir = mkdtempSync(join(tmpdir(), 'keystack-pins-'));
    const envFile = join(dir, '.env');
    writeFileSync(envFile, 'FILE={{db@previous.password}}\n');
    const r = cli(e, [
      'run',
      '-s',
      'db@1',
      '--env',
      'OLD={{db@1.password}}',
      '--env',
      'NEW={{db.password}}',
      '--env-file',
      envFile,
      '--',
      ...WHICH,
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('DB_PASSWORD=v1 OLD=v1 NEW=v2 FILE=v1');
  });

  it('a missing version is not_found with the readable ones; -s db with -s db@1 is a usage error', () => {
    const e = twoVersions();
    const missing = cli(e, ['run', '-s', 'db@9', '--', ...WHICH]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/secret 'db' .* has no version 9/);
    expect(missing.stderr).toContain('Readable versions: 2, 1');
    const both = cli(e, ['run', '-s', 'db', '-s', 'db@1', '--', ...WHICH]);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('two values map to the environment variable DB_PASSWORD');
    for (const out of [missing, both]) expect(out.stderr + out.stdout).not.toMatch(/pin-pw-/);
  });

  it('inject renders {{db@1.password}} from version 1 next to the current value, and read takes NAME@V.KEY', () => {
    const e = twoVersions();
    const r = cli(e, ['inject', '-i', '-'], { input: 'old={{db@1.password}}\nnew={{db.password}}\n' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`old=${V1}\nnew=${V2}\n`);
    expect(cli(e, ['read', 'db@1.password']).stdout).toBe(V1);
    expect(cli(e, ['read', '{{db@previous.password}}']).stdout).toBe(V1);
    expect(cli(e, ['read', 'db.password']).stdout).toBe(V2);
  });
});

describe('names that would read as a pin', () => {
  it('are refused for new secrets, at register and rename, with a one-line error; other @ names work', () => {
    const e = twoVersions();
    const reg = cli(e, ['secret', 'register', 'api@3', '--token=t']);
    expect(reg.status).toBe(1);
    expect(reg.stderr.split('\n')[0]).toContain(
      `invalid secret name "api@3": must not end in '@' and a version (3), because 'api@3' reads version 3 of 'api'`,
    );
    const ren = cli(e, ['secret', 'rename', 'db', 'db@previous', '-y']);
    expect(ren.status).toBe(1);
    expect(ren.stderr).toContain(`invalid secret name "db@previous"`);
    expect(cli(e, ['secret', 'get', 'db', '--key', 'password']).stdout).toBe(V2);
    // An '@' followed by something that is not a version is part of the name.
    expect(cli(e, ['secret', 'register', 'team@prod', '--token=t']).status).toBe(0);
    expect(cli(e, ['read', 'team@prod.token']).stdout).toBe('t');
  });
});

describe('pipeline run with a pinned step, then secret used-by --version', () => {
  it('records the version each run read, and --version finds only those runs', () => {
    const e = twoVersions();
    const lib = resolve('dist/lib/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'keystack-pins-p-'));
    const file = (name: string, declared: string) => {
      const f = join(dir, `${name}.mjs`);
      writeFileSync(
        f,
        `import { pipeline, step } from ${JSON.stringify(lib)};
const s = step({ name: 'use', secrets: [${JSON.stringify(declared)}], run: async (_i, ctx) => (await ctx.secrets.get('db')).values.password.length });
export default pipeline(${JSON.stringify(name)}, () => s());
`,
      );
      return f;
    };
    const pinned = cli(e, ['pipeline', 'run', file('pinned', 'db@1.password')]);
    expect(pinned.status, pinned.stderr).toBe(0);
    const current = cli(e, ['pipeline', 'run', file('current', 'db')]);
    expect(current.status, current.stderr).toBe(0);
    const used = (version: string) =>
      (
        JSON.parse(cli(e, ['--json', 'secret', 'used-by', 'db', '--version', version]).stdout) as {
          accesses: { pipeline: string; version: string | null; pinned: string | null }[];
        }
      ).accesses.map((a) => [a.pipeline, a.version, a.pinned]);
    expect(used('1')).toEqual([['pinned', '1', '1']]);
    expect(used('2')).toEqual([['current', '2', null]]);
    // A label is resolved to the version id it names now, in the active stack's manager.
    expect(used('previous')).toEqual(used('1'));
    expect(used('current')).toEqual(used('2'));
    const text = cli(e, ['secret', 'used-by', 'db']);
    expect(text.stdout).toMatch(/db@1\s+password\s+1\s+read/);
    expect(text.stdout).not.toMatch(/pin-pw-/);
  });
});
