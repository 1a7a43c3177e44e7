import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import azure from '../../src/flavors/azure.js';
import { backendNames } from '../../src/secrets/scope.js';
import type { SecretsBackend } from '../../src/core/types.js';
import { startAkvDouble, type AkvDouble } from '../doubles/azure-key-vault.js';
import { assertBackendVersions } from '../support/backend-versions.js';

// In-process, so that the calls each operation makes can be counted.
let d: AkvDouble;
let caFile = '';
beforeAll(async () => {
  d = await startAkvDouble();
  caFile = join(mkdtempSync(join(tmpdir(), 'akv-ver-')), 'ca.pem');
  writeFileSync(caFile, d.ca);
});
afterAll(() => d.close());

const backends: SecretsBackend[] = [];
const backend = (): SecretsBackend => {
  const scope = { scope: 'global', componentUuid: randomUUID(), componentName: 'v', prefix: 'keystack' } as const;
  const be = azure.create({
    config: { vault_url: d.url, access_token: d.token, ca_file: caFile },
    scope,
    names: backendNames(scope, '-', () => true),
    configDir: '/nonexistent',
    env: {},
  });
  backends.push(be);
  return be;
};
afterAll(async () => {
  for (const be of backends) await be.close?.();
});
const fresh = () => `ver${randomBytes(5).toString('hex')}`;
const counted = async (fn: () => Promise<unknown>) => {
  const from = d.calls.length;
  await fn();
  return d.calls.slice(from).map((c) => c.replace(/\/[0-9a-f]{32}$/, '/{version}').replace(/-ver[0-9a-f]+/, '-NAME'));
};
const V = (a: string) => ({ schema: 'arbitrary', values: { a } });

describe('azure versions (version ids)', () => {
  it('lists, reads and retires versions; the compare-and-set token is the version id', async () => {
    await assertBackendVersions(backend(), { name: fresh(), unknownId: '0'.repeat(32), retires: true });
  });

  it('orders versions written within one second by the version each keystack write replaced', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, V('1'));
    // Key Vault's times are whole seconds and the double lists by id: only the base tags give the order.
    for (let i = 2; i <= 8; i++) await be.update(name, V(String(i)));
    const listed = (await be.versions?.(name)) ?? [];
    const values = [];
    for (const v of listed) values.push((await be.getVersion?.(name, v.id))?.secret.values['a']);
    assert.deepEqual(values, ['8', '7', '6', '5', '4', '3', '2', '1']);
    assert.deepEqual(
      listed.map((v) => v.labels),
      [['current'], ['previous'], [], [], [], [], [], []],
    );
  });

  it('retiring disables the version: reading it is not_found, naming the way back', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, V('1'));
    await be.update(name, V('2'));
    const prev = (await be.versions?.(name))?.[1];
    assert.ok(prev);
    assert.equal(await be.retireVersion?.(name, prev.id), true);
    await assert.rejects(be.getVersion!(name, prev.id), (e: { code?: string; message?: string; hint?: string }) => {
      assert.equal(e.code, 'not_found');
      assert.match(
        e.message ?? '',
        /retired: the vault secret version is disabled \(Key Vault answers 403 SecretDisabled/,
      );
      assert.match(e.hint ?? '', new RegExp(`--version ${prev.id} --enabled true`));
      return true;
    });
    assert.equal(await be.getVersion?.(name, 'not-a-version'), null);
    assert.equal(await be.retireVersion?.(name, 'not-a-version'), false);
  });

  it('uses the fewest calls: one per 25 versions to list, and that listing and one GET to read', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, V('1'));
    await be.update(name, V('2'));
    const [cur] = (await be.versions?.(name)) ?? [];
    assert.ok(cur);
    assert.deepEqual(await counted(() => be.versions!(name)), ['GET /secrets/keystack-global-NAME/versions']);
    assert.deepEqual(await counted(() => be.getVersion!(name, cur.id)), [
      'GET /secrets/keystack-global-NAME/versions',
      'GET /secrets/keystack-global-NAME/{version}',
    ]);
    assert.deepEqual(await counted(() => be.retireVersion!(name, '0'.repeat(32))), [
      'PATCH /secrets/keystack-global-NAME/{version}',
    ]);
    for (let i = 3; i <= 26; i++) await be.update(name, V(String(i)));
    assert.equal((await counted(() => be.versions!(name))).length, 2, '26 versions are two pages');
  });

  it('a secret of another scope under the same vault name has no versions here', async () => {
    const name = fresh();
    const a = backend();
    await a.create(name, V('1'));
    const other = azure.create({
      config: { vault_url: d.url, access_token: d.token, ca_file: caFile },
      scope: { scope: 'none', componentUuid: randomUUID(), componentName: 'v', prefix: 'keystack' },
      names: backendNames({ scope: 'none', componentUuid: '', componentName: '', prefix: 'keystack' }, '-', () => true),
      configDir: '/nonexistent',
      env: {},
    });
    backends.push(other);
    const full = `keystack-global-${name}`;
    assert.equal(await other.versions?.(full), null);
  });
});
