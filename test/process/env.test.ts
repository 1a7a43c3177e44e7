import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  envName,
  inject,
  Keystack,
  MissingSecretsError,
  resolveEnv,
  resolveReferences,
  type SecretsManager,
} from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'keystack-env-'));
const ks = new Keystack({ configDir: join(dir, 'config'), env: {} });
let sm: SecretsManager;
beforeAll(async () => {
  sm = await ks.secretsManager();
  await sm.register('db', { user: 'admin', password: 'pw-1234' });
  await sm.register('api', { token: 'tok-5678', 'x.y': 'dotted' });
});
afterAll(() => ks.close());

describe('envName', () => {
  it('is NAME_KEY upper-cased with other characters replaced by _, and never starts with a digit', () => {
    expect(envName('db', 'password')).toBe('DB_PASSWORD');
    expect(envName('my-api', 'token.v2')).toBe('MY_API_TOKEN_V2');
    expect(envName('db', 'pass', 'APP_')).toBe('APP_DB_PASS');
    expect(envName('1db', 'k')).toBe('_1DB_K');
    expect(envName('café', 'ключ')).toBe('CAF______');
  });
});

describe('resolveReferences', () => {
  it('reads each secret once however often it is referenced, with its version, and reports every problem', async () => {
    // getVersioned is one backend call that also names the version read: no call more than a plain get.
    const get = vi.spyOn(sm, 'getVersioned');
    const plain = vi.spyOn(sm, 'get');
    const r = await resolveReferences(sm, [
      { name: 'db', key: 'user' },
      { name: 'db', key: 'password' },
      { name: 'db' },
      { name: 'api', key: 'nope' },
      { name: 'ghost', key: 'a' },
      { name: 'ghost', key: 'a' },
    ]);
    expect(get).toHaveBeenCalledTimes(3);
    expect(plain).not.toHaveBeenCalled();
    get.mockRestore();
    plain.mockRestore();
    expect(r.fetches).toBe(3);
    expect(Object.fromEntries(r.values)).toEqual({ '{{db.user}}': 'admin', '{{db.password}}': 'pw-1234' });
    expect(r.problems).toEqual([
      { name: 'api', key: 'nope', reason: 'missing_key' },
      { name: 'ghost', key: 'a', reason: 'missing_secret' },
    ]);
  });

  it('a backend failure is thrown, not reported as missing', async () => {
    const get = vi.spyOn(sm, 'getVersioned').mockRejectedValueOnce(new Error('network down'));
    await expect(resolveReferences(sm, [{ name: 'db', key: 'user' }])).rejects.toThrow('network down');
    get.mockRestore();
  });
});

describe('resolveEnv', () => {
  it('combines env files, vars and whole secrets; touches the manager only when something refers to it', async () => {
    const file = join(dir, '.env');
    writeFileSync(file, 'A={{db.password}}\nB=plain\n');
    const r = await resolveEnv(sm, {
      envFiles: [file],
      vars: { C: '{{api.token}}' },
      secrets: [{ name: 'db' }],
      prefix: 'X_',
    });
    expect(r.env).toEqual({ A: 'pw-1234', B: 'plain', C: 'tok-5678', X_DB_USER: 'admin', X_DB_PASSWORD: 'pw-1234' });
    expect(r.secretVars.sort()).toEqual(['A', 'C', 'X_DB_PASSWORD', 'X_DB_USER']);
    expect(r.fetches).toBe(2);
    const lazy = vi.fn(() => Promise.resolve(sm));
    expect((await resolveEnv(lazy, { vars: { P: 'plain' } })).env).toEqual({ P: 'plain' });
    expect(lazy).not.toHaveBeenCalled();
  });

  it('throws one MissingSecretsError that lists all missing references, and no value', async () => {
    const err = await resolveEnv(sm, {
      vars: { A: '{{db.nokey}}', B: '{{ghost.k}}' },
      secrets: [{ name: 'gone' }],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingSecretsError);
    expect((err as MissingSecretsError).missing).toHaveLength(3);
    expect((err as Error).message).not.toMatch(/pw-1234|admin/);
  });
});

describe('inject', () => {
  it('replaces references anywhere in the text, values with $ patterns literally', async () => {
    await sm.register('dollar', { v: '$& $1 $$' });
    const r = await inject(sm, 'a {{dollar.v}} b {{db.user}} {{ db.user }} {{api.x.y}}');
    expect(r.text).toBe('a $& $1 $$ b admin {{ db.user }} dotted');
    expect(r.references).toHaveLength(3);
  });
});
