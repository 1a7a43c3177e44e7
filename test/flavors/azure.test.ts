import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { SecretClient } from '@azure/keyvault-secrets';
import azure from '../../src/flavors/azure.js';
import { SecretsManager } from '../../src/flavors/manager.js';
import { createSchemaRegistry } from '../../src/secrets/schema.js';
import { proxyFaults, testFlavor } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';
import { startAkvDouble, type AkvDouble } from '../doubles/azure-key-vault.js';

const url = process.env['AKV_URL'];
if (!url) {
  throw new Error('AKV_URL is not set: start the emulators (scripts/emulators/start.sh, then source its env.sh), or the in-repo double: npx tsx test/doubles/azure-key-vault.ts --port 8443 --ca-out /tmp/akv-ca.pem, with AKV_URL=https://localhost:8443 NODE_EXTRA_CA_CERTS=/tmp/akv-ca.pem');
}
// A static token: tests never reach DefaultAzureCredential (and so never a metadata endpoint).
const config = { vault_url: url, access_token: 'emulator' };
const env: Record<string, string | undefined> = {};
const stub = { getToken: async () => ({ token: 'x', expiresOnTimestamp: Date.now() + 3.6e6 }) };

const manager = (cfg: Record<string, unknown>, uuid = randomUUID(), name = 'akv-test') =>
  new SecretsManager({ record: { uuid, name, flavor: 'azure', config: cfg }, flavor: azure, configDir: '/nonexistent', env, schemas: createSchemaRegistry() });

// The fault proxy speaks HTTPS to the SDK (Key Vault clients refuse http) with a certificate of its own.
const proxyDir = mkdtempSync(join(tmpdir(), 'akv-proxy-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
  '-keyout', join(proxyDir, 'key.pem'), '-out', join(proxyDir, 'cert.pem')], { stdio: 'ignore' });

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
    const tags = { zenml_scope: 'component', zenml_secret_name: 'dbcreds', zenml_component_uuid: uuid, zenml_component_name: 'akv', zenml_secret_schema: 'arbitrary' };
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
    await assert.rejects(raw.getDeletedSecret(`keystack-global-${name}`), (e: { statusCode?: number }) => e.statusCode === 404);
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
    const local = (extra: Record<string, unknown> = {}) => manager({ vault_url: d.url, access_token: 't', ca_file: caFile, ...extra });

    it('a deleted but unpurged name gives a clear error, not a bare conflict', async () => {
      const m = local({ scope: 'global' });
      d.failNext(409, 1, /^PUT /);
      await assert.rejects(m.register('held', { a: '1' }), (e: { code?: string; message?: string; hint?: string }) =>
        e.code === 'backend' && /deleted \(not purged\)/.test(e.message ?? '') && /purge/.test(e.hint ?? ''));
      await m.close();
    });

    it('retries 429 honouring Retry-After, then succeeds', async () => {
      const m = local();
      d.failNext(429, 2, /^GET \/secrets$/, 0);
      assert.deepEqual(await m.list(), []);
      await m.close();
    });

    it('403 is a BackendError with a hint, never "not found"', async () => {
      const m = local();
      d.failNext(403, 1, /^GET \/secrets\//);
      await assert.rejects(m.get('x'), (e: { code?: string; hint?: string }) => e.code === 'backend' && /Key Vault Secrets Officer/.test(e.hint ?? ''));
      await m.close();
    });

    it('send tags and value in one write per register (no separate tag update)', async () => {
      const m = local({ scope: 'global' });
      const before = d.calls.length;
      await m.register('onewrite', { a: '1' });
      assert.deepEqual(d.calls.slice(before).filter((c) => !c.startsWith('GET')), ['PUT /secrets/keystack-global-onewrite']);
      await m.close();
    });
  });

  it('an unreachable vault is a BackendError', async () => {
    const m = manager({ vault_url: 'https://127.0.0.1:1', access_token: 't' });
    await assert.rejects(m.get('x'), (e: { code?: string; message?: string }) => e.code === 'backend' && /cannot reach/.test(e.message ?? ''));
    await m.close();
  });
});
