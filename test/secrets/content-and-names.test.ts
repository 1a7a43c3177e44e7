import { describe, expect, it } from 'vitest';
import { decodeContent, encodeContent, fromPayload } from '../../src/secrets/content.js';
import { validateSecretKey, validateSecretName } from '../../src/secrets/names.js';
import { InvalidNameError } from '../../src/errors.js';

describe('secret content', () => {
  it('stores the schema under the reserved key next to the values', () => {
    expect(JSON.parse(encodeContent({ schema: 'aws', values: { a: '1' } }, 'zenml'))).toEqual({
      a: '1',
      zenml_schema_name: 'aws',
    });
    expect(decodeContent('{"a":"1","keystack_schema_name":"mysql"}', 'keystack')).toEqual({
      schema: 'mysql',
      values: { a: '1' },
    });
  });

  it('reads ZenML payloads with non-string values and a missing schema, recording their JSON types', () => {
    expect(fromPayload({ flag: false, n: 3, none: null, obj: { x: 1 }, list: [1], s: 'true' }, 'zenml')).toEqual({
      schema: 'arbitrary',
      values: { flag: 'false', n: '3', obj: '{"x":1}', list: '[1]', s: 'true' },
      types: { flag: 'boolean', n: 'number', obj: 'json', list: 'json' },
    });
  });

  it('writes typed values with their JSON types, as ZenML does, and reads either form', () => {
    const typed = {
      schema: 'mysql',
      values: { user: 'u', ssl_verify_server_cert: 'true', port: '3306' },
      types: { ssl_verify_server_cert: 'boolean', port: 'number' },
    } as const;
    expect(JSON.parse(encodeContent(typed, 'zenml'))).toEqual({
      user: 'u',
      ssl_verify_server_cert: true,
      port: 3306,
      zenml_schema_name: 'mysql',
    });
    expect(decodeContent(encodeContent(typed, 'zenml'), 'zenml')).toEqual(typed);
    // Written by keystack before typed values: strings, read as strings.
    expect(decodeContent('{"ssl_verify_server_cert":"true","zenml_schema_name":"mysql"}', 'zenml')).toEqual({
      schema: 'mysql',
      values: { ssl_verify_server_cert: 'true' },
    });
    // A value that no longer fits its recorded type is written as the string it is.
    expect(
      JSON.parse(encodeContent({ schema: 'arbitrary', values: { b: 'maybe' }, types: { b: 'boolean' } }, 'zenml')),
    ).toEqual({ b: 'maybe', zenml_schema_name: 'arbitrary' });
  });

  it('rejects payloads that are not JSON objects', () => {
    expect(() => decodeContent('[1]', 'keystack')).toThrow(TypeError);
  });
});

describe('name rules', () => {
  it.each(['', 'a.b', 'a/b', 'a b', 'a\tb', 'a\u0000b', 'a\u200bb', 'x'.repeat(129)])('rejects the name %j', (name) => {
    expect(() => validateSecretName(name)).toThrow(InvalidNameError);
  });

  it.each(['db', 'DB_creds-2', 'ключ', 'a@b+c=d', 'x'.repeat(128)])('accepts the name %j', (name) => {
    expect(() => validateSecretName(name)).not.toThrow();
  });

  it('applies a flavor rule on top of the core rule', () => {
    const rule = {
      pattern: /[a-z0-9_-]+/,
      maxLength: 63,
      description: 'must contain only lowercase letters, digits, - and _',
    };
    expect(() => validateSecretName('Upper', rule)).toThrow(/lowercase/);
    expect(() => validateSecretName('x'.repeat(64), rule)).toThrow(/at most 63/);
    expect(() => validateSecretName('ok_name-1', rule)).not.toThrow();
  });

  it("allows '.' only where the flavor's rule says the backend does (aws, vault), as ZenML's flavors do", () => {
    const aws = {
      pattern: /[A-Za-z0-9_+=.@-]+/,
      maxLength: 512,
      maxScopedLength: 512,
      dots: true,
      description: 'aws chars',
    };
    expect(() => validateSecretName('db.creds', aws)).not.toThrow();
    expect(() => validateSecretName('db.creds', aws, 'namespace')).not.toThrow();
    expect(() => validateSecretName('db/creds', aws)).toThrow(/must not contain '\/'/);
    expect(() => validateSecretName('db.creds', { ...aws, dots: false })).toThrow(/must not contain '\.'/);
    expect(() => validateSecretName('db.creds')).toThrow(InvalidNameError);
  });

  it("uses the backend's real length limits: AWS counts 512 characters on the whole scoped name", () => {
    const aws = {
      pattern: /[A-Za-z0-9_+=.@-]+/,
      maxLength: 512,
      maxScopedLength: 512,
      dots: true,
      description: 'aws chars',
    };
    const path = 'zenml/global/'.length;
    expect(() => validateSecretName('x'.repeat(512 - path), aws, 'secret name', path)).not.toThrow();
    expect(() => validateSecretName('x'.repeat(513 - path), aws, 'secret name', path)).toThrow(
      `must be at most ${512 - path} characters long here (the backend allows 512 with the ${path}-character scope path)`,
    );
    expect(() => validateSecretName('x'.repeat(512), aws)).not.toThrow();
    expect(() =>
      validateSecretName('x'.repeat(300), { pattern: /x+/, maxLength: 65536, description: 'x' }),
    ).not.toThrow();
  });

  it('rejects reserved and malformed keys', () => {
    for (const key of [
      'name',
      'keystack_schema_name',
      'zenml_schema_name',
      'acme_schema_name',
      '',
      'a b',
      'x'.repeat(257),
    ]) {
      expect(() => validateSecretKey(key, 'acme'), key).toThrow(InvalidNameError);
    }
    expect(() => validateSecretKey('dotted.key')).not.toThrow();
  });

  it('names the offending name but never a value', () => {
    expect(() => validateSecretName('a b')).toThrow('invalid secret name "a b"');
  });
});
