import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { SecretClient } from '@azure/keyvault-secrets';
import azure from '../../src/flavors/azure.js';
import { SecretsManager } from '../../src/core/manager.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { backendNames } from '../../src/secrets/scope.js';
import { proxyFaults, testFlavor } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';
import { selfSignedCert } from '../support/tls.js';
import { startAkvDouble, type AkvDouble } from '../doubles/azure-key-vault.js';
import { cli, cliAsync, expectCleanError, tempEnv } from '../support/cli.js';
import { assertStaleWriteConflicts, assertConcurrentUpdates } from '../support/compare-and-set.js';

const url = process.env['AKV_URL'];
if (!url) {
  throw new Error(
    'AKV_URL is not set: start the emulators (scripts/emulators/start.sh, then source its env.sh), or the in-repo double: npx tsx test/doubles/azure-key-vault.ts --port 8443 --ca-out /tmp/akv-ca.pem, with AKV_URL=https://localhost:8443 NODE_EXTRA_CA_CERTS=/tmp/akv-ca.pem',
  );
}
// A static token: tests never reach DefaultAzureCredential (and so never a metadata endpoint).
const config = { vault_url: url, access_token: 'emulator' };
const env: Record<string, string | undefined> = {};
// The double started by start.sh accepts only the token 'emulator'.
const stub = { getToken: async () => ({ token: 'emulator', expiresOnTimestamp: Date.now() + 3.6e6 }) };

const manager = (cfg: Record<string, unknown>, uuid = randomUUID(), name = 'akv-test') =>
  new SecretsManager({
    record: { uuid, name, flavor: 'azure', config: cfg },
    flavor: azure,
    configDir: '/nonexistent',
    env,
    schemas: createSchemaRegistry(),
  });

// The fault proxy speaks HTTPS to the SDK (Key Vault clients refuse http) with a certificate of its own.
const proxyDir = mkdtempSync(join(tmpdir(), 'akv-proxy-'));
selfSignedCert(proxyDir, { cn: 'localhost', san: 'DNS:localhost' });

testFlavor({
  flavor: azure,
  config,
  env,
  runner: vitestRunner,
  faults: proxyFaults({
    target: url,
    tls: { key: readFileSync(join(proxyDir, 'key.pem')), cert: readFileSync(join(proxyDir, 'cert.pem')) },
    config: (proxyUrl) => ({ ...config, vault_url: proxyUrl, ca_file: join(proxyDir, 'cert.pem') }),
  }),
});

describe('azure specifics', () => {
  const raw = new SecretClient(url, stub, { serviceVersion: '2025-07-01', disableChallengeResourceVerification: true });

  it('reads and writes ZenML 0.30 scoped secrets with scope_prefix=zenml', async () => {
    const uuid = randomUUID();
    const tags = {
      zenml_scope: 'component',
      zenml_secret_name: 'dbcreds',
      zenml_component_uuid: uuid,
      zenml_component_name: 'akv',
      zenml_secret_schema: 'arbitrary',
    };
    await raw.setSecret(`zenml-component-${uuid}-dbcreds`, '{"user":"u","zenml_schema_name":"arbitrary"}', { tags });
    const m = manager({ ...config, scope: 'component', scope_prefix: 'zenml' }, uuid, 'akv');
    assert.deepEqual((await m.get('dbcreds')).values, { user: 'u' });
    assert.deepEqual(await m.list(), ['dbcreds']);
    await m.register('other', { k: 'v' });
    const s = await raw.getSecret(`zenml-component-${uuid}-other`);
    assert.deepEqual(s.properties.tags, { ...tags, zenml_secret_name: 'other' });
    assert.deepEqual(JSON.parse(s.value!), { k: 'v', zenml_schema_name: 'arbitrary' });
    assert.equal(await m.deleteAll(), 2);
    await m.close();
  });

  it('purges on delete, so the name can be registered again at once', async () => {
    const m = manager({ ...config, scope: 'global' });
    const name = `p${randomBytes(4).toString('hex')}`;
    await m.register(name, { a: '1' });
    await m.delete(name);
    await assert.rejects(
      raw.getDeletedSecret(`keystack-global-${name}`),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );
    await m.register(name, { a: '2' });
    assert.deepEqual((await m.get(name)).values, { a: '2' });
    await m.delete(name);
    await m.close();
  });

  it('treats names that differ only by case as the same secret, as Key Vault does', async () => {
    const m = manager({ ...config, scope: 'component' });
    await m.register('CaseName', { a: '1' });
    await assert.rejects(m.register('casename', { a: '2' }), (e: { code?: string }) => e.code === 'secret_exists');
    assert.deepEqual((await m.get('casename')).values, { a: '1' });
    assert.deepEqual(await m.list(), ['CaseName']);
    await m.delete('CASENAME');
    await m.close();
  });

  describe('against the in-repo double (fault injection)', () => {
    let d: AkvDouble;
    let caFile: string;
    beforeAll(async () => {
      d = await startAkvDouble();
      caFile = join(mkdtempSync(join(tmpdir(), 'akv-ca-')), 'ca.pem');
      writeFileSync(caFile, d.ca);
    });
    afterAll(async () => d.close());
    const local = (extra: Record<string, unknown> = {}) =>
      manager({ vault_url: d.url, access_token: d.token, ca_file: caFile, ...extra });

    it('explains a 409 on register by its inner error code, and retries ObjectIsBeingDeleted', async () => {
      const m = local({ scope: 'global' });
      d.failNext(409, 1, /^PUT /, undefined, 'ObjectIsDeletedButRecoverable');
      await assert.rejects(
        m.register('held', { a: '1' }),
        (e: { code?: string; message?: string; hint?: string }) =>
          e.code === 'backend' && /deleted \(not purged\)/.test(e.message ?? '') && /purge/.test(e.hint ?? ''),
      );
      d.failNext(409, 1, /^PUT /);
      await assert.rejects(
        m.register('held', { a: '1' }),
        (e: { code?: string; message?: string }) =>
          e.code === 'backend' &&
          /conflict \(no inner error code\)/.test(e.message ?? '') &&
          !/not purged/.test(e.message ?? ''),
      );
      d.failNext(409, 2, /^PUT /, undefined, 'ObjectIsBeingDeleted');
      await m.register('held', { a: '1' });
      assert.deepEqual((await m.get('held')).values, { a: '1' });
      // keystack's own delete purges; the purge finishes asynchronously, and an immediate register waits for it.
      await m.delete('held');
      await m.register('held', { a: '2' });
      assert.deepEqual((await m.get('held')).values, { a: '2' });
      await m.delete('held');
      await m.close();
    });

    it('a disabled secret is an error that says so, and a bad token is refused', async () => {
      const m = local({ scope: 'global' });
      await m.register('off', { a: '1' });
      const raw = new SecretClient(
        d.url,
        { getToken: async () => ({ token: d.token, expiresOnTimestamp: Date.now() + 3.6e6 }) },
        { serviceVersion: '2025-07-01', disableChallengeResourceVerification: true, tlsOptions: { ca: d.ca } },
      );
      const s = await raw.getSecret('keystack-global-off');
      await raw.updateSecretProperties('keystack-global-off', s.properties.version ?? '', { enabled: false });
      await assert.rejects(
        m.get('off'),
        (e: { code?: string; message?: string; hint?: string }) =>
          e.code === 'backend' && /disabled/.test(e.message ?? '') && /set-attributes/.test(e.hint ?? ''),
      );
      await assert.rejects(m.register('off', { a: '2' }), (e: { code?: string }) => e.code === 'secret_exists');
      await m.delete('off');
      await assert.rejects(
        local({ access_token: 'wrong' }).list(),
        (e: { code?: string; message?: string }) => e.code === 'backend' && /401/.test(e.message ?? ''),
      );
      await m.close();
    });

    it("accepts names up to Key Vault's 127 characters (the full scoped name)", async () => {
      const m = local({ scope: 'global' });
      const name = 'n'.repeat(127 - 'keystack-global-'.length);
      await m.register(name, { a: '1' });
      assert.deepEqual((await m.get(name)).values, { a: '1' });
      await assert.rejects(m.register(`${name}x`, { a: '1' }), (e: { code?: string }) => e.code === 'invalid_name');
      await m.delete(name);
      await m.close();
    });

    it("reads ZenML's none-scope per-key groups as one read-only secret, and never lists or deletes their members", async () => {
      const raw = new SecretClient(
        d.url,
        { getToken: async () => ({ token: d.token, expiresOnTimestamp: Date.now() + 3.6e6 }) },
        { serviceVersion: '2025-07-01', disableChallengeResourceVerification: true, tlsOptions: { ca: d.ca } },
      );
      // ZenML 0.30's layout for `zenml secrets-manager secret register zgrp --user=u --password=p` in `none` scope.
      const zenmlName = (secret: string, key: string) =>
        `zenml-${Buffer.from(Buffer.from(`${secret}-${key}`).toString('base64')).toString('hex')}`;
      for (const [k, v] of [
        ['user', 'u'],
        ['password', 'p w'],
      ] as const) {
        await raw.setSecret(zenmlName('zgrp', k), v, {
          tags: { 'zenml-group-key': 'zgrp', 'zenml-key-name': k, 'zenml-schema-name': 'arbitrary' },
        });
      }
      await raw.setSecret('foreign', 'not json');
      const m = local({ scope: 'none' });
      await m.register('mine', { k: 'v' });
      const listed = await m.list();
      assert.ok(listed.includes('mine') && listed.includes('zgrp'), listed.join(','));
      assert.ok(!listed.includes('foreign') && !listed.some((n) => n.startsWith('zenml-')), listed.join(','));
      assert.deepEqual(await m.get('zgrp'), {
        name: 'zgrp',
        schema: 'arbitrary',
        values: { user: 'u', password: 'p w' },
      });
      await assert.rejects(
        m.update('zgrp', { user: 'x' }, { schema: 'arbitrary' }),
        (e: { code?: string }) => e.code === 'unsupported',
      );
      await assert.rejects(m.delete('zgrp'), (e: { code?: string }) => e.code === 'unsupported');
      await assert.rejects(m.delete(zenmlName('zgrp', 'user')), (e: { code?: string }) => e.code === 'unsupported');
      await assert.rejects(m.register('zgrp', { k: 'v' }), (e: { code?: string }) => e.code === 'secret_exists');
      const deleted = await m.deleteAll();
      assert.ok(deleted >= 1);
      assert.equal((await raw.getSecret('foreign')).value, 'not json');
      assert.equal((await raw.getSecret(zenmlName('zgrp', 'user'))).value, 'u');
      assert.equal((await raw.getSecret(zenmlName('zgrp', 'password'))).value, 'p w');
      await m.close();
    });

    it('a stale compare-and-set is a conflict', async () => {
      const scope = { scope: 'global', componentUuid: randomUUID(), componentName: 'x', prefix: 'keystack' } as const;
      const be = azure.create({
        config: { vault_url: d.url, access_token: d.token, ca_file: caFile },
        scope,
        names: backendNames(scope, '-', () => true),
        configDir: '/nonexistent',
        env,
      });
      await assertStaleWriteConflicts(be);
    });

    it('retries 429 honouring Retry-After, then succeeds', async () => {
      const m = local();
      const before = d.calls.length;
      d.failNext(429, 2, /^GET \/secrets$/, 1);
      const started = Date.now();
      assert.deepEqual(await m.list(), []);
      // Two answers of "Retry-After: 1": at least 2 s of waiting. The caller's own backoff, which
      // would be used if the header were ignored, starts at a few hundred ms.
      const waited = Date.now() - started;
      assert.ok(waited >= 1900, `retried after ${waited} ms in all; the server asked for 2 × 1 s`);
      assert.deepEqual(
        d.calls.slice(before).filter((c) => c === 'GET /secrets'),
        ['GET /secrets', 'GET /secrets', 'GET /secrets'],
      );
      await m.close();
    });

    it('403 is a BackendError with a hint, never "not found"', async () => {
      const m = local();
      d.failNext(403, 1, /^GET \/secrets\//);
      await assert.rejects(
        m.get('x'),
        (e: { code?: string; hint?: string }) => e.code === 'backend' && /Key Vault Secrets Officer/.test(e.hint ?? ''),
      );
      await m.close();
    });

    it('send tags and value in one write per register (no separate tag update)', async () => {
      const m = local({ scope: 'global' });
      const before = d.calls.length;
      await m.register('onewrite', { a: '1' });
      assert.deepEqual(
        d.calls.slice(before).filter((c) => !c.startsWith('GET')),
        ['PUT /secrets/keystack-global-onewrite'],
      );
      await m.close();
    });
  });

  it('8 concurrent `secret update --KEY=…` processes: every key is kept, or every process whose key is missing failed', async () => {
    const e = tempEnv({ NODE_EXTRA_CA_CERTS: process.env['NODE_EXTRA_CA_CERTS'] ?? '' });
    const ok = async (args: string[]) => {
      const r = await cliAsync(e, args);
      assert.equal(r.status, 0, r.stderr);
    };
    await ok([
      'secrets-manager',
      'register',
      'akv',
      '--flavor=azure',
      '--scope=global',
      `--vault_url=${url}`,
      '--access_token=emulator',
    ]);
    await ok(['stack', 'register', 'akv-stack', '-x', 'akv', '--set']);
    const name = `merged${randomBytes(3).toString('hex')}`;
    await ok(['secret', 'register', name, '--k0=v']);
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => cliAsync(e, ['secret', 'update', name, `--p${i}=v${i}`])),
    );
    const m = manager({ ...config, scope: 'global' });
    const values = (await m.get(name)).values;
    // A process may lose the race, and must say so; it may not fail for any other reason.
    assertConcurrentUpdates(runs, values);
    assert.equal(values['k0'], 'v');
    await m.delete(name);
    await m.close();
  });

  it('an unreachable vault is a BackendError', async () => {
    const m = manager({ vault_url: 'https://127.0.0.1:1', access_token: 't' });
    await assert.rejects(
      m.get('x'),
      (e: { code?: string; message?: string }) => e.code === 'backend' && /cannot reach/.test(e.message ?? ''),
    );
    await m.close();
  });

  it('refuses a malformed key_vault_name or an http vault_url at register and update, before any use', () => {
    const e = tempEnv();
    const register = (name: string, flag: string) =>
      cli(e, ['secrets-manager', 'register', name, '--flavor=azure', flag]);
    for (const bad of ['kv', 'a'.repeat(25), '1vault', 'my--vault', 'vault-', 'my_vault']) {
      expectCleanError(register('bad', `--key_vault_name=${bad}`), 1, { message: /key_vault_name/ });
    }
    expectCleanError(register('bad', '--vault_url=http://localhost:8443'), 1, { message: /vault_url/ });
    assert.equal(register('ok', '--key_vault_name=my-vault-01').status, 0);
    expectCleanError(cli(e, ['secrets-manager', 'update', 'ok', '--key_vault_name=my--vault']), 1, {
      message: /key_vault_name/,
    });
  });
});
