import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Keystack, SecretNotFoundError, basicAuthSchema, defineSchema, mysqlSchema } from '../src/index.js';

const ks = new Keystack({ configDir: join(mkdtempSync(join(tmpdir(), 'ks-lib-')), 'cfg'), env: {} });
afterAll(() => ks.close());

describe('library API', () => {
  it('does everything the CLI does, with typed secrets for typed schemas', async () => {
    const sm = await ks.secretsManager();
    expect(sm.name).toBe('default');
    await sm.register('db', { username: 'u', password: 'p' }, { schema: basicAuthSchema });
    const typed = await sm.get('db', basicAuthSchema);
    expectTypeOf(typed.data).toEqualTypeOf<{ username: string; password: string }>();
    expect(typed.data).toEqual({ username: 'u', password: 'p' });

    await sm.register('my', { user: 'root' }, { schema: 'mysql' });
    const my = await sm.get('my', mysqlSchema);
    expectTypeOf(my.data.ssl_verify_server_cert).toEqualTypeOf<boolean>();
    expect(my.data.ssl_verify_server_cert).toBe(false);

    await sm.update('db', { username: 'u2', password: 'p2' });
    expect((await sm.get('db')).schema).toBe('basic_auth');
    await sm.patch('db', { set: { password: 'p3' } });
    expect((await sm.get('db', basicAuthSchema)).data.password).toBe('p3');
    expect(await sm.list()).toEqual(['db', 'my']);
    await sm.delete('my');
    await expect(sm.get('my')).rejects.toBeInstanceOf(SecretNotFoundError);
    expect(await sm.deleteAll()).toBe(1);
  });

  it('gets managers by name, registers new ones, and supports user schemas', async () => {
    await ks.registerSecretsManager({ name: 'team', flavor: 'local', config: { scope: 'namespace', namespace: 'ml' } });
    const team = await ks.secretsManager('team');
    expect(team.scope).toMatchObject({ scope: 'namespace', namespace: 'ml' });
    const token = defineSchema('token', z.object({ token: z.string(), ttl: z.number().default(3600) }));
    await team.register('t', { token: 'abc' }, { schema: token });
    const got = await team.get('t', token);
    expectTypeOf(got.data).toEqualTypeOf<{ token: string; ttl: number }>();
    expect(got.data).toEqual({ token: 'abc', ttl: 3600 });
    await expect(team.get('t', basicAuthSchema)).rejects.toMatchObject({
      code: 'schema_validation',
      hint: expect.stringContaining('--schema=basic_auth'),
    });
  });
});
