import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import aws from '../../src/flavors/aws.js';
import { SecretsManager } from '../../src/core/manager.js';
import { KeystackError } from '../../src/errors.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { assertNoLeak, proxyFaults, testFlavor } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';
import { closedPortUrl, fakeServer } from '../support/fake-http.js';
import { requireEnv } from '../support/fake-http.js';
import { cli, expectCleanError, tempEnv } from '../support/cli.js';

const endpoint = requireEnv('AWS_SM_ENDPOINT', 'the moto server (AWS Secrets Manager emulator)');
const env = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
const config = { region_name: 'us-east-1', endpoint_url: endpoint };

testFlavor({
  flavor: aws,
  config,
  env,
  runner: vitestRunner,
  faults: proxyFaults({ target: endpoint, config: (url) => ({ ...config, endpoint_url: url }) }),
});

const raw = new SecretsManagerClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
const configDir = mkdtempSync(join(tmpdir(), 'keystack-aws-'));
const schemas = createSchemaRegistry();
const managers: SecretsManager[] = [];
const manager = (cfg: Record<string, unknown>, uuid = randomUUID(), name = 'aws_test') => {
  const m = new SecretsManager({
    record: { uuid, name, flavor: 'aws', config: { ...config, ...cfg } },
    flavor: aws,
    configDir,
    env,
    schemas,
  });
  managers.push(m);
  return m;
};
const fresh = () => `ks${randomBytes(5).toString('hex')}`;
const code = (e: unknown) => (e instanceof KeystackError ? e.code : String(e));
afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
  raw.destroy();
});

describe('aws: ZenML 0.30 layout with scope_prefix=zenml', () => {
  it('reads a secret written through the raw API in ZenML layout', async () => {
    const name = fresh();
    const uuid = randomUUID();
    await raw.send(
      new CreateSecretCommand({
        Name: `zenml/component/${uuid}/${name}`,
        SecretString: JSON.stringify({ username: 'admin', password: 'pw', zenml_schema_name: 'basic_auth' }),
        Tags: [
          { Key: 'zenml_scope', Value: 'component' },
          { Key: 'zenml_secret_name', Value: name },
          { Key: 'zenml_component_uuid', Value: uuid },
          { Key: 'zenml_component_name', Value: 'zenml_sm' },
          { Key: 'zenml_secret_schema', Value: 'basic_auth' },
        ],
      }),
    );
    const m = manager({ scope: 'component', scope_prefix: 'zenml' }, uuid, 'zenml_sm');
    expect(await m.get(name)).toEqual({ name, schema: 'basic_auth', values: { username: 'admin', password: 'pw' } });
    expect(await m.list()).toEqual([name]);
    await m.delete(name);
  });

  it('writes exactly that layout', async () => {
    const ns = `team${randomBytes(3).toString('hex')}`;
    const uuid = randomUUID();
    const m = manager({ scope: 'namespace', namespace: ns, scope_prefix: 'zenml' }, uuid, 'prod_sm');
    const name = fresh();
    await m.register(name, { user: 'u', ssl_verify_server_cert: 'true' }, { schema: 'mysql' });
    const id = `zenml/namespace/${ns}/${name}`;
    const d = await raw.send(new DescribeSecretCommand({ SecretId: id }));
    expect(Object.fromEntries((d.Tags ?? []).map((t) => [t.Key, t.Value]))).toEqual({
      zenml_scope: 'namespace',
      zenml_secret_name: name,
      zenml_namespace: ns,
      zenml_component_name: 'prod_sm',
      zenml_component_uuid: uuid,
      zenml_secret_schema: 'mysql',
    });
    const v = await raw.send(new GetSecretValueCommand({ SecretId: id }));
    expect(JSON.parse(v.SecretString ?? '')).toEqual({
      user: 'u',
      ssl_verify_server_cert: true,
      zenml_schema_name: 'mysql',
    });
    await m.delete(name);
  });

  it('an unscoped secret is the bare name without tags', async () => {
    const m = manager({ scope: 'none', scope_prefix: 'zenml' });
    const name = fresh();
    await m.register(name, { k: 'v' });
    const d = await raw.send(new DescribeSecretCommand({ SecretId: name }));
    expect(d.Tags ?? []).toEqual([]);
    await m.delete(name);
  });
});

describe('aws: foreign secrets', () => {
  it('a binary secret is a clear BackendError, not a crash', async () => {
    const name = fresh();
    await raw.send(new CreateSecretCommand({ Name: name, SecretBinary: randomBytes(16) }));
    const err = await manager({ scope: 'none' })
      .get(name)
      .catch((e: unknown) => e);
    expect(code(err)).toBe('backend');
    expect((err as Error).message).toMatch(/binary/);
    await raw.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
  });

  it('a non-JSON secret is a BackendError that does not quote the value', async () => {
    const name = fresh();
    const value = `plain-${randomBytes(8).toString('hex')}`;
    await raw.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    const err = await manager({ scope: 'none' })
      .get(name)
      .catch((e: unknown) => e);
    expect(code(err)).toBe('backend');
    assertNoLeak(err, [value]);
    await raw.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
  });
});

describe('aws: recovery window', () => {
  it('with recovery_window_days, a deleted secret reads as absent but keeps its name reserved', async () => {
    const m = manager({ scope: 'global', recovery_window_days: 7 });
    const name = fresh();
    await m.register(name, { k: 'v' });
    await m.delete(name);
    await expect(m.get(name)).rejects.toMatchObject({ code: 'secret_not_found' });
    // Not asserted: update. AWS refuses PutSecretValue on a deleted secret (InvalidRequestException,
    // which the flavor maps to "not found"), but moto accepts it.
    await expect(m.delete(name)).rejects.toMatchObject({ code: 'secret_not_found' });
    expect(await m.list()).not.toContain(name);
    // AWS answers InvalidRequestException (a BackendError with a restore hint); moto answers ResourceExists.
    const err = await m.register(name, { k: 'v' }).catch((e: unknown) => e);
    expect(['secret_exists', 'backend']).toContain(code(err));
    await raw.send(new DeleteSecretCommand({ SecretId: `keystack/global/${name}`, ForceDeleteWithoutRecovery: true }));
  });

  it('refuses a recovery window outside 7-30 days', async () => {
    await expect(manager({ recovery_window_days: 3 }).list()).rejects.toMatchObject({ code: 'config' });
  });

  it('refuses a recovery window outside 7-30 days at register and update, before any use', () => {
    const e = tempEnv();
    const flags = ['--flavor=aws', '--region_name=us-east-1', `--endpoint_url=${endpoint}`];
    for (const days of ['3', '31']) {
      expectCleanError(cli(e, ['secrets-manager', 'register', 'bad', ...flags, `--recovery_window_days=${days}`]), 1, {
        message: /recovery_window_days/,
      });
    }
    expect(cli(e, ['secrets-manager', 'register', 'ok', ...flags, '--recovery_window_days=7']).status).toBe(0);
    expectCleanError(cli(e, ['secrets-manager', 'update', 'ok', '--recovery_window_days=3']), 1, {
      message: /recovery_window_days/,
    });
    expect(cli(e, ['secrets-manager', 'update', 'ok', '--recovery_window_days=30']).status).toBe(0);
  });
});

describe('aws: failures are BackendErrors, never "not found"', () => {
  it('an unreachable endpoint', async () => {
    const m = manager({ endpoint_url: await closedPortUrl() });
    for (const op of [
      () => m.get('x'),
      () => m.delete('x'),
      () => m.list(),
      () => m.register('x', { a: 'secretvalue' }),
    ]) {
      const err = await op().catch((e: unknown) => e);
      expect(code(err)).toBe('backend');
      expect((err as Error).message).toMatch(/cannot reach/);
      assertNoLeak(err, ['secretvalue']);
    }
  });

  const awsError = (status: number, type: string) =>
    fakeServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type });
      res.end(JSON.stringify({ __type: type, message: `${type} from the fake server` }));
    });

  for (const [status, type] of [
    [400, 'ThrottlingException'],
    [429, 'TooManyRequestsException'],
  ] as const) {
    it(`throttling (${status} ${type}) is retried with backoff, then reported`, async () => {
      const server = await awsError(status, type);
      try {
        const err = await manager({ endpoint_url: server.url })
          .get('x')
          .catch((e: unknown) => e);
        expect(code(err)).toBe('backend');
        expect((err as Error).message).toMatch(/throttl/i);
        expect(server.requests).toBe(5);
      } finally {
        await server.close();
      }
    }, 20_000);
  }

  for (const [status, type, text] of [
    [400, 'UnrecognizedClientException', /credentials/],
    [400, 'AccessDeniedException', /access denied/],
  ] as const) {
    it(`${type} (moto accepts any credentials, so a fake server answers)`, async () => {
      const server = await awsError(status, type);
      try {
        const m = manager({ endpoint_url: server.url });
        for (const op of [
          () => m.get('x'),
          () => m.delete('x'),
          () => m.update('x', { a: 'b' }, { schema: 'arbitrary' }),
        ]) {
          const err = await op().catch((e: unknown) => e);
          expect(code(err)).toBe('backend');
          expect((err as Error).message).toMatch(text);
          expect((err as KeystackError).hint).toBeTruthy();
        }
        expect(server.requests).toBe(3);
      } finally {
        await server.close();
      }
    });
  }

  it('names outside [A-Za-z0-9_+=.@-] are InvalidNameError', async () => {
    const m = manager({});
    for (const n of ['bad!name', 'semi;colon', 'ümlaut'])
      await expect(m.register(n, { a: 'b' })).rejects.toMatchObject({ code: 'invalid_name' });
    expect(() => manager({ scope: 'namespace', namespace: 'bad#ns' })).toThrow(/namespace/);
  });
});
