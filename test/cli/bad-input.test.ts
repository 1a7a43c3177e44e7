import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, expectCleanError, tempEnv, type CliEnv } from '../support/cli.js';

function withExisting(): CliEnv {
  const e = tempEnv();
  expect(cli(e, ['secret', 'register', 'keep', '--a=kept-value']).status).toBe(0);
  return e;
}

function expectIntact(e: CliEnv): void {
  expect(cli(e, ['secret', 'get', 'keep', '--key', 'a']).stdout).toBe('kept-value');
}

describe('bad input: one-line errors, exit codes, no data lost', () => {
  const badNames: [string, string][] = [
    ['empty', ''],
    ['a dot', 'a.b'],
    ['a slash', 'a/b'],
    ['whitespace', 'a b'],
    ['a control character', 'a\u0001b'],
    ['too long', 'n'.repeat(129)],
  ];
  for (const [label, name] of badNames) {
    it(`rejects a secret name with ${label}`, () => {
      const e = withExisting();
      const r = cli(e, ['secret', 'register', name, '--a=b']);
      expectCleanError(r, 1);
      expect(r.stderr).toContain('invalid secret name');
      expectIntact(e);
    });
  }

  it.each(['name', 'keystack_schema_name'])('rejects the reserved key %s', (key) => {
    const e = withExisting();
    const r = cli(e, ['secret', 'register', 'x', `--${key}=v`]);
    expectCleanError(r, 1);
    expect(r.stderr).toContain('reserved key');
    expectIntact(e);
  });

  it('rejects a missing @FILE', () => {
    const e = withExisting();
    const r = cli(e, ['secret', 'register', 'x', '--pem=@/nonexistent/file.pem']);
    expectCleanError(r, 1);
    expect(r.stderr).toContain('ENOENT');
    expectIntact(e);
  });

  it('rejects a directory given as @FILE', () => {
    const e = withExisting();
    const dir = join(e.configDir, 'adir');
    mkdirSync(dir);
    const r = cli(e, ['secret', 'register', 'x', `--pem=@${dir}`]);
    expectCleanError(r, 1);
    expect(r.stderr).toContain('is a directory');
    expectIntact(e);
  });

  it('rejects a value over the size limit', () => {
    const e = withExisting();
    const file = join(e.configDir, 'big');
    writeFileSync(file, 'z'.repeat(600 * 1024));
    const r = cli(e, ['secret', 'register', 'x', `--blob=@${file}`]);
    expectCleanError(r, 1);
    expect(r.stderr).toMatch(/allows at most \d+/);
    expect(cli(e, ['secret', 'update', 'keep', `--a=@${file}`]).status).toBe(1);
    expectIntact(e);
  });

  it('rejects input over 1 MiB before reading it', () => {
    const e = withExisting();
    const file = join(e.configDir, 'huge');
    writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 'q'));
    expectCleanError(cli(e, ['secret', 'register', 'x', `--blob=@${file}`]), 1);
    expectIntact(e);
  });

  it('rejects an unknown schema', () => {
    const e = withExisting();
    const r = cli(e, ['secret', 'register', 'x', '-s', 'nope', '--a=b']);
    expectCleanError(r, 1);
    expect(r.stderr).toContain("unknown schema 'nope'");
    expectIntact(e);
  });

  it('rejects wrongly typed values, naming the field and type but not the value', () => {
    const e = withExisting();
    const r = cli(e, ['secret', 'register', 'x', '-s', 'mysql', '--ssl_verify_server_cert=s3cr3t-ish']);
    expectCleanError(r, 1);
    expect(r.stderr).toContain('ssl_verify_server_cert: expected a boolean');
    expect(r.stderr).not.toContain('s3cr3t-ish');
    expectIntact(e);
  });

  it('rejects a key that a typed schema does not declare, and a missing required one', () => {
    const e = withExisting();
    expectCleanError(
      cli(e, ['secret', 'register', 'x', '-s', 'basic_auth', '--username=u', '--password=p', '--port=1']),
      1,
    );
    const r = cli(e, ['secret', 'register', 'x', '-s', 'basic_auth', '--username=u']);
    expectCleanError(r, 1);
    expect(r.stderr).toContain('password: required field is missing');
    expectIntact(e);
  });

  it('reports a corrupted store file clearly and leaves it untouched', () => {
    const e = withExisting();
    const store = join(e.env['KEYSTACK_CONFIG_DIR']!, 'local_stores', 'secrets.db');
    writeFileSync(store, Buffer.alloc(8192, 7));
    const r = cli(e, ['secret', 'list']);
    expectCleanError(r, 1);
    expect(r.stderr).toMatch(/not a keystack store or is damaged/);
  });

  it('treats usage mistakes as exit 2', () => {
    const e = withExisting();
    expectCleanError(cli(e, ['secret', 'get']), 2);
    expectCleanError(cli(e, ['secret', 'register', 'x', '--user', 'bob']), 2);
    expectCleanError(cli(e, ['secret', 'frobnicate']), 2);
    expectCleanError(cli(e, ['secret', 'register', 'x']), 2);
    expectCleanError(cli(e, ['secret', 'register', 'x', '-i', '--a=b']), 2);
    expectCleanError(cli(e, ['secret', 'register', 'x', '--a=@-', '--b=@-']), 2);
    expectIntact(e);
  });

  it('names the missing thing for not-found cases, exit 1', () => {
    const e = withExisting();
    const absent = /^Error: secret 'missing' does not exist in secrets manager 'default'/;
    expectCleanError(cli(e, ['secret', 'get', 'missing']), 1, { message: absent });
    expectCleanError(cli(e, ['secret', 'get', 'keep', '--key', 'nokey']), 1, {
      message: /^Error: secret 'keep' has no key 'nokey'\nHint: Its keys are: a\./,
    });
    expectCleanError(cli(e, ['secret', 'update', 'missing', '--a=b']), 1, { message: absent });
    expectCleanError(cli(e, ['secret', 'delete', 'missing', '-y']), 1, { message: absent });
    expectCleanError(cli(e, ['stack', 'set', 'nostack']), 1, { message: /^Error: no stack named 'nostack'/ });
    expectCleanError(cli(e, ['secrets-manager', 'describe', 'nosm']), 1, {
      message: /^Error: no secrets-manager named 'nosm'/,
    });
    expectIntact(e);
  });

  it('shows the stack trace only with KEYSTACK_DEBUG=1', () => {
    const e = withExisting();
    const r = cli(e, ['secret', 'get', 'missing'], { env: { KEYSTACK_DEBUG: '1' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('prints --help and exits 0', () => {
    const e = tempEnv();
    const r = cli(e, ['secret', 'register', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--schema');
  });
});
