/**
 * The command context (issue 23): which stack and secrets manager a command uses. First match
 * wins: the -m/--stack flags, then KEYSTACK_MANAGER/KEYSTACK_STACK, then the nearest
 * keystack.toml at or above the working directory (up to $HOME), then the active stack.
 * `keystack status` says which one applied, and `keystack init` writes the project file.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, tempEnv, type CliEnv, type CliResult } from '../support/cli.js';

const ok = (r: CliResult): CliResult => {
  expect(r.status, r.stderr + r.stdout).toBe(0);
  return r;
};
const json = (r: CliResult): Record<string, unknown> => JSON.parse(ok(r).stdout) as Record<string, unknown>;

interface Context {
  stack: { name: string };
  context: { stack: { from: string; file: string | null }; secretsManager: { from: string; file: string | null } };
  secretsManager: { name: string } | null;
}
const status = (e: CliEnv, opts: Parameters<typeof cli>[2] = {}, args: string[] = []): Context =>
  json(cli(e, ['--json', 'status', ...args], opts)) as unknown as Context;

let e: CliEnv;
let project: string;
let deep: string;

beforeAll(() => {
  e = tempEnv();
  ok(cli(e, ['secrets-manager', 'register', 'team', '--flavor=local']));
  ok(cli(e, ['secrets-manager', 'register', 'other', '--flavor=local']));
  ok(cli(e, ['stack', 'register', 'dev', '-x', 'team']));
  // The project lives under $HOME (tempEnv's HOME is its config dir's parent folder).
  project = join(e.configDir, 'repo');
  deep = join(project, 'src', 'deep');
  mkdirSync(deep, { recursive: true });
});

describe('precedence: flags, then variables, then keystack.toml, then the active stack', () => {
  it('with nothing set, the active stack decides', () => {
    const s = status(e, { cwd: deep });
    expect(s.stack.name).toBe('default');
    expect(s.context.stack).toEqual({ from: 'active-stack', file: null, text: 'the active stack' });
    expect(s.secretsManager?.name).toBe('default');
  });

  it('keystack.toml is found from a subdirectory, and beats the active stack', () => {
    const file = join(project, 'keystack.toml');
    writeFileSync(file, 'stack = "dev"\n');
    try {
      const s = status(e, { cwd: deep });
      expect(s.stack.name).toBe('dev');
      expect(s.context.stack).toMatchObject({ from: 'keystack.toml', file });
      expect(s.secretsManager?.name).toBe('team');
      const text = ok(cli(e, ['status'], { cwd: deep })).stdout;
      expect(text).toMatch(new RegExp(`stack\\s+dev \\(from ${file.replace(/[.]/g, '\\.')}\\)`));
      expect(text).toMatch(/secrets from\s+team \(from .*keystack\.toml\)/);
      // Secret commands use it too: the secret lands in the project's manager.
      ok(cli(e, ['secret', 'register', 'ctxdb', '--password=ctx-pw-value'], { cwd: deep }));
      expect(ok(cli(e, ['secret', 'list', '-m', 'team'])).stdout).toContain('ctxdb');
      expect(ok(cli(e, ['secret', 'list', '-m', 'default'])).stdout).not.toContain('ctxdb');
      // And `stack describe` with no name.
      expect(ok(cli(e, ['stack', 'describe'], { cwd: deep })).stdout).toContain(`Stack 'dev' (from ${file})`);
    } finally {
      writeFileSync(file, '');
    }
  });

  it('a manager in keystack.toml picks the secrets manager; the stack still comes from the file', () => {
    const file = join(project, 'keystack.toml');
    writeFileSync(file, 'stack = "dev"\nmanager = "other"\n');
    try {
      const s = status(e, { cwd: deep });
      expect(s.stack.name).toBe('dev');
      expect(s.secretsManager?.name).toBe('other');
      expect(s.context.secretsManager).toMatchObject({ from: 'keystack.toml', file });
    } finally {
      writeFileSync(file, '');
    }
  });

  it('KEYSTACK_STACK and KEYSTACK_MANAGER beat keystack.toml', () => {
    const file = join(project, 'keystack.toml');
    writeFileSync(file, 'stack = "dev"\n');
    try {
      const byStack = status(e, { cwd: deep, env: { KEYSTACK_STACK: 'default' } });
      expect(byStack.stack.name).toBe('default');
      expect(byStack.context.stack.from).toBe('KEYSTACK_STACK');
      expect(byStack.secretsManager?.name).toBe('default');
      const byManager = status(e, { cwd: deep, env: { KEYSTACK_MANAGER: 'other' } });
      expect(byManager.stack.name).toBe('dev');
      expect(byManager.secretsManager?.name).toBe('other');
      expect(byManager.context.secretsManager.from).toBe('KEYSTACK_MANAGER');
      expect(ok(cli(e, ['status'], { cwd: deep, env: { KEYSTACK_MANAGER: 'other' } })).stdout).toMatch(
        /secrets from\s+other \(from KEYSTACK_MANAGER\)/,
      );
    } finally {
      writeFileSync(file, '');
    }
  });

  it('the flags beat the variables', () => {
    const env = { KEYSTACK_STACK: 'default', KEYSTACK_MANAGER: 'default' };
    const byFlag = status(e, { env }, ['--stack', 'dev']);
    expect(byFlag.stack.name).toBe('dev');
    expect(byFlag.context.stack.from).toBe('flag');
    expect(byFlag.secretsManager?.name).toBe('team');
    expect(status(e, { env }, ['-m', 'other']).secretsManager?.name).toBe('other');
    ok(cli(e, ['secret', 'register', 'flagdb', '--password=flag-pw-value', '-m', 'other'], { env }));
    expect(ok(cli(e, ['secret', 'list', '-m', 'other'])).stdout).toContain('flagdb');
    expect(ok(cli(e, ['secret', 'list', '-m', 'default'])).stdout).not.toContain('flagdb');
  });

  it('a variable that names no stack or manager says where the name came from', () => {
    const r = cli(e, ['secret', 'list'], { env: { KEYSTACK_STACK: 'nope' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("no stack named 'nope' (named by $KEYSTACK_STACK)");
    const m = cli(e, ['secret', 'list'], { env: { KEYSTACK_MANAGER: 'nope' } });
    expect(m.status).toBe(1);
    expect(m.stderr).toContain('(named by $KEYSTACK_MANAGER)');
    const p = cli(e, ['pipeline', 'run', 'examples/pipeline/pipeline.ts'], { env: { KEYSTACK_STACK: 'nope' } });
    expect(p.status).toBe(1);
    expect(p.stderr).toContain("no stack named 'nope' (named by $KEYSTACK_STACK)");
  });

  it('the walk stops at $HOME: a keystack.toml above it is not read', () => {
    const top = mkdtempSync(join(tmpdir(), 'keystack-ctx-'));
    writeFileSync(join(top, 'keystack.toml'), 'stack = "dev"\n');
    const home = join(top, 'home');
    mkdirSync(join(home, 'work'), { recursive: true });
    expect(status(e, { cwd: join(home, 'work'), env: { HOME: home } }).context.stack.from).toBe('active-stack');
    // Outside $HOME the walk goes on to the root, so the same file is found.
    expect(status(e, { cwd: join(top, 'home'), env: { HOME: join(top, 'elsewhere') } }).stack.name).toBe('dev');
  });
});

describe('a bad keystack.toml', () => {
  const bad = (text: string, mode?: number): CliResult => {
    const dir = mkdtempSync(join(e.configDir, 'bad-'));
    writeFileSync(join(dir, 'keystack.toml'), text);
    if (mode !== undefined) chmodSync(join(dir, 'keystack.toml'), mode);
    return cli(e, ['secret', 'list'], { cwd: dir });
  };

  it('an unknown key, a wrong type or broken TOML is a one-line error naming the file and the key', () => {
    const unknown = bad('stack = "dev"\ncolour = "blue"\n');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/keystack\.toml: unknown key 'colour'/);
    const wrongType = bad('stack = 3\n');
    expect(wrongType.status).toBe(1);
    expect(wrongType.stderr).toMatch(/keystack\.toml: 'stack' must be a non-empty string/);
    const broken = bad('stack = "dev\n');
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/keystack\.toml is not valid TOML: /);
  });

  it('a name it gives that is not registered is named with the file', () => {
    const r = bad('stack = "nope"\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no stack named 'nope' \(named by .*keystack\.toml\)/);
  });

  it('a file that another user can write is refused', () => {
    const r = bad('manager = "other"\n', 0o666);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/keystack\.toml/);
    expect(r.stderr).toMatch(/writable by/);
  });
});

describe('keystack init', () => {
  it('writes keystack.toml with checked names, refuses to overwrite without --force', () => {
    const dir = mkdtempSync(join(e.configDir, 'init-'));
    const file = join(dir, 'keystack.toml');
    const wrote = json(cli(e, ['--json', 'init', '--stack', 'dev', '-m', 'other'], { cwd: dir }));
    expect(wrote).toEqual({ file, stack: 'dev', manager: 'other', overwritten: false });
    expect(readFileSync(file, 'utf8')).toMatch(/^stack = "dev"\nmanager = "other"\n$/m);
    expect(status(e, { cwd: dir }).secretsManager?.name).toBe('other');

    const again = cli(e, ['init', '--stack', 'default'], { cwd: dir });
    expect(again.status).toBe(1);
    expect(again.stderr).toContain(`${file} already exists`);
    expect(again.stderr).toContain('--force');
    expect(readFileSync(file, 'utf8')).toContain('stack = "dev"');

    expect(json(cli(e, ['--json', 'init', '--stack', 'default', '--force'], { cwd: dir }))).toMatchObject({
      stack: 'default',
      manager: null,
      overwritten: true,
    });
    expect(status(e, { cwd: dir }).stack.name).toBe('default');
  });

  it('with no flags it pins the active stack; a name that is not registered writes nothing', () => {
    const dir = mkdtempSync(join(e.configDir, 'init-'));
    expect(json(cli(e, ['--json', 'init'], { cwd: dir }))).toMatchObject({ stack: 'default', manager: null });
    const other = mkdtempSync(join(e.configDir, 'init-'));
    const r = cli(e, ['init', '--stack', 'nope'], { cwd: other });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("no stack named 'nope'");
    expect(existsSync(join(other, 'keystack.toml'))).toBe(false);
  });
});
