// `keystack pipeline validate FILE` and what `pipeline run` adds: each step's `secrets:`
// declaration listed (names, never values), declared secrets and keys checked at the stack
// validation levels, a run refused before it starts when one is missing, and a denied read
// failing the command with code `denied`.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cli, tempEnv } from '../support/cli.js';

const LIB = resolve('dist/lib/index.js');

function module(body: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'keystack-pv-')), 'p.mjs');
  writeFileSync(file, `import { pipeline, step } from ${JSON.stringify(LIB)};\n${body}`);
  return file;
}

const GOOD = module(`
const a = step({ name: 'a', secrets: ['api', 'db.password'], run: async (_i, ctx) => (await ctx.secrets.get('db')).values.password.length });
const b = step({ name: 'b', run: async ({ n }) => n + 1 });
const c = step({ name: 'c', secrets: '*', run: async (_i, ctx) => 1 });
export default pipeline('good', () => { b({ n: a() }); c(); });
`);
const MISSING = module(`
const a = step({ name: 'a', secrets: ['nope', 'db.nokey'], run: async () => 1 });
export default pipeline('missing', () => a());
`);
const SNEAKY = module(`
const s = step({ name: 's', secrets: ['api'], run: async (_i, ctx) => (await ctx.secrets.get('db')).values.password });
export default pipeline('sneaky', () => s());
`);

describe('keystack pipeline validate (built binary)', () => {
  const e = tempEnv();
  expect(cli(e, ['secret', 'register', 'api', '--token=api-value-never-shown']).status).toBe(0);
  expect(cli(e, ['secret', 'register', 'db', '--password=db-value-never-shown']).status).toBe(0);

  it('lists what each step declares, as text and as --json, and never a value', () => {
    const text = cli(e, ['pipeline', 'validate', GOOD]);
    expect(text.status).toBe(0);
    expect(text.stdout).toBe(
      [
        "Pipeline 'good' is valid on stack 'default' (secret validation level SECRET_AND_KEY_EXISTS). Its steps read:",
        '  a: api, db.password',
        '  b: no secrets',
        "  c: every secret (secrets: '*')",
        '',
      ].join('\n'),
    );
    const json = cli(e, ['pipeline', 'validate', GOOD, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      pipeline: 'good',
      stack: 'default',
      valid: true,
      level: 'SECRET_AND_KEY_EXISTS',
      steps: [
        { step: 'a', secrets: ['api', 'db.password'] },
        { step: 'b', secrets: [] },
        { step: 'c', secrets: '*' },
      ],
    });
    expect(text.stdout + text.stderr + json.stdout + json.stderr).not.toMatch(/never-shown/);
  });

  it('fails on a declared secret or key that does not exist, at the validation level asked', () => {
    const r = cli(e, ['pipeline', 'validate', MISSING]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("step 'a' declares secret 'nope', which does not exist in secrets manager 'default'");
    expect(r.stderr).toContain("step 'a' declares key 'nokey' of secret 'db', which has no such key");
    expect(r.stderr).toMatch(/Hint: .*`secrets:` option/);
    const names = cli(e, ['pipeline', 'validate', MISSING, '--level', 'SECRET_EXISTS', '--json']);
    expect(names.status).toBe(1);
    expect(names.stdout + names.stderr).toContain("declares secret 'nope'");
    expect(names.stdout + names.stderr).not.toContain("key 'nokey'");
    expect(cli(e, ['pipeline', 'validate', MISSING, '--level', 'NONE']).status).toBe(0);
    expect(cli(e, ['pipeline', 'validate', MISSING, '--level', 'SOME']).status).toBe(2);
  });

  it('pipeline run prints the declarations first, and refuses to start when a declared secret is missing', () => {
    const ok = cli(e, ['pipeline', 'run', GOOD]);
    expect(ok.status).toBe(0);
    expect(ok.stderr).toContain('  a reads: api, db.password\n');
    expect(ok.stderr).toContain('  b reads: no secrets\n');
    expect(ok.stderr).toContain("Warning: step 'c' declares secrets: '*'");
    const runs = () => (JSON.parse(cli(e, ['pipeline', 'runs', 'list', '--json']).stdout) as { runs: unknown[] }).runs;
    const before = runs().length;
    const refused = cli(e, ['pipeline', 'run', MISSING]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("declares secret 'nope'");
    expect(runs()).toHaveLength(before);
  });

  it('a step that reads what it did not declare fails the command with code denied', () => {
    const r = cli(e, ['pipeline', 'run', SNEAKY, '--json']);
    expect(r.status).toBe(1);
    const err = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(err.error.code).toBe('denied');
    expect(err.error.message).toBe(
      "step 's' failed: denied: step 's' did not declare the secret 'db', so it may not read it",
    );
    expect(r.stdout + r.stderr).not.toMatch(/never-shown/);
  });
});
