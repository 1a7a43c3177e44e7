// `keystack secret rename OLD NEW` on the local flavor, through the built binary: the plan first,
// schema and typed values kept, --dry-run, refusing an existing NEW, and confirmation like delete.
import { describe, expect, it } from 'vitest';
import { cli, inPty, tempEnv } from '../support/cli.js';

describe('keystack secret rename (built binary, local flavor)', () => {
  it('prints the plan, keeps schema and typed values, and deletes the old name; no value is printed', () => {
    const e = tempEnv();
    expect(
      cli(e, [
        'secret',
        'register',
        'db',
        '-s',
        'mysql',
        '--user=u',
        '--password=pw-rename-9',
        '--ssl_verify_server_cert=true',
      ]).status,
    ).toBe(0);
    const dry = cli(e, ['secret', 'rename', 'db', 'db_main', '--dry-run']);
    expect(dry.status).toBe(0);
    expect(dry.stdout).toMatch(/create\s+db_main\s+schema mysql; keys: user, password, ssl_verify_server_cert/);
    expect(dry.stdout).toContain('Dry run: nothing was written or deleted.');
    expect(cli(e, ['secret', 'list']).stdout).toBe('db\n');

    const r = cli(e, ['secret', 'rename', 'db', 'db_main', '-y']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Rename 'db' to 'db_main'.*1 to create/);
    expect(r.stdout).toContain("Renamed secret 'db' to 'db_main'");
    expect(r.stdout + r.stderr + dry.stdout + dry.stderr).not.toContain('pw-rename-9');
    expect(cli(e, ['secret', 'list']).stdout).toBe('db_main\n');
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'db_main']).stdout)).toMatchObject({
      schema: 'mysql',
      data: { user: 'u', password: 'pw-rename-9', ssl_verify_server_cert: true },
    });
  });

  it('--json gives { from, to, manager, scope, dryRun, plan, renamed } and no value', () => {
    const e = tempEnv();
    cli(e, ['secret', 'register', 'a', '--k=json-value-77']);
    const dry = cli(e, ['--json', 'secret', 'rename', 'a', 'b', '--dry-run']);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      from: 'a',
      to: 'b',
      manager: 'default',
      dryRun: true,
      renamed: false,
    });
    const r = cli(e, ['--json', 'secret', 'rename', 'a', 'b', '-y']);
    expect(JSON.parse(r.stdout)).toEqual({
      from: 'a',
      to: 'b',
      manager: 'default',
      scope: 'component',
      dryRun: false,
      plan: [{ name: 'b', action: 'create', schema: 'arbitrary', keys: ['k'] }],
      renamed: true,
    });
    expect(r.stdout).not.toContain('json-value-77');
  });

  it('refuses when NEW exists or OLD is missing (exit 1), and without -y off a terminal (exit 2); nothing changes', () => {
    const e = tempEnv();
    cli(e, ['secret', 'register', 'a', '--k=1']);
    cli(e, ['secret', 'register', 'b', '--k=2']);
    const exists = cli(e, ['secret', 'rename', 'a', 'b', '-y']);
    expect(exists.status).toBe(1);
    expect(exists.stderr).toContain("secret 'b' already exists");
    expect(exists.stderr).toContain('Hint: Pick another new name, or delete');
    const missing = cli(e, ['secret', 'rename', 'nope', 'c', '-y']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("secret 'nope' does not exist");
    const unconfirmed = cli(e, ['secret', 'rename', 'a', 'c']);
    expect(unconfirmed.status).toBe(2);
    expect(unconfirmed.stderr).toContain('Pass -y');
    expect(cli(e, ['secret', 'list']).stdout).toBe('a\nb\n');
  });

  it('asks in a terminal, and renames only on yes', () => {
    const e = tempEnv();
    cli(e, ['secret', 'register', 'a', '--k=1']);
    const no = inPty(e, ['secret', 'rename', 'a', 'c'], [{ expect: 'Rename secret', send: 'n\r' }]);
    expect(no.status).not.toBe(0);
    expect(cli(e, ['secret', 'list']).stdout).toBe('a\n');
    const yes = inPty(e, ['secret', 'rename', 'a', 'c'], [{ expect: 'Rename secret', send: 'y\r' }]);
    expect(yes.status, yes.stdout).toBe(0);
    expect(cli(e, ['secret', 'list']).stdout).toBe('c\n');
  });
});
