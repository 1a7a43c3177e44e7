// `keystack export` and `keystack import` end to end through the built CLI, on local managers:
// odd values round-trip in every format (export | import into another manager | export gives the
// same bytes), files are private and never overwritten without -f, --dry-run writes nothing,
// every secret is checked before the first write, and a write that fails half-way says exactly
// what was written.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cli, expectCleanError, inPty, tempEnv, type CliEnv, type CliResult } from '../support/cli.js';

/** Values that break naive quoting somewhere; every one must come back byte for byte. */
const ODD: Record<string, string> = {
  pem: '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nabc+/==\n-----END PRIVATE KEY-----\n',
  quotes: `it's "double" and 'single'`,
  equals: 'a=b==c=',
  dollar: '$HOME ${PATH} $(id) `id` \\$x',
  unicode: 'héllo wörld 🙂 日本語 \u00a0nbsp',
  empty: '',
  backslash: 'C:\\path\\to\\',
  literal_escape: 'a\\nb\\r\\t',
  padded: '  padded  ',
  hash: 'x #not a comment',
  crlf: 'line1\r\nline2\r\n',
  json_text: '{"a": [1, "two"], "b": null}',
};

/**
 * A failure after the plan was printed (stderr, for humans): the last lines are one error and one
 * hint, nothing on stdout, no stack trace.
 */
function expectFailure(r: CliResult, code: 1 | 2, message: RegExp): void {
  expect(r.status, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.at(-2), r.stderr).toMatch(/^Error: \S/);
  expect(lines.at(-1), r.stderr).toMatch(/^Hint: \S/);
  expect(lines.at(-2)).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

function ok(e: CliEnv, args: string[], input?: string): string {
  const r = cli(e, args, input === undefined ? {} : { input });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function register(e: CliEnv, name: string, values: Record<string, string>, extra: string[] = []): void {
  ok(e, ['secret', 'register', name, ...extra, ...Object.entries(values).map(([k, v]) => `--${k}=${v}`)]);
}

interface Got {
  schema: string;
  values: Record<string, string>;
  data: Record<string, unknown>;
}

/** Another local manager (its own component scope in the same store) and a stack for it, to import into. */
function target(e: CliEnv, name: string): void {
  ok(e, ['secrets-manager', 'register', name, '--flavor=local']);
  ok(e, ['stack', 'register', `${name}_stack`, '-x', name]);
}

/** `secret get` on another stack's manager. */
function getIn(e: CliEnv, stack: string, name: string): Got {
  ok(e, ['stack', 'set', stack]);
  try {
    return JSON.parse(ok(e, ['--json', 'secret', 'get', name])) as Got;
  } finally {
    ok(e, ['stack', 'set', 'default']);
  }
}

describe('keystack export | import round trips', () => {
  const e = tempEnv();
  register(e, 'db', ODD);

  for (const format of ['json', 'yaml'] as const) {
    it(`${format}: export | import -m b | export -m b gives the same bytes and values`, () => {
      const b = `b_${format}`;
      target(e, b);
      const first = ok(e, ['export', '--format', format]);
      expect(ok(e, ['import', '-', '--format', format, '-m', b], first)).toContain(
        `Imported 1 secret into secrets manager '${b}'`,
      );
      const second = ok(e, ['export', '--format', format, '-m', b]);
      expect(second).toBe(first);
      expect(getIn(e, `${b}_stack`, 'db').values).toEqual(ODD);
    });
  }

  it('env (--no-prefix): one secret round-trips through a .env file; keys become variable names', () => {
    target(e, 'b_env');
    const first = ok(e, ['export', 'db', '--format', 'env', '--no-prefix']);
    ok(e, ['import', '-', '--format', 'env', '--as', 'db', '-m', 'b_env'], first);
    const second = ok(e, ['export', 'db', '--format', 'env', '--no-prefix', '-m', 'b_env']);
    expect(second).toBe(first);
    const upper = Object.fromEntries(Object.entries(ODD).map(([k, v]) => [k.toUpperCase(), v]));
    expect(getIn(e, 'b_env_stack', 'db').values).toEqual(upper);
  });

  it('env (NAME_KEY): the variables of several secrets round-trip into one secret', () => {
    target(e, 'b_envall');
    const first = ok(e, ['export', '--format', 'env']);
    expect(first).toContain("DB_PEM='-----BEGIN PRIVATE KEY-----\n");
    ok(e, ['import', '-', '--format', 'env', '--as', 'everything', '-m', 'b_envall'], first);
    expect(ok(e, ['export', 'everything', '--format', 'env', '--no-prefix', '-m', 'b_envall'])).toBe(first);
  });

  it('shell: every value comes back unchanged when bash sources the file', () => {
    const text = ok(e, ['export', 'db', '--format', 'shell']);
    const file = join(e.configDir, 'vars.sh');
    writeFileSync(file, text);
    for (const [key, value] of Object.entries(ODD)) {
      const r = spawnSync('bash', ['-c', `set -eu; . "$1"; printf %s "$DB_${key.toUpperCase()}"`, 'x', file], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '' },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout, key).toBe(value);
    }
  });

  it('--with-schema keeps schemas and typed values through json and yaml', () => {
    register(e, 'mydb', { user: 'root', password: 'pw', ssl_verify_server_cert: 'true' }, ['-s', 'mysql']);
    target(e, 'b');
    for (const format of ['json', 'yaml']) {
      const first = ok(e, ['export', 'mydb', '--format', format, '--with-schema']);
      expect(first).toMatch(
        format === 'json'
          ? /"\$schema": "mysql"[\s\S]*"ssl_verify_server_cert": true/
          : /\$schema: mysql[\s\S]*ssl_verify_server_cert: true/,
      );
      ok(e, ['import', '-', '--format', format, '-m', 'b', '--on-conflict', 'update'], first);
      expect(ok(e, ['export', 'mydb', '--format', format, '--with-schema', '-m', 'b'])).toBe(first);
      const got = getIn(e, 'b_stack', 'mydb');
      expect(got.schema).toBe('mysql');
      expect(got.data).toMatchObject({ user: 'root', ssl_verify_server_cert: true });
    }
  });

  it('refuses, naming the key and never showing the value, a value .env syntax cannot carry', () => {
    const f = tempEnv();
    const value = `all'three"quotes\`\nand a newline`;
    ok(f, ['secret', 'register', 'odd', `--fine=ok`, `--nasty=${value}`]);
    const r = cli(f, ['export', 'odd', '--format', 'env']);
    expectCleanError(r, 1, { message: /secret 'odd' key 'nasty' cannot be written in \.env syntax/ });
    expect(r.stderr).not.toContain('three');
    // JSON carries it.
    expect(JSON.parse(ok(f, ['export', 'odd', '--format', 'json']))).toEqual({ odd: { fine: 'ok', nasty: value } });
  });

  it('reports two keys that map to one variable name as an error', () => {
    const f = tempEnv();
    ok(f, ['secret', 'register', 'x', '--a-b=1', '--a_b=2']);
    expectCleanError(cli(f, ['export', '--format', 'env']), 1, {
      message: /keys 'x\.a-b' and 'x\.a_b' both become the variable X_A_B/,
    });
  });
});

describe('keystack export files', () => {
  it('writes -o files 0600 and atomically, refuses to overwrite without -f, warns on a terminal', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'db', '--password=s3cr3t-value']);
    const file = join(e.configDir, 'out', 'secrets.json');
    mkdirSync(join(e.configDir, 'out'));
    const r = ok(e, ['export', '-o', file]);
    expect(r).toContain(`to ${file} (mode 0600)`);
    expect(r).not.toContain('s3cr3t-value');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The format comes from the file name.
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ db: { password: 's3cr3t-value' } });

    writeFileSync(file, 'keep me');
    expectCleanError(cli(e, ['export', '-o', file]), 1, { message: /already exists/ });
    expect(readFileSync(file, 'utf8')).toBe('keep me');
    ok(e, ['export', '-o', file, '-f']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ db: { password: 's3cr3t-value' } });
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // No temporary file is left beside it.
    expect(spawnSync('ls', ['-A', join(e.configDir, 'out')], { encoding: 'utf8' }).stdout).toBe('secrets.json\n');

    const tty = inPty(e, ['export', '--format', 'env'], []);
    expect(tty.status).toBe(0);
    expect(tty.stdout).toContain('Warning: secret values are being printed to the terminal');
    expect(cli(e, ['export', '--format', 'env']).stderr).toBe('');
  });
});

describe('keystack import', () => {
  it('--dry-run prints the plan (names and keys only) and writes nothing', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'api', '--token=old-token-value']);
    const file = join(e.configDir, 'in.json');
    writeFileSync(
      file,
      JSON.stringify({ api: { token: 'new-token-value', url: 'https://x' }, db: { password: 'db-password-value' } }),
    );
    const r = cli(e, ['import', file, '--dry-run', '--on-conflict', 'update']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 to create, 1 to update/);
    expect(r.stdout).toMatch(/update\s+api\s+differ: token; new: url/);
    expect(r.stdout).toMatch(/create\s+db\s+schema arbitrary; keys: password/);
    expect(r.stdout).toContain('Dry run: nothing was written.');
    expect(r.stdout + r.stderr).not.toMatch(/token-value|password-value/);
    expect(ok(e, ['secret', 'list'])).toBe('api\n');
    expect(ok(e, ['secret', 'get', 'api', '--key', 'token'])).toBe('old-token-value');
  });

  it('checks every secret before the first write: a bad one means nothing is written', () => {
    const e = tempEnv();
    const file = join(e.configDir, 'in.yaml');
    writeFileSync(
      file,
      [
        'good1: {k: v1-secret-value}',
        'good2: {k: v2-secret-value}',
        "'bad key': {k: v3-secret-value}",
        'typed: {$schema: mysql, user: u, password: p4-secret-value, ssl_verify_server_cert: maybe}',
        'nokey: {"with space": v5-secret-value}',
        '',
      ].join('\n'),
    );
    const r = cli(e, ['import', file]);
    expectCleanError(r, 1, { message: /nothing was written: 3 secrets would not be accepted/ });
    expect(r.stderr).toContain('invalid secret name "bad key"');
    expect(r.stderr).toContain("schema 'mysql': ssl_verify_server_cert");
    expect(r.stderr).toContain('invalid secret key "with space"');
    expect(r.stderr).not.toMatch(/secret-value|maybe/);
    expect(ok(e, ['secret', 'list'])).toBe('');
  });

  it('refuses existing secrets with other content unless told, and is idempotent', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'a', '--k=1']);
    const file = join(e.configDir, 'prod.env');
    writeFileSync(file, 'K=2\n');
    ok(e, ['import', file, '--as', 'a2']);
    expect(ok(e, ['secret', 'get', 'a2', '--key', 'K'])).toBe('2');
    // The default name of an env file's secret is its base name.
    ok(e, ['import', file]);
    expect(ok(e, ['secret', 'get', 'prod', '--key', 'K'])).toBe('2');
    // Same content again: unchanged, not a conflict.
    expect(ok(e, ['import', file])).toContain('unchanged: prod');
    writeFileSync(file, 'K=3\n');
    expectFailure(cli(e, ['import', file]), 1, /already exists in .* with other content: prod/);
    expect(ok(e, ['import', file, '--on-conflict', 'skip'])).toContain('skipped (exist with other content): prod');
    expect(ok(e, ['secret', 'get', 'prod', '--key', 'K'])).toBe('2');
    ok(e, ['import', file, '--on-conflict', 'update']);
    expect(ok(e, ['secret', 'get', 'prod', '--key', 'K'])).toBe('3');
  });

  it('--as makes a flat JSON map one secret, -s gives the schema, --split is the map-of-maps default', () => {
    const e = tempEnv();
    const flat = join(e.configDir, 'flat.json');
    writeFileSync(flat, JSON.stringify({ user: 'root', password: 'pw', ssl_verify_server_cert: 'false' }));
    ok(e, ['import', flat, '--as', 'mydb', '-s', 'mysql']);
    const got = JSON.parse(ok(e, ['--json', 'secret', 'get', 'mydb'])) as Got;
    expect(got.schema).toBe('mysql');
    expect(got.data).toEqual({ user: 'root', password: 'pw', ssl_verify_server_cert: false });
    const many = join(e.configDir, 'many.yaml');
    writeFileSync(many, 'a: {k: "1"}\nb: {$schema: basic_auth, username: u, password: p}\n');
    ok(e, ['import', many, '--split']);
    expect(JSON.parse(ok(e, ['export', 'a', 'b', '--format', 'json', '--with-schema']))).toEqual({
      a: { $schema: 'arbitrary', k: '1' },
      b: { $schema: 'basic_auth', username: 'u', password: 'p' },
    });
    // A schema in the file that -s contradicts is a usage mistake, before anything is written.
    expectCleanError(cli(e, ['import', many, '-s', 'mysql', '--on-conflict', 'update']), 2, {
      message: /secret 'b' says schema 'basic_auth' in the file, not 'mysql'/,
    });
  });

  it('refuses a .env line without `=` by file and line number, never echoing it, and imports nothing', () => {
    const e = tempEnv();
    const file = join(e.configDir, 'app.env');
    writeFileSync(file, 'USER=admin\nghp_pastedAloneToken0123456789\nPASSWORD=other-secret-value\n');
    for (const [args, input] of [
      [[file]],
      [['-', '--format', 'env', '--as', 'app'], readFileSync(file, 'utf8')],
    ] as const) {
      const r = cli(e, ['import', ...args], input === undefined ? {} : { input });
      expectCleanError(r, 1, {
        message: new RegExp(
          `^Error: line 2 of ${input === undefined ? `'${file}'` : 'standard input'} is not an assignment dotenv can read`,
        ),
      });
      expect(r.stderr).not.toMatch(/pastedAlone|other-secret-value|admin/);
    }
    expect(ok(e, ['secret', 'list'])).toBe('');
  });

  it('usage mistakes exit 2 with a hint', () => {
    const e = tempEnv();
    const file = join(e.configDir, 'x.env');
    writeFileSync(file, 'A=1\n');
    expectCleanError(cli(e, ['import', file, '--split']), 2, { message: /cannot be split/ });
    expectCleanError(cli(e, ['import', '-', '--format', 'env']), 2, { message: /Pass --as NAME/ });
    expectCleanError(cli(e, ['import', '-']), 2, { message: /cannot tell the format of standard input/ });
    expectCleanError(cli(e, ['import', file, '--on-conflict', 'maybe']), 2, { message: /unknown --on-conflict/ });
    expectCleanError(cli(e, ['export', '--format', 'env', '--with-schema']), 2, {
      message: /--with-schema needs --format json or yaml/,
    });
    expectCleanError(cli(e, ['import', join(e.configDir, 'missing.json')]), 1, { message: /cannot read/ });
  });

  it('a failure half-way reports exactly which secrets were written, and a re-run finishes', () => {
    const e = tempEnv();
    ok(e, ['secrets-manager', 'flavor', 'register', resolve('test/transfer/fixtures/faulty-flavor.ts')]);
    ok(e, ['secrets-manager', 'register', 'f', '--flavor=faulty', `--path=${join(e.configDir, 'store')}`]);
    const doc = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`s${String(i).padStart(2, '0')}`, { k: `value-${i}-secret` }]),
    );
    const file = join(e.configDir, 'in.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = cli(e, ['import', file, '-m', 'f'], { env: { KEYSTACK_TEST_FAIL_AT: '3' } });
    expectFailure(
      r,
      1,
      /import stopped after writing \d+ of 12 secrets; written \(complete\): .*; not written: .*injected failure/,
    );
    expect(r.stderr).not.toContain('-secret');
    const m = /written \(complete\): ([^;]*); not written: ([^.]*)\./.exec(r.stderr);
    const written = (m?.[1] ?? '').split(', ').filter(Boolean).sort();
    const notWritten = (m?.[2] ?? '').split(', ').filter(Boolean).sort();
    expect(written.length).toBeGreaterThan(0);
    expect(notWritten.length).toBeGreaterThan(0);
    expect([...written, ...notWritten].sort()).toEqual(Object.keys(doc));
    // What the message says was written is exactly what the target holds, each secret complete.
    const after = JSON.parse(ok(e, ['--json', 'export', '-m', 'f', '--format', 'json'])) as {
      content: string;
      secrets: string[];
    };
    expect(after.secrets).toEqual(written);
    expect(JSON.parse(after.content)).toEqual(Object.fromEntries(written.map((n) => [n, doc[n]])));

    expect(ok(e, ['import', file, '-m', 'f', '--on-conflict', 'skip'])).toContain(
      `Imported ${notWritten.length} secret`,
    );
    expect(
      JSON.parse(
        (JSON.parse(ok(e, ['--json', 'export', '-m', 'f', '--format', 'json'])) as { content: string }).content,
      ),
    ).toEqual(doc);
  });
});
