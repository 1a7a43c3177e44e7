import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { arbitrarySchema, builtinSchemas, coerceValues, defineSchema, schemaFields } from '../../src/secrets/schema.js';
import { SchemaValidationError } from '../../src/errors.js';

const get = async (name: string) => (await builtinSchemas()).find((s) => s.name === name)!;

describe('built-in schemas', () => {
  it('has the fields of ZenML 0.30 (plus mysql)', async () => {
    const keys = async (n: string) => schemaFields(await get(n)).map((f) => `${f.key}${f.required ? '' : '?'}`);
    expect(await keys('aws')).toEqual(['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token?']);
    expect(await keys('gcp')).toEqual(['token']);
    expect(await keys('basic_auth')).toEqual(['username', 'password']);
    expect(await keys('azure')).toEqual([
      'account_name?',
      'account_key?',
      'sas_token?',
      'connection_string?',
      'client_id?',
      'client_secret?',
      'tenant_id?',
    ]);
    expect(await keys('mysql')).toEqual([
      'user?',
      'password?',
      'ssl_ca?',
      'ssl_cert?',
      'ssl_key?',
      'ssl_verify_server_cert?',
    ]);
    expect(schemaFields(await get('mysql')).at(-1)).toMatchObject({ type: 'boolean', default: 'false' });
  });
});

describe('coercion of CLI strings', () => {
  it('fills defaults for optional fields that are left out', async () => {
    expect(coerceValues(await get('mysql'), { user: 'u' })).toEqual({
      data: { user: 'u', ssl_verify_server_cert: false },
      values: { user: 'u', ssl_verify_server_cert: 'false' },
      types: { ssl_verify_server_cert: 'boolean' },
    });
  });

  it('converts "true"/"false" (any case, as ZenML stored them) to booleans', async () => {
    expect(coerceValues(await get('mysql'), { ssl_verify_server_cert: 'True' }).data).toMatchObject({
      ssl_verify_server_cert: true,
    });
  });

  const issues = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(SchemaValidationError);
      return (e as SchemaValidationError).issues;
    }
    throw new Error('expected a SchemaValidationError');
  };

  it('names a missing required field', async () => {
    const aws = await get('aws');
    expect(issues(() => coerceValues(aws, { aws_access_key_id: 'x' }))).toEqual([
      { key: 'aws_secret_access_key', message: 'required field is missing' },
    ]);
  });

  it('names the field and the expected type, never the value', async () => {
    const mysql = await get('mysql');
    const found = issues(() => coerceValues(mysql, { ssl_verify_server_cert: 'sup3rs3cret' }));
    expect(found).toEqual([{ key: 'ssl_verify_server_cert', message: 'expected a boolean ("true" or "false")' }]);
    expect(JSON.stringify(found)).not.toContain('sup3rs3cret');
  });

  it('rejects keys a typed schema does not declare', async () => {
    const basic = await get('basic_auth');
    expect(issues(() => coerceValues(basic, { username: 'u', password: 'p', port: '1' }))[0]).toMatchObject({
      key: 'port',
    });
  });

  it('converts numbers and keeps zod checks, without echoing input', () => {
    const s = defineSchema('svc', z.object({ port: z.number().int().min(1), token: z.string().startsWith('sk-') }));
    expect(coerceValues(s, { port: '443', token: 'sk-abc' }).data).toEqual({ port: 443, token: 'sk-abc' });
    expect(issues(() => coerceValues(s, { port: 'eighty', token: 'sk-abc' }))).toEqual([
      { key: 'port', message: 'expected a number' },
    ]);
    const bad = issues(() => coerceValues(s, { port: '0', token: 'pk-secretvalue' }));
    expect(bad.map((i) => i.key)).toEqual(['port', 'token']);
    expect(JSON.stringify(bad)).not.toContain('pk-secretvalue');
  });

  it('keeps arbitrary values as strings', () => {
    expect(coerceValues(arbitrarySchema, { a: 'true', b: '1' }).data).toEqual({ a: 'true', b: '1' });
  });
});
