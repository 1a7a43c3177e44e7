/** `secrets-manager backup` / `restore`: a local store with its key, sealed with a passphrase. */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, inPty, tempEnv, type CliEnv, type CliResult } from '../support/cli.js';

const PASS = { KEYSTACK_BACKUP_PASSPHRASE: 'correct horse battery staple' };
const VALUE = 'backup-value-Zq81xw';
const TYPED = 'typed-secret-Pk29ur';

function ok(e: CliEnv, args: string[], env: Record<string, string> = PASS, input?: string): CliResult {
  const r = cli(e, args, { env, ...(input === undefined ? {} : { input }) });
  expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}
const storeDir = (e: CliEnv) => join(e.env['KEYSTACK_CONFIG_DIR'] ?? '', 'local_stores');
const mode = (f: string) => statSync(f).mode & 0o777;

/** Every output of a command, and every form of the values that must never be in it. */
function expectNoValues(...outputs: (CliResult | string)[]): void {
  for (const o of outputs) {
    const text = typeof o === 'string' ? o : o.stdout + o.stderr;
    for (const v of [VALUE, TYPED, PASS.KEYSTACK_BACKUP_PASSPHRASE]) {
      for (const form of [v, Buffer.from(v).toString('base64'), Buffer.from(v).toString('hex'), encodeURIComponent(v)])
        expect(text).not.toContain(form);
    }
  }
}

function withSecrets(): CliEnv {
  const e = tempEnv();
  ok(e, ['secret', 'register', 'db', '--username=admin', '--password=@-'], {}, VALUE);
  ok(e, ['secret', 'register', 'my', '-s', 'mysql', '--password=@-', '--ssl_verify_server_cert=true'], {}, TYPED);
  return e;
}

describe('secrets-manager backup and restore', () => {
  it('round trip: backup 0600 with no value in it or in any output; restore on a new machine with the same manager id', () => {
    const e = withSecrets();
    const out = join(e.configDir, 'keystack.backup');
    const b = ok(e, ['secrets-manager', 'backup', '--out', out]);
    expect(b.stdout).toContain('Backed up 2 secrets');
    expect(mode(out)).toBe(0o600);
    const file = readFileSync(out, 'utf8');
    expect(JSON.parse(file)).toMatchObject({
      format: 'keystack-local-backup',
      manager: 'default',
      secrets: 2,
      keySource: 'key-file',
    });
    expectNoValues(b, file);
    // The key file's bytes are not in the backup in any plain form either.
    const key = readFileSync(join(storeDir(e), 'secrets.db.key'));
    expect(file).not.toContain(key.toString('base64'));
    expect(file).not.toContain(key.toString('hex'));
    const id = (JSON.parse(ok(e, ['--json', 'secrets-manager', 'describe']).stdout) as { id: string }).id;

    const fresh = tempEnv();
    const r = ok(fresh, ['secrets-manager', 'restore', '--from', out]);
    expect(r.stdout).toContain('Restored 2 secrets');
    expect(r.stderr).toContain(`keystack secrets-manager register default_restored -f local --uuid=${id}`);
    expectNoValues(r);
    for (const f of ['secrets.db', 'secrets.db.key']) expect(mode(join(storeDir(fresh), f))).toBe(0o600);
    ok(fresh, ['secrets-manager', 'register', 'default_restored', '-f', 'local', `--uuid=${id}`], {});
    ok(fresh, ['stack', 'register', 'restored', '-x', 'default_restored', '--set'], {});
    expect(JSON.parse(ok(fresh, ['--json', 'secret', 'get', 'my'], {}).stdout)).toMatchObject({
      schema: 'mysql',
      data: { password: TYPED, ssl_verify_server_cert: true },
    });
  });

  it('restores over the same store with -f, moving the current files aside', () => {
    const e = withSecrets();
    const out = join(e.configDir, 'b.json');
    ok(e, ['secrets-manager', 'backup', 'default', '-o', out]);
    ok(e, ['secret', 'delete', 'db', '-y'], {});
    const r = ok(e, ['--json', 'secrets-manager', 'restore', 'default', '--from', out, '-f']);
    const data = JSON.parse(r.stdout) as { secrets: number; movedAside: string[] };
    expect(data.secrets).toBe(2);
    expect(data.movedAside.map((p) => p.replace(/.*\//, '').replace(/replaced-.*/, 'replaced'))).toEqual(
      expect.arrayContaining(['secrets.db.replaced', 'secrets.db.key.replaced']),
    );
    for (const p of data.movedAside) expect(mode(p)).toBe(0o600);
    expect(ok(e, ['secret', 'get', 'db', '--key', 'password'], {}).stdout).toBe(VALUE);
    expect(r.stderr).toBe('');
  });

  it('a wrong passphrase or an altered file changes nothing', () => {
    const e = withSecrets();
    const out = join(e.configDir, 'b.json');
    ok(e, ['secrets-manager', 'backup', '-o', out]);
    const fresh = tempEnv();
    const wrong = cli(fresh, ['secrets-manager', 'restore', '--from', out], {
      env: { KEYSTACK_BACKUP_PASSPHRASE: 'wrong horse battery staple' },
    });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(
      /^Error: cannot decrypt .*: wrong passphrase, or the file was altered; nothing was changed\nHint: /,
    );
    expect(existsSync(join(storeDir(fresh), 'secrets.db'))).toBe(false);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { data: string; secrets: number };
    writeFileSync(out, JSON.stringify({ ...doc, secrets: 3 }));
    expect(cli(fresh, ['secrets-manager', 'restore', '--from', out], { env: PASS }).stderr).toContain(
      'wrong passphrase, or the file was altered',
    );
    expect(existsSync(join(storeDir(fresh), 'secrets.db'))).toBe(false);
    expectNoValues(wrong);
  });

  it('never overwrites a backup file or a store without -f', () => {
    const e = withSecrets();
    const out = join(e.configDir, 'b.json');
    writeFileSync(out, 'mine');
    const b = cli(e, ['secrets-manager', 'backup', '-o', out], { env: PASS });
    expect(b.status).toBe(1);
    expect(b.stderr).toMatch(/already exists\nHint: Pass -f/);
    expect(readFileSync(out, 'utf8')).toBe('mine');
    ok(e, ['secrets-manager', 'backup', '-o', out, '-f']);
    expect(mode(out)).toBe(0o600);
    const before = readdirSync(storeDir(e)).sort();
    const r = cli(e, ['secrets-manager', 'restore', '--from', out], { env: PASS });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/a local store is already at .*; nothing was changed\nHint: Pass -f/);
    expect(readdirSync(storeDir(e)).sort()).toEqual(before);
  });

  it('needs a passphrase of 12 characters or more, from the environment or a hidden prompt', () => {
    const e = withSecrets();
    const out = join(e.configDir, 'b.json');
    const none = cli(e, ['secrets-manager', 'backup', '-o', out]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('Hint: Set KEYSTACK_BACKUP_PASSPHRASE');
    const short = cli(e, ['secrets-manager', 'backup', '-o', out], { env: { KEYSTACK_BACKUP_PASSPHRASE: 'short' } });
    expect(short.status).toBe(1);
    expect(short.stderr).toContain('at least 12 characters');
    expect(existsSync(out)).toBe(false);
    const typed = 'typed passphrase words';
    const pty = inPty(
      e,
      ['secrets-manager', 'backup', '-o', out],
      [
        { expect: 'Backup passphrase', send: `${typed}\r` },
        { expect: 'same passphrase again', send: `${typed}\r` },
      ],
    );
    expect(pty.status, pty.stdout).toBe(0);
    expect(pty.stdout).not.toContain(typed);
    expect(
      ok(tempEnv(), ['secrets-manager', 'restore', '--from', out], { KEYSTACK_BACKUP_PASSPHRASE: typed }).stdout,
    ).toContain('Restored 2 secrets');
  });

  it('refuses a manager that is not local', () => {
    const e = tempEnv();
    ok(e, ['secrets-manager', 'register', 'v', '-f', 'vault', '--url=http://127.0.0.1:1'], {});
    const r = cli(e, ['secrets-manager', 'backup', 'v', '-o', join(e.configDir, 'b')], { env: PASS });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/has flavor vault; backup and restore are for local stores\nHint: /);
  });
});
