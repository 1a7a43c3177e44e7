import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Keystack } from '../../src/stack/client.js';
import { KeystackError } from '../../src/errors.js';

const opened: Keystack[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((k) => k.close()));
});

function open(configDir: string, env: Record<string, string> = {}): Keystack {
  const k = new Keystack({ configDir, env });
  opened.push(k);
  return k;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

function encodings(v: string): string[] {
  const b = Buffer.from(v);
  return [v, b.toString('base64'), b.toString('base64url'), b.toString('hex'), JSON.stringify(v)];
}

describe('the local store at rest', () => {
  it('never writes a value, nor its base64 form, to any file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-rest-'));
    const ks = open(join(dir, 'cfg'));
    const sm = await ks.secretsManager();
    const values = Array.from({ length: 20 }, () => `VALUE-${randomBytes(12).toString('hex')}`);
    for (const [i, v] of values.entries()) await sm.register(`s${i}`, { password: v, note: `${v}-note` });
    await sm.update('s0', { password: values[1]! });
    await sm.delete('s2');
    const check = () => {
      const files = filesUnder(dir);
      expect(files.some((f) => f.endsWith('-wal')) || files.length > 0).toBe(true);
      for (const f of files) {
        const bytes = readFileSync(f);
        for (const v of values)
          for (const enc of encodings(v)) expect(bytes.includes(enc), `${enc} found in ${f}`).toBe(false);
      }
    };
    check(); // with the WAL still open
    await ks.close();
    check();
  });

  it('creates directories 0700 and files 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-mode-'));
    const cfg = join(dir, 'nested', 'cfg');
    const ks = open(cfg);
    await (await ks.secretsManager()).register('a', { k: 'v' });
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(join(dir, 'nested'))).toBe(0o700);
    expect(mode(cfg)).toBe(0o700);
    expect(mode(join(cfg, 'local_stores'))).toBe(0o700);
    const files = filesUnder(cfg);
    expect(files.map((f) => f.slice(cfg.length))).toEqual(
      expect.arrayContaining(['/config.db', '/local_stores/secrets.db', '/local_stores/secrets.db.key']),
    );
    for (const f of files) expect(mode(f), f).toBe(0o600);
  });

  it('fails to decrypt a row copied onto another name or scope, instead of returning the wrong secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ks-aad-'));
    const ks = open(join(dir, 'cfg'));
    const sm = await ks.secretsManager();
    await sm.register('alice', { password: 'alice-pw-1234' });
    await sm.register('bob', { password: 'bob-pw-5678' });
    await ks.close();
    const db = new Database(join(dir, 'cfg', 'local_stores', 'secrets.db'));
    db.prepare("UPDATE secrets SET data = (SELECT data FROM secrets WHERE name = 'alice') WHERE name = 'bob'").run();
    db.prepare(
      "INSERT INTO secrets (scope, name, data, created_at, updated_at) SELECT 'keystack/global', name, data, created_at, updated_at FROM secrets WHERE name = 'alice'",
    ).run();
    db.close();
    const ks2 = open(join(dir, 'cfg'));
    const sm2 = await ks2.secretsManager();
    await expect(sm2.get('bob')).rejects.toMatchObject({
      code: 'backend',
      message: expect.stringContaining('integrity check'),
    });
    expect((await sm2.get('alice')).values).toEqual({ password: 'alice-pw-1234' });
    await ks2.registerSecretsManager({ name: 'g', flavor: 'local', config: { scope: 'global' } });
    await expect((await ks2.secretsManager('g')).get('alice')).rejects.toMatchObject({ code: 'backend' });
  });

  it('gives a clear error for a wrong key, a wrong passphrase, a lost key file and a malformed key', async () => {
    const key = (b: number) => Buffer.alloc(32, b).toString('base64');
    const expectConfig = async (k: Keystack, pattern: RegExp) => {
      const err = await (await k.secretsManager()).list().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KeystackError);
      expect((err as KeystackError).code).toBe('config');
      expect(`${(err as KeystackError).message} ${(err as KeystackError).hint}`).toMatch(pattern);
    };

    const d1 = join(mkdtempSync(join(tmpdir(), 'ks-key-')), 'cfg');
    await (await open(d1, { KEYSTACK_LOCAL_KEY: key(1) }).secretsManager()).register('a', { k: 'v' });
    await expectConfig(open(d1, { KEYSTACK_LOCAL_KEY: key(2) }), /wrong key.*KEYSTACK_LOCAL_KEY/s);
    await expectConfig(open(d1), /KEYSTACK_LOCAL_KEY/);
    await expectConfig(open(d1, { KEYSTACK_LOCAL_KEY: 'c2hvcnQ=' }), /32 bytes/);
    expect((await (await open(d1, { KEYSTACK_LOCAL_KEY: key(1) }).secretsManager()).get('a')).values).toEqual({
      k: 'v',
    });

    const d2 = join(mkdtempSync(join(tmpdir(), 'ks-pass-')), 'cfg');
    await (await open(d2, { KEYSTACK_PASSPHRASE: 'correct horse' }).secretsManager()).register('a', { k: 'v' });
    await expectConfig(open(d2, { KEYSTACK_PASSPHRASE: 'battery staple' }), /wrong key.*KEYSTACK_PASSPHRASE/s);
    expect((await (await open(d2, { KEYSTACK_PASSPHRASE: 'correct horse' }).secretsManager()).get('a')).values).toEqual(
      { k: 'v' },
    );

    const d3 = join(mkdtempSync(join(tmpdir(), 'ks-file-')), 'cfg');
    const k3 = open(d3);
    await (await k3.secretsManager()).register('a', { k: 'v' });
    await k3.close();
    rmSync(join(d3, 'local_stores', 'secrets.db.key'));
    await expectConfig(open(d3), /key.*missing.*backup/s);
  });
});
