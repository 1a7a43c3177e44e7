// `keystack secret list`: the glob and --prefix filters (applied before any output), and
// --format names|table|json|yaml, where json is exactly the --json document.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cli, tempEnv } from '../support/cli.js';

describe('keystack secret list filters and formats (built binary, local flavor)', () => {
  const e = tempEnv();
  for (const name of ['db_main', 'db_replica', 'db-x', 'api', 'ci_db_token'])
    expect(cli(e, ['secret', 'register', name, '--k=value-never-listed']).status).toBe(0);
  const list = (...args: string[]) => cli(e, ['secret', 'list', ...args]);

  it('filters by a glob where * and ? are the only special characters', () => {
    expect(list('db_*').stdout).toBe('db_main\ndb_replica\n');
    expect(list('db?x').stdout).toBe('db-x\n');
    // The glob is anchored at both ends.
    expect(list('db-?').stdout).toBe('db-x\n');
    expect(list('*db*').stdout.trim().split('\n').sort()).toEqual(['ci_db_token', 'db-x', 'db_main', 'db_replica']);
    expect(list('db').stdout).toBe('');
  });

  it('filters by --prefix, literally, and combines it with the glob', () => {
    expect(list('--prefix', 'db_').stdout.trim().split('\n').sort()).toEqual(['db_main', 'db_replica']);
    expect(list('--prefix', 'db-').stdout).toBe('db-x\n');
    expect(list('*_r*', '--prefix', 'db').stdout).toBe('db_replica\n');
  });

  it('an empty result is not an error: table notes it on stderr, names prints nothing at all', () => {
    const table = list('nomatch*');
    expect(table.status).toBe(0);
    expect(table.stdout).toBe('');
    expect(table.stderr).toContain("No secrets matching 'nomatch*'");
    const names = list('nomatch*', '--format', 'names');
    expect(names.status).toBe(0);
    expect(names.stdout + names.stderr).toBe('');
    expect(JSON.parse(list('--prefix', 'zz', '--format', 'json').stdout).secrets).toEqual([]);
  });

  it('--format json prints the --json document; the global --json means --format json', () => {
    const byFormat = list('db_*', '--format', 'json');
    const byJson = cli(e, ['--json', 'secret', 'list', 'db_*']);
    expect(byFormat.status).toBe(0);
    expect(byFormat.stdout).toBe(byJson.stdout);
    expect(JSON.parse(byJson.stdout)).toEqual({
      manager: 'default',
      scope: 'component',
      secrets: ['db_main', 'db_replica'],
    });
    expect(cli(e, ['--json', 'secret', 'list', '--format', 'json', 'db_*']).stdout).toBe(byJson.stdout);
  });

  it('--format yaml prints the same object as YAML; names one per line without a header', () => {
    const yaml = list('--prefix', 'db_', '--format', 'yaml');
    expect(yaml.status).toBe(0);
    expect(parse(yaml.stdout)).toEqual({ manager: 'default', scope: 'component', secrets: ['db_main', 'db_replica'] });
    expect(list('api', '--format', 'names').stdout).toBe('api\n');
    expect(list('--format', 'table', 'api').stdout).toBe('api\n');
    expect(list().stdout + list().stderr).not.toContain('value-never-listed');
  });

  it('rejects an unknown --format, or --json with another format, as usage errors (exit 2)', () => {
    const bad = list('--format', 'csv');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("unknown --format 'csv'");
    expect(bad.stderr).toContain('names, table, json, yaml');
    const both = cli(e, ['--json', 'secret', 'list', '--format', 'yaml']);
    expect(both.status).toBe(2);
    expect(JSON.parse(both.stdout).error.code).toBe('usage');
  });
});
