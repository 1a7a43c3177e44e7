import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vault from '../../src/flavors/vault.js';
import { SecretsManager } from '../../src/core/manager.js';
import { resolveReferences } from '../../src/process/env.js';
import { KeystackError } from '../../src/errors.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { proxyFaults, testFlavor } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';
import { selfSignedCert } from '../support/tls.js';
import { closedPortUrl, fakeServer, requireEnv } from '../support/fake-http.js';

const addr = requireEnv('BAO_ADDR', 'the OpenBao dev server');
const rootToken = requireEnv('BAO_TOKEN', 'the OpenBao dev server root token');
const env = { VAULT_TOKEN: rootToken };
const config = { url: addr };

testFlavor({
  flavor: vault,
  config,
  env,
  runner: vitestRunner,
  faults: proxyFaults({ target: addr, config: (url) => ({ ...config, url }) }),
});

/** The KV v2 HTTP API, as ZenML's hvac used it. */
const api = async (method: string, path: string, body?: unknown, token = rootToken) => {
  const r = await fetch(`${addr}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': token, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  return {
    status: r.status,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test reads the part of Vault's JSON answer it checks
    body: (text ? JSON.parse(text) : null) as { data?: Record<string, any>; auth?: Record<string, any> } | null,
  };
};
const configDir = mkdtempSync(join(tmpdir(), 'keystack-vault-'));
const schemas = createSchemaRegistry();
const managers: SecretsManager[] = [];
const manager = (
  cfg: Record<string, unknown>,
  e: Record<string, string> = env,
  uuid = randomUUID(),
  name = 'vault_test',
) => {
  const m = new SecretsManager({
    record: { uuid, name, flavor: 'vault', config: { ...config, ...cfg } },
    flavor: vault,
    configDir,
    env: e,
    schemas,
  });
  managers.push(m);
  return m;
};
const fresh = () => `ks${randomBytes(5).toString('hex')}`;
const code = (e: unknown) => (e instanceof KeystackError ? e.code : String(e));
afterAll(() => Promise.all(managers.map((m) => m.close())));

describe('vault: ZenML 0.30 layout with scope_prefix=zenml', () => {
  it('reads a secret written through the raw API in ZenML layout', async () => {
    const name = fresh();
    expect(
      (
        await api('POST', `secret/data/zenml/global/${name}`, {
          data: { username: 'admin', password: 'pw', zenml_schema_name: 'basic_auth' },
        })
      ).status,
    ).toBe(200);
    const m = manager({ scope: 'global', scope_prefix: 'zenml' });
    expect(await m.get(name)).toEqual({ name, schema: 'basic_auth', values: { username: 'admin', password: 'pw' } });
    expect(await m.list()).toContain(name);
    await m.delete(name);
    expect((await api('GET', `secret/metadata/zenml/global/${name}`)).status).toBe(404);
  });

  it('writes exactly that layout', async () => {
    const uuid = randomUUID();
    const m = manager({ scope: 'component', scope_prefix: 'zenml' }, env, uuid);
    const name = fresh();
    await m.register(name, { user: 'u', ssl_verify_server_cert: 'true' }, { schema: 'mysql' });
    const r = await api('GET', `secret/data/zenml/component/${uuid}/${name}`);
    expect(r.body?.data?.['data']).toEqual({ user: 'u', ssl_verify_server_cert: true, zenml_schema_name: 'mysql' });
    const none = manager({ scope: 'none', scope_prefix: 'zenml' });
    await none.register(name, { k: 'v' });
    expect((await api('GET', `secret/data/${name}`)).body?.data?.['data']).toEqual({
      k: 'v',
      zenml_schema_name: 'arbitrary',
    });
    await m.delete(name);
    await none.delete(name);
  });
});

describe('vault: versions', () => {
  it('a soft-deleted latest version reads as absent, and registering the name writes a new version', async () => {
    const m = manager({ scope: 'global' });
    const name = fresh();
    await m.register(name, { k: 'v1' });
    expect((await api('DELETE', `secret/data/keystack/global/${name}`)).status).toBe(204);
    await expect(m.get(name)).rejects.toMatchObject({ code: 'secret_not_found' });
    await expect(m.update(name, { k: 'x' }, { schema: 'arbitrary' })).rejects.toMatchObject({
      code: 'secret_not_found',
    });
    await expect(m.delete(name)).rejects.toMatchObject({ code: 'secret_not_found' });
    await m.register(name, { k: 'v2' });
    expect((await m.get(name)).values).toEqual({ k: 'v2' });
    await m.delete(name);
  });

  it('update after a concurrent write from another manager still lands (check-and-set retry)', async () => {
    const a = manager({ scope: 'global' });
    const b = manager({ scope: 'global' });
    const name = fresh();
    await a.register(name, { k: '1' });
    await a.get(name); // a now writes with check-and-set on version 1
    await b.update(name, { k: '2' }, { schema: 'arbitrary' });
    await a.update(name, { k: '3' }, { schema: 'arbitrary' });
    expect((await b.get(name)).values).toEqual({ k: '3' });
    await a.delete(name);
  });

  it('pins ({{name@V.key}}, -s name@V) read that KV v2 version; reads carry the version id, in one call', async () => {
    const m = manager({ scope: 'global' });
    const name = fresh();
    await m.register(name, { k: 'pin-one' });
    await m.update(name, { k: 'pin-two' }, { schema: 'arbitrary' });
    const r = await resolveReferences(m, [
      { name: `${name}@1`, key: 'k' },
      { name: `${name}@previous`, key: 'k' },
      { name, key: 'k' },
    ]);
    expect(Object.fromEntries(r.values)).toEqual({
      [`{{${name}@1.k}}`]: 'pin-one',
      [`{{${name}@previous.k}}`]: 'pin-one',
      [`{{${name}.k}}`]: 'pin-two',
    });
    expect((await m.getVersioned(name)).version).toBe('2');
    const missing = await resolveReferences(m, [{ name: `${name}@7`, key: 'k' }]).catch((e: unknown) => e);
    expect(code(missing)).toBe('not_found');
    expect((missing as KeystackError).hint).toContain('Readable versions: 2, 1');
    await m.delete(name);
  });

  it('a mount that does not exist is a BackendError, not "not found"', async () => {
    const err = await manager({ mount_point: 'no_such_mount' })
      .get('x')
      .catch((e: unknown) => e);
    expect(code(err)).toBe('backend');
    expect((err as Error).message).toMatch(/KV version 2/);
  });
});

describe('vault: AppRole', () => {
  it('logs in with role_id and secret_id and works within its policy', async () => {
    const mount = `approle${randomBytes(3).toString('hex')}`;
    expect((await api('POST', `sys/auth/${mount}`, { type: 'approle' })).status).toBe(204);
    const policy = `keystack${randomBytes(3).toString('hex')}`;
    const rules = ['data', 'metadata']
      .map(
        (k) => `path "secret/${k}/keystack/global/*" { capabilities = ["create", "read", "update", "delete", "list"] }`,
      )
      .join('\n');
    expect((await api('PUT', `sys/policies/acl/${policy}`, { policy: rules })).status).toBe(204);
    expect((await api('POST', `auth/${mount}/role/ci`, { token_policies: [policy] })).status).toBe(204);
    const roleId = (await api('GET', `auth/${mount}/role/ci/role-id`)).body?.data?.['role_id'] as string;
    const secretId = (await api('POST', `auth/${mount}/role/ci/secret-id`)).body?.data?.['secret_id'] as string;

    const m = manager({ scope: 'global', approle_mount: mount }, { VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: secretId });
    const name = fresh();
    await m.register(name, { k: 'v' });
    expect((await m.get(name)).values).toEqual({ k: 'v' });
    expect(await m.list()).toContain(name);
    await m.delete(name);

    // Outside the policy: denied, never "not found".
    const other = manager(
      { scope: 'component', approle_mount: mount },
      { VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: secretId },
    );
    const denied = await other.get(name).catch((e: unknown) => e);
    expect(code(denied)).toBe('backend');
    expect((denied as Error).message).toMatch(/denied/);

    const bad = manager({ scope: 'global', approle_mount: mount }, { VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: 'wrong' });
    const err = await bad.get(name).catch((e: unknown) => e);
    expect(code(err)).toBe('backend');
    expect((err as Error).message).toMatch(/AppRole login failed/);
  });
});

describe('vault: failures are BackendErrors, never "not found"', () => {
  it('a wrong token', async () => {
    const m = manager({}, { VAULT_TOKEN: 'not-a-token' });
    for (const op of [
      () => m.get('x'),
      () => m.list(),
      () => m.delete('x'),
      () => m.register('x', { a: 'secretvalue' }),
    ]) {
      const err = await op().catch((e: unknown) => e);
      expect(code(err)).toBe('backend');
      expect((err as Error).message).toMatch(/denied/);
      expect((err as KeystackError).hint).toMatch(/token/);
      expect(JSON.stringify(err) + (err as Error).message).not.toContain('secretvalue');
    }
  });

  it('no credentials at all is a config error', async () => {
    await expect(manager({}, {}).get('x')).rejects.toMatchObject({ code: 'config' });
  });

  it('an unreachable server', async () => {
    const m = manager({ url: await closedPortUrl() });
    for (const op of [() => m.get('x'), () => m.list(), () => m.update('x', { a: 'b' }, { schema: 'arbitrary' })]) {
      const err = await op().catch((e: unknown) => e);
      expect(code(err)).toBe('backend');
      expect((err as Error).message).toMatch(/cannot reach/);
    }
  });

  it('rate limiting (HTTP 429) is retried with backoff, then reported', async () => {
    const server = await fakeServer((_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: ['request path "secret/data/x": rate limit quota exceeded'] }));
    });
    try {
      const err = await manager({ url: server.url })
        .get('x')
        .catch((e: unknown) => e);
      expect(code(err)).toBe('backend');
      expect((err as Error).message).toMatch(/rate-limit/);
      expect(server.requests).toBe(5);
    } finally {
      await server.close();
    }
  }, 20_000);

  it('names outside [A-Za-z0-9_+=.@-] are InvalidNameError', async () => {
    const m = manager({});
    for (const n of ['bad!name', 'q?x', 'ümlaut', '%2e%2e'])
      await expect(m.register(n, { a: 'b' })).rejects.toMatchObject({ code: 'invalid_name' });
  });
});

describe('vault: TLS', () => {
  let dir = '';
  let server: import('node:https').Server | undefined;
  let url = '';
  beforeAll(async () => {
    const { readFileSync } = await import('node:fs');
    const https = await import('node:https');
    dir = mkdtempSync(join(tmpdir(), 'keystack-vault-tls-'));
    selfSignedCert(dir, { cn: '127.0.0.1', san: 'IP:127.0.0.1' });
    // A fake Vault: healthy, and without any secret.
    server = https.createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (req, res) => {
        const health = req.url?.startsWith('/v1/sys/health');
        res.writeHead(health ? 200 : 404, { 'content-type': 'application/json' });
        res.end(health ? '{"initialized":true,"sealed":false,"standby":false}' : '{"errors":[]}');
      },
    );
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('an untrusted certificate is a BackendError with a hint', async () => {
    const err = await manager({ url })
      .get('x')
      .catch((e: unknown) => e);
    expect(code(err)).toBe('backend');
    expect((err as KeystackError).hint).toMatch(/ca_cert/);
  });

  it('ca_cert trusts the server', async () => {
    await expect(manager({ url, ca_cert: join(dir, 'cert.pem') }).get('x')).rejects.toMatchObject({
      code: 'secret_not_found',
    });
  });

  it('tls_skip_verify skips the check', async () => {
    await expect(manager({ url, tls_skip_verify: true }).get('x')).rejects.toMatchObject({ code: 'secret_not_found' });
  });

  it('an unreadable ca_cert is a config error', async () => {
    await expect(manager({ url, ca_cert: join(dir, 'missing.pem') }).get('x')).rejects.toMatchObject({
      code: 'config',
    });
  });
});
