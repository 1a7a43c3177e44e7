// Key material hygiene (issue 8 §5): KEYSTACK_LOCAL_KEY decoded strictly, a minimum passphrase
// length, and the aws flavor leaving process.env alone.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID, scryptSync } from 'node:crypto';
import Database from 'better-sqlite3';
import { Keystack } from '../../src/stack/client.js';
import { KeystackError } from '../../src/errors.js';
import { MIN_PASSPHRASE_LENGTH } from '../../src/flavors/local/key.js';
import aws from '../../src/flavors/aws.js';
import { SecretsManager } from '../../src/core/manager.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { requireEnv } from '../support/fake-http.js';
import { cli, tempEnv } from '../support/cli.js';

const opened: Keystack[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((k) => k.close()));
});

function open(
  env: Record<string, string>,
  configDir = join(mkdtempSync(join(tmpdir(), 'ks-hyg-')), 'cfg'),
  warnings: string[] = [],
): Keystack {
  const k = new Keystack({ configDir, env, onWarning: (m) => warnings.push(m) });
  opened.push(k);
  return k;
}

async function configError(k: Keystack): Promise<KeystackError> {
  const err = await (await k.secretsManager()).register('a', { k: 'value-1' }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeystackError);
  expect((err as KeystackError).code).toBe('config');
  return err as KeystackError;
}

const KEY = Buffer.alloc(32, 1).toString('base64');

describe('KEYSTACK_LOCAL_KEY is decoded strictly', () => {
  it.each([
    ['junk after the key', `${KEY}!`],
    ['a space inside', `${KEY.slice(0, 20)} ${KEY.slice(20)}`],
    ['a trailing newline', `${KEY}\n`],
    ['base64url characters', Buffer.alloc(32, 0xfb).toString('base64url')],
    ['two keys back to back (64 bytes that decode as 32)', `${KEY}${KEY}`],
    ['a key without its padding', KEY.replace(/=+$/, '')],
  ])('refuses %s', async (_label, value) => {
    const err = await configError(open({ KEYSTACK_LOCAL_KEY: value }));
    expect(err.message).toBe('KEYSTACK_LOCAL_KEY is not valid base64');
    expect(err.hint).toContain('exactly 32 bytes');
    expect(`${err.message} ${err.hint}`).not.toContain(value.trim());
  });

  it.each([
    ['a short key', 16],
    ['a long key', 48],
  ])('refuses %s, naming its length', async (_label, bytes) => {
    const err = await configError(open({ KEYSTACK_LOCAL_KEY: Buffer.alloc(bytes, 2).toString('base64') }));
    expect(err.message).toBe(`KEYSTACK_LOCAL_KEY must be 32 bytes encoded as base64, not ${bytes}`);
  });

  it('accepts exactly 32 bytes of standard base64', async () => {
    const sm = await open({ KEYSTACK_LOCAL_KEY: Buffer.alloc(32, 0xfb).toString('base64') }).secretsManager();
    await sm.register('a', { k: 'value-1' });
    expect((await sm.get('a')).values).toEqual({ k: 'value-1' });
  });
});

describe('KEYSTACK_PASSPHRASE', () => {
  it(`is refused for a new store when shorter than ${MIN_PASSPHRASE_LENGTH} characters`, async () => {
    expect(MIN_PASSPHRASE_LENGTH).toBe(12);
    const err = await configError(open({ KEYSTACK_PASSPHRASE: 'elevenchars' }));
    expect(err.message).toBe('KEYSTACK_PASSPHRASE must be at least 12 characters long');
    expect(err.hint).not.toContain('elevenchars');
    // Characters, not bytes: twelve two-byte characters are enough.
    const sm = await open({ KEYSTACK_PASSPHRASE: 'ééééééééééé' + 'é' }).secretsManager();
    await sm.register('a', { k: 'value-1' });
  });

  it('still opens a store that was sealed with a shorter one, with a warning', async () => {
    // A store made before the minimum existed: its key is scrypt('short', salt). It is built here
    // with that key given as KEYSTACK_LOCAL_KEY, then marked as passphrase-derived.
    const salt = randomBytes(16);
    const key = scryptSync('short', salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const dir = join(mkdtempSync(join(tmpdir(), 'ks-hyg-')), 'cfg');
    await (await open({ KEYSTACK_LOCAL_KEY: key.toString('base64') }, dir).secretsManager()).register('a', {
      k: 'value-1',
    });
    await Promise.all(opened.splice(0).map((k) => k.close()));
    const db = new Database(join(dir, 'local_stores', 'secrets.db'));
    db.prepare("INSERT INTO meta (k, v) VALUES ('kdf_salt', ?)").run(salt);
    db.prepare("UPDATE meta SET v = ? WHERE k = 'key_source'").run(Buffer.from('passphrase'));
    db.close();

    const warnings: string[] = [];
    const sm = await open({ KEYSTACK_PASSPHRASE: 'short' }, dir, warnings).secretsManager();
    expect((await sm.get('a')).values).toEqual({ k: 'value-1' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^KEYSTACK_PASSPHRASE for \S+ is shorter than 12 characters; new stores refuse it/);
  });
});

describe('the scrypt cache', () => {
  it('does not keep the passphrase alive once the client that used it is closed', () => {
    // In a fresh process, so that nothing else in it has seen the passphrase.
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/security/fixtures/heap-probe.mts'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('ABSENT');
  });
});

describe('the aws flavor and process.env', () => {
  const endpoint = requireEnv('AWS_SM_ENDPOINT', 'the moto server (AWS Secrets Manager emulator)');
  const VAR = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

  it('creates its client without writing to process.env, and the SDK notice stays off', async () => {
    Reflect.deleteProperty(process.env, VAR);
    const notices: string[] = [];
    const listener = (w: Error) => notices.push(w.message);
    process.on('warning', listener);
    const m = new SecretsManager({
      record: {
        uuid: randomUUID(),
        name: 'aws_env',
        flavor: 'aws',
        config: { region_name: 'us-east-1', endpoint_url: endpoint, scope: 'none', scope_prefix: 'keystack' },
      },
      flavor: aws,
      configDir: mkdtempSync(join(tmpdir(), 'ks-aws-env-')),
      env: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' },
      schemas: createSchemaRegistry(),
    });
    try {
      await m.list();
      expect(Object.hasOwn(process.env, VAR)).toBe(false);
      await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
      expect(notices.join('\n')).not.toContain('NodeVersionSupportWarning');
    } finally {
      process.off('warning', listener);
      await m.close();
    }
  });

  it('through the CLI, prints no SDK notice', () => {
    const e = tempEnv({ AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' });
    expect(
      cli(e, [
        'secrets-manager',
        'register',
        'a',
        '--flavor=aws',
        '--region_name=us-east-1',
        `--endpoint_url=${endpoint}`,
        '--scope=none',
      ]).status,
    ).toBe(0);
    expect(cli(e, ['stack', 'register', 's', '-x', 'a', '--set']).status).toBe(0);
    const r = cli(e, ['secret', 'list']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('NodeVersionSupportWarning');
  });
});
