/**
 * `keystack secret set` (create or merge), `keystack read NAME.KEY` and `keystack secret get
 * NAME.KEY` (issue 23), end to end on the built binary.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, inPty, tempEnv, type CliEnv } from '../support/cli.js';

function ok(e: CliEnv, args: string[], input?: string): string {
  const r = cli(e, args, input === undefined ? {} : { input });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('keystack secret set', () => {
  it('creates the secret, then merges into it on the next run, never printing a value', () => {
    const e = tempEnv();
    const first = cli(e, ['secret', 'set', 'db', '--user=admin', '--password=@-'], { input: 'set-pw-9921' });
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain("Created secret 'db'");
    const again = cli(e, ['--json', 'secret', 'set', 'db', '--password=@-', '--host=h', '--remove-key', 'user'], {
      input: 'set-pw-9922',
    });
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({
      name: 'db',
      schema: 'arbitrary',
      created: false,
      keys: ['password', 'host'],
      set: ['password', 'host'],
      removed: ['user'],
      manager: 'default',
      scope: 'component',
    });
    for (const r of [first, again]) expect(r.stdout + r.stderr).not.toMatch(/set-pw-99/);
    expect(ok(e, ['secret', 'get', 'db', '--key', 'password'])).toBe('set-pw-9922');
    expect(ok(e, ['secret', 'set', 'db', '--port=1'])).toContain("Updated secret 'db'");
  });

  it('reports created: true with --json, and honours -s on create but refuses another schema for an existing secret', () => {
    const e = tempEnv();
    const created = JSON.parse(
      ok(e, ['--json', 'secret', 'set', 'cloud', '-s', 'aws', '--aws_access_key_id=AK', '--aws_secret_access_key=SK']),
    );
    expect(created).toMatchObject({ name: 'cloud', schema: 'aws', created: true, removed: [] });
    const other = cli(e, ['secret', 'set', 'cloud', '-s', 'gcp', '--x=1']);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain("secret 'cloud' exists with schema 'aws', not 'gcp'");
    expect(JSON.parse(ok(e, ['--json', 'secret', 'get', 'cloud'])).values).toEqual({
      aws_access_key_id: 'AK',
      aws_secret_access_key: 'SK',
    });
  });

  it('needs a value (exit 2) and takes -m like the other secret commands', () => {
    const e = tempEnv();
    const none = cli(e, ['secret', 'set', 'db', '--remove-key', 'a']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain("no values given for secret 'db'");
    ok(e, ['secrets-manager', 'register', 'team', '-f', 'local']);
    ok(e, ['secret', 'set', 'db', '--a=1', '-m', 'team']);
    expect(ok(e, ['secret', 'list', '-m', 'team'])).toBe('db\n');
    expect(ok(e, ['secret', 'list'])).toBe('');
  });
});

describe('keystack read', () => {
  const e = tempEnv();
  ok(e, ['secret', 'register', 'db', '--password=@-', '--tls.cert=C'], 'read-pw-4410');

  it('prints the raw value of NAME.KEY or {{NAME.KEY}} (no newline when stdout is not a terminal)', () => {
    expect(ok(e, ['read', 'db.password'])).toBe('read-pw-4410');
    expect(ok(e, ['read', '{{db.password}}'])).toBe('read-pw-4410');
    // The name ends at the first '.', so a key may contain one.
    expect(ok(e, ['read', 'db.tls.cert'])).toBe('C');
    expect(JSON.parse(ok(e, ['--json', 'read', 'db.password', '--stack', 'default']))).toEqual({
      name: 'db',
      key: 'password',
      value: 'read-pw-4410',
    });
  });

  it('adds a newline in a terminal, as secret get --key does', () => {
    const r = inPty(e, ['read', 'db.password'], []);
    expect(r.stdout).toMatch(/read-pw-4410\r?\n/);
  });

  it('refuses a malformed reference with a usage error naming NAME.KEY', () => {
    for (const ref of ['db', 'db.', '.password', '{{db.password', '{{ db.password }}']) {
      const r = cli(e, ['read', ref]);
      expect(r.status, ref).toBe(2);
      expect(r.stderr).toContain('expected NAME.KEY');
    }
  });

  it('names the missing key, secret or version without printing a value', () => {
    const key = cli(e, ['read', 'db.nope']);
    expect(key.status).toBe(1);
    expect(key.stderr).toContain("secret 'db' has no key 'nope'");
    expect(key.stderr).toContain('password');
    expect(key.stderr).not.toContain('read-pw-4410');
    const pinned = cli(e, ['read', 'db@3.password']);
    expect(pinned.status).toBe(1);
    expect(pinned.stderr).toMatch(/secret 'db' .* has no version 3/);
    expect(pinned.stderr).toContain('Readable versions: ');
    expect(pinned.stderr).not.toContain('read-pw-4410');
  });
});

describe('keystack secret get NAME.KEY', () => {
  it('is `secret get NAME --key KEY` when NAME has the key, else an error whose hint suggests --key', () => {
    const e = tempEnv();
    ok(e, ['secret', 'register', 'db', '--password=@-'], 'get-pw-5531');
    expect(ok(e, ['secret', 'get', 'db.password'])).toBe('get-pw-5531');
    expect(JSON.parse(ok(e, ['--json', 'secret', 'get', 'db.password']))).toEqual({
      name: 'db',
      key: 'password',
      value: 'get-pw-5531',
    });
    const key = cli(e, ['secret', 'get', 'db.nope']);
    expect(key.status).toBe(1);
    expect(key.stderr).toContain("secret 'db' has no key 'nope'");
    expect(key.stderr).toContain('`keystack secret get db --key KEY`');
    const secret = cli(e, ['secret', 'get', 'nodb.password']);
    expect(secret.status).toBe(1);
    expect(secret.stderr).toContain("neither secret 'nodb.password' nor secret 'nodb'");
    expect(secret.stderr).toContain('--key KEY');
    expect(secret.stderr).not.toContain('Pick another secret name');
  });

  it("reads a secret literally named NAME.KEY first where the flavor allows '.' in names", () => {
    const e = tempEnv();
    const dir = mkdtempSync(join(tmpdir(), 'keystack-dotted-'));
    const module = join(dir, 'dotted.mjs');
    writeFileSync(module, dottedFlavor(join(dir, 'store.json')));
    ok(e, ['secrets-manager', 'flavor', 'register', module]);
    ok(e, ['secrets-manager', 'register', 'dots', '--flavor=dotted']);
    ok(e, ['stack', 'register', 'ds', '-x', 'dots', '--set']);
    ok(e, ['secret', 'register', 'db', '--password=from-db-key']);
    ok(e, ['secret', 'register', 'db.password', '--v=from-dotted-secret']);
    const exact = JSON.parse(ok(e, ['--json', 'secret', 'get', 'db.password']));
    expect(exact).toMatchObject({ name: 'db.password', values: { v: 'from-dotted-secret' } });
    expect(ok(e, ['secret', 'get', 'db.password', '--key', 'v'])).toBe('from-dotted-secret');
    ok(e, ['secret', 'delete', 'db.password', '-y']);
    expect(ok(e, ['secret', 'get', 'db.password'])).toBe('from-db-key');
  });
});

/** A plain-module flavor over one JSON file whose names may contain '.', as aws and vault allow. */
function dottedFlavor(file: string): string {
  return `import { existsSync, readFileSync, writeFileSync } from 'node:fs';
const FILE = ${JSON.stringify(file)};
const load = () => (existsSync(FILE) ? JSON.parse(readFileSync(FILE, 'utf8')) : {});
const save = (m) => writeFileSync(FILE, JSON.stringify(m));
export const f = {
  kind: 'keystack.flavor', name: 'dotted', description: 'names with dots', supportsScoping: false, separator: '/',
  nameRule: { pattern: /[a-z0-9_.]+/, maxLength: 64, dots: true, description: 'lowercase, digits, _ and .' },
  maxContentBytes: 65536, capabilities: { readValues: true }, dependencies: {}, isLocal: true, config: {},
  create: () => ({
    async create(n, s) { const m = load(); if (m[n]) return false; m[n] = s; save(m); return true; },
    async get(n) { return load()[n] ?? null; },
    async list() { return Object.keys(load()); },
    async update(n, s) { const m = load(); if (!m[n]) return false; m[n] = s; save(m); return true; },
    async delete(n) { const m = load(); if (!m[n]) return false; delete m[n]; save(m); return true; },
  }),
};
`;
}
