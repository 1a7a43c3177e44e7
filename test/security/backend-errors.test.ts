// Backend errors that echo the request (an HTTP error body quoting the payload, an SDK message
// quoting the SecretString, a custom flavor putting the secret in its message) carry no value of
// the secret being written or read: not in the message, the hint, nor any cause.
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import aws from '../../src/flavors/aws.js';
import vault from '../../src/flavors/vault.js';
import { SecretsManager } from '../../src/core/manager.js';
import { defineFlavor, type FlavorDefinition, type SecretsBackend } from '../../src/core/types.js';
import { BackendError, ConfigError, isKeystackError, type KeystackError } from '../../src/errors.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { fakeServer, type FakeServer } from '../support/fake-http.js';

const configDir = mkdtempSync(join(tmpdir(), 'keystack-echo-'));
const schemas = createSchemaRegistry();
const managers: SecretsManager[] = [];
const servers: FakeServer[] = [];
afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
  await Promise.all(servers.map((s) => s.close()));
});

function manager(
  flavor: FlavorDefinition<unknown>,
  config: Record<string, unknown>,
  env: Record<string, string> = {},
): SecretsManager {
  const m = new SecretsManager({
    record: { uuid: randomUUID(), name: 'echo', flavor: flavor.name, config: { scope: 'none', ...config } },
    flavor,
    configDir,
    env,
    schemas,
  });
  managers.push(m);
  return m;
}

/** Every text an error exposes: message, hint, stack, JSON form, and the same for each cause. */
function exposed(err: unknown, depth = 0): string {
  if (!(err instanceof Error) || depth > 5) return String(err);
  const e = err as Error & { hint?: unknown; cause?: unknown };
  return [
    e.message,
    typeof e.hint === 'string' ? e.hint : '',
    e.stack ?? '',
    JSON.stringify(e),
    e.cause === undefined ? '' : exposed(e.cause, depth + 1),
  ].join('\n');
}

let counter = 0;
/** A fresh value with a quote, a backslash and a second line, so that echoes escape it. */
const freshValue = () => `echo"ed\\value-${++counter}-${randomUUID().slice(0, 8)}\nsecond-line-${counter}`;

function expectNoValue(err: unknown, value: string): void {
  expect(isKeystackError(err), String(err)).toBe(true);
  const text = exposed(err);
  const escaped = JSON.stringify(value).slice(1, -1);
  for (const form of [value, escaped, JSON.stringify(escaped).slice(1, -1), ...value.split('\n')])
    expect(text).not.toContain(form);
}

async function echoServer(
  answer: (body: string) => { status: number; headers?: Record<string, string>; body: unknown },
): Promise<string> {
  const server = await fakeServer((_req, res, body) => {
    const a = answer(body);
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(JSON.stringify(a.body));
  });
  servers.push(server);
  return server.url;
}

describe('vault: an error body that echoes the request', () => {
  it.each([400, 403, 500])('HTTP %i on a write', async (status) => {
    const url = await echoServer((body) => ({ status, body: { errors: [`cannot accept request body ${body}`] } }));
    const value = freshValue();
    const err = await manager(vault as FlavorDefinition<unknown>, { url }, { VAULT_TOKEN: 'echo-test-token' })
      .register('db', { password: value })
      .catch((e: unknown) => e);
    expect((err as KeystackError).code).toBe('backend');
    expect((err as Error).message).toContain('***');
    expectNoValue(err, value);
  });
});

describe('aws: an SDK error whose message quotes the SecretString', () => {
  const credentials = {
    region_name: 'us-east-1',
    aws_access_key_id: 'AKIAECHOTEST',
    aws_secret_access_key: 'echo-test-secret-key',
  };
  it.each(['AccessDeniedException', 'ThrottlingException', 'InvalidParameterException'])(
    '%s',
    async (type) => {
      const url = await echoServer((body) => ({
        status: 400,
        headers: { 'x-amzn-errortype': type },
        body: { __type: type, message: `request was ${body}` },
      }));
      const value = freshValue();
      const err = await manager(aws as FlavorDefinition<unknown>, { ...credentials, endpoint_url: url })
        .register('db', { password: value })
        .catch((e: unknown) => e);
      expect((err as KeystackError).code).toBe('backend');
      expectNoValue(err, value);
    },
    30_000,
  );
});

describe('custom flavors: errors that carry the value', () => {
  type Thrower = (values: Record<string, string>) => unknown;
  const flavorThrowing = (thrower: Thrower): FlavorDefinition<unknown> => {
    const stored = new Map<string, Record<string, string>>();
    const fail = async (values: Record<string, string>): Promise<never> => {
      throw thrower(values);
    };
    const backend: SecretsBackend = {
      create: async (name, s) => (stored.has(name) ? fail(s.values) : (stored.set(name, s.values), true)),
      get: async (name) => {
        const v = stored.get(name);
        return v ? { schema: 'arbitrary', values: v } : null;
      },
      list: async () => [...stored.keys()],
      update: async (_name, s) => fail(s.values),
      delete: async () => false,
      deleteAll: async () => 0,
    };
    return defineFlavor<unknown>({
      name: 'echoing',
      description: 'a flavor whose errors echo what it was given',
      supportsScoping: false,
      separator: '/',
      nameRule: { pattern: /[a-z]+/, maxLength: 32, description: 'lowercase letters' },
      maxContentBytes: 65536,
      config: {},
      create: () => backend,
    });
  };

  it.each<[string, Thrower]>([
    ['a plain Error', (v) => new Error(`could not store ${JSON.stringify(v)}`)],
    [
      'a keystack BackendError (as a plugin importing keystack throws it)',
      (v) =>
        new BackendError({
          flavor: 'echoing',
          operation: 'update',
          reason: `refused ${v['password']}`,
          hint: `value was ${JSON.stringify(v['password'])}`,
          cause: new Error(`raw ${v['password']}`),
        }),
    ],
    [
      'a keystack ConfigError with a nested cause',
      (v) =>
        new ConfigError('bad value', {
          cause: new Error('wrapped', { cause: new Error(`deep ${JSON.stringify(v)}`) }),
        }),
    ],
    [
      'a branded error from another copy of keystack',
      (v) =>
        Object.defineProperty(
          Object.assign(new Error(`copy ${v['password']}`), { code: 'backend', hint: 'h' }),
          Symbol.for('keystack.error'),
          { value: true },
        ),
    ],
    ['a string', (v) => `thrown string ${v['password']}`],
  ])('%s, on update and on register of an existing name', async (_label, thrower) => {
    const m = manager(flavorThrowing(thrower), {});
    const value = freshValue();
    const err = await m.update('db', { password: value }, { schema: 'arbitrary' }).catch((e: unknown) => e);
    expectNoValue(err, value);
    const other = freshValue();
    await m.register('dup', { password: 'first-value-of-dup' });
    const err2 = await m.register('dup', { password: other }).catch((e: unknown) => e);
    expectNoValue(err2, other);
  });
});

describe("a flavor's sensitive config in its errors", () => {
  const flavor = defineFlavor<{ api_key?: string }>({
    name: 'keyed',
    description: 'a flavor whose errors quote its credential',
    supportsScoping: false,
    separator: '/',
    nameRule: { pattern: /[a-z]+/, maxLength: 32, description: 'lowercase letters' },
    maxContentBytes: 65536,
    config: { api_key: { type: 'string', description: 'credential', sensitive: true, env: 'KEYED_API_KEY' } },
    create: ({ config }) => {
      const fail = async (): Promise<never> => {
        throw new Error(`the server rejected api key ${config.api_key ?? ''}`);
      };
      return { create: fail, get: fail, list: fail, update: fail, delete: fail, deleteAll: fail };
    },
  }) as FlavorDefinition<unknown>;

  it.each([
    ['stored in the config', { api_key: 'stored-api-key-3141592' }, {}],
    ['from the environment', {}, { KEYED_API_KEY: 'env-api-key-2718281' }],
  ])('%s', async (_label, config: Record<string, string>, env: Record<string, string>) => {
    const key = config['api_key'] ?? env['KEYED_API_KEY'] ?? '';
    const err = await manager(flavor, config, env)
      .list()
      .catch((e: unknown) => e);
    expect((err as KeystackError).code).toBe('backend');
    expect(exposed(err)).not.toContain(key);
  });
});
