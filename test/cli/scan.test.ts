/**
 * `keystack scan` as users run it: exit codes, the three formats (SARIF checked against the
 * SARIF 2.1.0 schema), which managers it reads, --staged from a pre-commit hook's point of view,
 * and no value, nor any 10-character run of one, in anything it prints.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import AjvDraft04 from 'ajv-draft-04';
import { beforeAll, describe, expect, it } from 'vitest';
import { leakForms } from '../../src/support/leak-match.js';
import { cli, tempEnv, type CliEnv, type CliResult } from '../support/cli.js';

const TOKEN = 'tQ7"vR2/kX9+pL4\\zW8>mN3?';
const TEAM_PASSWORD = 'Hb5jYc8-Team-Nd2fGs6';
const e: CliEnv = tempEnv();
const work = mkdtempSync(join(tmpdir(), 'keystack-scan-cli-'));

function run(args: string[], cwd = work): CliResult {
  return cli(e, ['scan', ...args], { cwd });
}

function write(root: string, files: Record<string, string>): void {
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), c);
  }
}

/** Every 10-character run of `value`: none of them may appear in what scan prints. */
function expectNoRun(value: string, printed: string): void {
  for (let i = 0; i + 10 <= value.length; i++) expect(printed).not.toContain(value.slice(i, i + 10));
}

const form = (value: string, encoding: string) => leakForms(value).find((f) => f.encoding === encoding)?.form ?? '';

beforeAll(() => {
  for (const args of [
    ['secret', 'register', 'api', '--token=@-'],
    ['secrets-manager', 'register', 'team', '-f', 'local', '--scope=namespace', '--namespace=ml'],
  ]) {
    const r = cli(e, args, { input: TOKEN });
    expect(r.status, r.stderr).toBe(0);
  }
  const r = cli(e, ['secret', 'register', 'db', '-m', 'team', '--password=@-'], { input: TEAM_PASSWORD });
  expect(r.status, r.stderr).toBe(0);
  write(work, {
    'clean/readme.txt': 'nothing to see\n',
    'leaky/run.log': `start\nAuthorization: Basic ${form(TOKEN, 'base64')}\n`,
    'leaky/conf.json': `{"token": "${form(TOKEN, 'json')}"}\n`,
    'leaky/mlruns/0/r1/params/token': TOKEN,
    'leaky/team.env': `DB_PASSWORD=${TEAM_PASSWORD}\n`,
  });
});

describe('keystack scan', () => {
  it('exits 0 when clean, 1 when it finds a value, and reports path:line:column, secret, key, manager and encoding', () => {
    const clean = run(['clean']);
    expect(clean.status, clean.stderr).toBe(0);
    expect(clean.stdout).toContain('No secret values found in 1 file');
    const r = run(['leaky']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain("leaky/run.log:2:22: secret 'api' key 'token' (manager 'default'), base64");
    expect(r.stdout).toContain("leaky/conf.json:1:12: secret 'api' key 'token' (manager 'default'), JSON-escaped");
    expect(r.stdout).toContain("in MLflow param 'token' of run r1");
    // The active stack's manager only: team's password is not looked for.
    expect(r.stdout).not.toContain('team.env');
  });

  it('reads one manager with -m, or every one with --all-managers', () => {
    const team = run(['-m', 'team', 'leaky', '--json']);
    expect(team.status).toBe(1);
    const found = JSON.parse(team.stdout) as { findings: { path: string; manager: string }[]; managers: string[] };
    expect(found.managers).toEqual(['team']);
    expect(found.findings.map((f) => [f.path, f.manager])).toEqual([['leaky/team.env', 'team']]);
    const all = JSON.parse(run(['--all-managers', 'leaky', '--json']).stdout) as typeof found;
    expect(all.managers.sort()).toEqual(['default', 'team']);
    expect(new Set(all.findings.map((f) => f.manager))).toEqual(new Set(['default', 'team']));
  });

  it('exits 2 for usage errors', () => {
    for (const args of [
      ['--format', 'yaml'],
      ['--min-length', '2'],
      ['--min-length', 'many'],
      ['--all-managers', '-m', 'team'],
      ['--json', '--format', 'sarif'],
      ['--no-such-option'],
    ]) {
      const r = run([...args, 'clean']);
      expect(r.status, args.join(' ')).toBe(2);
    }
  });

  it('--min-length decides which values are looked for', () => {
    // With a minimum above the token's length, only the team password could be found (and it is not asked for).
    const r = run(['--min-length', String(TOKEN.length + 1), 'leaky', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ findings: [], belowMinimum: 1 });
  });

  it('--exclude skips paths, and symlinks are not followed', () => {
    const root = mkdtempSync(join(tmpdir(), 'keystack-scan-links-'));
    write(root, { 'ok.txt': 'fine\n' });
    symlinkSync(join(work, 'leaky', 'run.log'), join(root, 'run.log'));
    symlinkSync(join(work, 'leaky'), join(root, 'leaky'));
    const r = run(['.'], root);
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toContain('2 symlinks not followed.');
    expect(run(['leaky', '--exclude', '*.log', '--exclude', 'mlruns/', '--exclude', 'conf.json']).status).toBe(0);
  });

  it('SARIF output validates against the SARIF 2.1.0 schema, with a region per finding', () => {
    const r = run(['leaky', '--format', 'sarif']);
    expect(r.status).toBe(1);
    const log = JSON.parse(r.stdout) as {
      runs: { results: { ruleId: string; locations: { physicalLocation: { region: unknown } }[] }[] }[];
    };
    const require = createRequire(import.meta.url);
    const schemaPath = require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json');
    // The schema's one language-tag pattern is not valid under the `u` flag; its formats are checked with URL and Date.
    const ajv = new AjvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false });
    ajv.addFormat('uri', (s: string) => URL.canParse(s));
    ajv.addFormat('uri-reference', (s: string) => URL.canParse(s, 'file:///base/') && !/\s/.test(s));
    ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
    const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')) as object);
    expect(validate(log), JSON.stringify(validate.errors)).toBe(true);
    // The validator does reject what is not SARIF 2.1.0.
    expect(validate({ ...log, version: '2.0.0' })).toBe(false);
    const results = log.runs[0]?.results ?? [];
    expect(results.map((x) => x.ruleId).sort()).toEqual([
      'keystack/secret-value/base64',
      'keystack/secret-value/json',
      'keystack/secret-value/raw',
    ]);
    expect(results.find((x) => x.ruleId.endsWith('/base64'))?.locations[0]?.physicalLocation.region).toEqual({
      startLine: 2,
      startColumn: 22,
    });
    // A clean scan is a valid log with no results.
    const clean = JSON.parse(run(['clean', '--format', 'sarif']).stdout) as typeof log;
    expect(validate(clean)).toBe(true);
    expect(clean.runs[0]?.results).toEqual([]);
  });

  it('prints no value, nor any 10-character run of one, in any format', () => {
    for (const args of [[], ['--json'], ['--format', 'json'], ['--format', 'sarif'], ['--format', 'text']]) {
      const r = run([...args, '--all-managers', 'leaky']);
      expect(r.status).toBe(1);
      for (const value of [TOKEN, TEAM_PASSWORD]) expectNoRun(value, r.stdout + r.stderr);
    }
  });

  it('--staged scans what is staged in a git repository, as a pre-commit hook runs it', () => {
    const repo = mkdtempSync(join(tmpdir(), 'keystack-scan-git-'));
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe' });
    git('init', '-q');
    write(repo, { 'train.py': `KEY = "${TOKEN}"\n`, 'notes.md': 'clean\n' });
    git('add', '.');
    // The hook sees the index: fixing only the work tree does not pass.
    writeFileSync(join(repo, 'train.py'), 'KEY = os.environ["KEY"]\n');
    const r = run(['--staged'], repo);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain("train.py:1:8: secret 'api' key 'token'");
    expectNoRun(TOKEN, r.stdout + r.stderr);
    git('add', 'train.py');
    expect(run(['--staged'], repo).status).toBe(0);
    // An unstaged leak is not the commit's business.
    writeFileSync(join(repo, 'notes.md'), TOKEN);
    expect(run(['--staged'], repo).status).toBe(0);
    const outside = run(['--staged'], resolve(tmpdir()));
    expect(outside.status).toBe(2);
    expect(outside.stderr).toContain('--staged needs a git repository');
  });
});
