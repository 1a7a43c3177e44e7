import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, inPty, tempEnv } from '../support/cli.js';

describe('keystack secret (end to end, built binary)', () => {
  it('registers, reads, lists, updates and deletes on the default stack', () => {
    const e = tempEnv();
    const reg = cli(e, ['secret', 'register', 'db', '--user=admin', '--password=hunter2pw']);
    expect(reg.status).toBe(0);
    expect(reg.stdout).toContain("Registered secret 'db'");
    expect(reg.stdout + reg.stderr).not.toContain('hunter2pw');

    const get = cli(e, ['secret', 'get', 'db']);
    expect(get.status).toBe(0);
    expect(get.stdout).toMatch(/KEY\s+VALUE/);
    expect(get.stdout).toMatch(/password\s+hunter2pw/);
    expect(cli(e, ['secret', 'get', 'db', '--key', 'password']).stdout).toBe('hunter2pw');
    expect(cli(e, ['secret', 'list']).stdout).toBe('db\n');

    expect(cli(e, ['secret', 'update', 'db', '--password=n3wpass', '--host=h', '--remove-key', 'user']).status).toBe(0);
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'db']).stdout)).toEqual({
      name: 'db',
      schema: 'arbitrary',
      values: { password: 'n3wpass', host: 'h' },
      data: { password: 'n3wpass', host: 'h' },
    });

    const del = cli(e, ['secret', 'delete', 'db', '-y']);
    expect(del.status).toBe(0);
    expect(cli(e, ['secret', 'get', 'db']).status).toBe(1);
  });

  it('offers the same commands under `secrets-manager secret`', () => {
    const e = tempEnv();
    expect(cli(e, ['secrets-manager', 'secret', 'register', 'a', '--k=v']).status).toBe(0);
    expect(cli(e, ['secret', 'get', 'a', '--key', 'k']).stdout).toBe('v');
    expect(cli(e, ['secrets-manager', 'secret', 'list']).stdout).toBe('a\n');
  });

  it('reads values from files, from stdin, and escapes a literal @ with @@', () => {
    const e = tempEnv();
    const pem = '-----BEGIN KEY-----\nabc\n-----END KEY-----\n';
    const file = join(e.configDir, 'key.pem');
    writeFileSync(file, pem);
    expect(
      cli(e, ['secret', 'register', 'tls', `--key=@${file}`, '--token=@-', '--handle=@@me'], { input: 'from-stdin\n' })
        .status,
    ).toBe(0);
    const got = JSON.parse(cli(e, ['--json', 'secret', 'get', 'tls']).stdout);
    expect(got.values).toEqual({ key: pem, token: 'from-stdin', handle: '@me' });
  });

  it('@generate stores a random value of the length and alphabet asked, and prints it nowhere', () => {
    const e = tempEnv();
    const reg = cli(e, ['secret', 'register', 'gen', '--a=@generate:40:hex', '--b=@generate', '--lit=@@generate:3']);
    expect(reg.status).toBe(0);
    const regJson = cli(e, ['--json', 'secret', 'register', 'gen2', '--a=@generate:24:base64url']);
    expect(regJson.status).toBe(0);
    const a = cli(e, ['secret', 'get', 'gen', '--key', 'a']).stdout;
    const b = cli(e, ['secret', 'get', 'gen', '--key', 'b']).stdout;
    const a2 = cli(e, ['secret', 'get', 'gen2', '--key', 'a']).stdout;
    expect(a).toMatch(/^[0-9a-f]{40}$/);
    expect(b).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(a2).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(cli(e, ['secret', 'get', 'gen', '--key', 'lit']).stdout).toBe('@generate:3');
    for (const [value, out] of [
      [a, reg],
      [b, reg],
      [a2, regJson],
    ] as const) {
      expect(out.stdout + out.stderr).not.toContain(value);
    }
    expect(JSON.parse(regJson.stdout)).toMatchObject({ name: 'gen2', keys: ['a'] });

    // update generates too, and a new run gives a new value
    const upd = cli(e, ['--json', 'secret', 'update', 'gen', '--a=@generate:40:hex']);
    expect(upd.status).toBe(0);
    const a3 = cli(e, ['secret', 'get', 'gen', '--key', 'a']).stdout;
    expect(a3).toMatch(/^[0-9a-f]{40}$/);
    expect(a3).not.toBe(a);
    expect(upd.stdout + upd.stderr).not.toContain(a3);

    const bad = cli(e, ['secret', 'register', 'bad', '--a=@generate:5000']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("the length in '@generate:5000' for 'a' must be a whole number from 1 to 4096");
    expect(cli(e, ['secret', 'get', 'bad']).status).toBe(1);
  });

  it('--values=@FILE (a ZenML habit) warns on stderr that it made a key named values, and says how to import', () => {
    const e = tempEnv();
    const file = join(e.configDir, 'creds.json');
    writeFileSync(file, '{"user":"u","password":"zenmlpw123"}');
    const reg = cli(e, ['--json', 'secret', 'register', 'z', `--values=@${file}`]);
    expect(reg.status).toBe(0);
    expect(JSON.parse(reg.stdout)).toMatchObject({ name: 'z', keys: ['values'] });
    expect(reg.stderr).toContain('Warning: --values=@');
    expect(reg.stderr).toContain("made a key named 'values' in secret 'z'");
    expect(reg.stderr).toContain(`keystack import ${file} --as z`);
    expect(reg.stdout + reg.stderr).not.toContain('zenmlpw123');
    const upd = cli(e, ['secret', 'update', 'z', `--values=@${file}`]);
    expect(upd.status).toBe(0);
    expect(upd.stderr).toContain(`keystack import ${file} --as z --on-conflict update`);
    // Other keys, and a literal or generated `values`, warn about nothing.
    const plain = cli(e, ['secret', 'register', 'y', '--values=a,b', '--k=@@x', `--f=@${file}`]);
    expect(plain.status).toBe(0);
    expect(plain.stderr).toBe('');
  });

  it('--json gives machine output for results and errors', () => {
    const e = tempEnv();
    const reg = JSON.parse(cli(e, ['secret', 'register', 'x', '--a=1', '--json']).stdout);
    expect(reg).toMatchObject({ name: 'x', schema: 'arbitrary', keys: ['a'], manager: 'default', scope: 'component' });
    expect(JSON.parse(cli(e, ['--json', 'secret', 'list']).stdout)).toMatchObject({ secrets: ['x'] });
    const err = cli(e, ['--json', 'secret', 'register', 'x', '--a=2']);
    expect(err.status).toBe(1);
    expect(JSON.parse(err.stdout).error).toMatchObject({ code: 'secret_exists' });
    expect(err.stderr).toBe('');
    const usage = cli(e, ['--json', 'secret', 'get']);
    expect(usage.status).toBe(2);
    expect(JSON.parse(usage.stdout).error.code).toBe('usage');
  });

  it('registers typed secrets and converts values by the schema', () => {
    const e = tempEnv();
    expect(cli(e, ['secret', 'register', 'm', '-s', 'mysql', '--user=u', '--ssl_verify_server_cert=true']).status).toBe(
      0,
    );
    // `values` are strings; `data` shows each value with the JSON type it is stored with.
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'm']).stdout)).toEqual({
      name: 'm',
      schema: 'mysql',
      values: { user: 'u', ssl_verify_server_cert: 'true' },
      data: { user: 'u', ssl_verify_server_cert: true },
    });
    expect(cli(e, ['secret', 'register', 'n', '-s', 'mysql', '--user=u']).status).toBe(0);
    expect(cli(e, ['secret', 'get', 'n', '--key', 'ssl_verify_server_cert']).stdout).toBe('false');
  });

  it("delete-all deletes only the active manager's scope", () => {
    const e = tempEnv();
    cli(e, ['secret', 'register', 'a', '--k=v']);
    expect(cli(e, ['secrets-manager', 'register', 'shared', '-f', 'local', '--scope=global']).status).toBe(0);
    expect(cli(e, ['stack', 'register', 'other', '-x', 'shared', '--set']).status).toBe(0);
    cli(e, ['secret', 'register', 'b', '--k=v']);
    cli(e, ['secret', 'register', 'c', '--k=v']);
    const r = cli(e, ['secret', 'delete-all', '-y']);
    expect(r.stdout).toContain('Deleted 2 secrets');
    expect(cli(e, ['secret', 'list']).stdout).toBe('');
    cli(e, ['stack', 'set', 'default']);
    expect(cli(e, ['secret', 'list']).stdout).toBe('a\n');
  });

  it('refuses to delete without -y when not in a terminal', () => {
    const e = tempEnv();
    cli(e, ['secret', 'register', 'a', '--k=v']);
    const r = cli(e, ['secret', 'delete', 'a']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Pass -y');
    expect(cli(e, ['secret', 'get', 'a', '--key', 'k']).stdout).toBe('v');
  });

  it('prompts with hidden input for -i (schema keys in order) in a terminal', () => {
    const e = tempEnv();
    const r = inPty(
      e,
      ['secret', 'register', 'creds', '-s', 'basic_auth', '-i'],
      [
        { expect: 'Value for username', send: 'alice\r' },
        { expect: 'Value for password', send: 'pty-s3cret\r' },
      ],
    );
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).not.toContain('pty-s3cret');
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'creds']).stdout).values).toEqual({
      username: 'alice',
      password: 'pty-s3cret',
    });
  });

  it('runs an arbitrary key/value loop for -i and can add keys in update -i', () => {
    const e = tempEnv();
    const r = inPty(
      e,
      ['secret', 'register', 'api', '-i'],
      [
        { expect: 'Secret key', send: 'token\r' },
        { expect: 'Value for token', send: 'tok-1\r' },
        { expect: 'Add another key', send: 'y\r' },
        { expect: 'Secret key', send: 'url\r' },
        { expect: 'Value for url', send: 'https://x\r' },
        { expect: 'Add another key', send: 'n\r' },
      ],
    );
    expect(r.status, r.stdout).toBe(0);
    const u = inPty(
      e,
      ['secret', 'update', 'api', '-i'],
      [
        { expect: 'New value for token', send: 'tok-2\r' },
        { expect: 'New value for url', send: '\r' },
        { expect: 'Add a new key', send: 'y\r' },
        { expect: 'Secret key', send: 'region\r' },
        { expect: 'Value for region', send: 'eu\r' },
        { expect: 'Add a new key', send: 'n\r' },
      ],
    );
    expect(u.status, u.stdout).toBe(0);
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'api']).stdout).values).toEqual({
      token: 'tok-2',
      url: 'https://x',
      region: 'eu',
    });
  });

  it('confirms deletion in a terminal', () => {
    const e = tempEnv();
    cli(e, ['secret', 'register', 'a', '--k=v']);
    const no = inPty(e, ['secret', 'delete', 'a'], [{ expect: 'Delete secret', send: 'n\r' }]);
    expect(no.status).not.toBe(0);
    expect(cli(e, ['secret', 'list']).stdout).toBe('a\n');
    const yes = inPty(e, ['secret', 'delete', 'a'], [{ expect: 'Delete secret', send: 'y\r' }]);
    expect(yes.status, yes.stdout).toBe(0);
    expect(cli(e, ['secret', 'list']).stdout).toBe('');
  });

  it('keeps a config dir per KEYSTACK_CONFIG_DIR and XDG_CONFIG_HOME', () => {
    const e = tempEnv();
    const xdg = join(e.configDir, 'xdg');
    mkdirSync(xdg);
    const env = { ...e.env };
    delete (env as Record<string, string | undefined>)['KEYSTACK_CONFIG_DIR'];
    const e2 = { configDir: e.configDir, env: { ...env, XDG_CONFIG_HOME: xdg } } as typeof e;
    expect(cli(e2, ['secret', 'register', 'a', '--k=v']).status).toBe(0);
    expect(cli(e2, ['secret', 'list']).stdout).toBe('a\n');
    expect(cli(e, ['secret', 'list']).stdout).toBe('');
  });
});
