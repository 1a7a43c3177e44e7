import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import gcp from '../../src/flavors/gcp.js';
import { backendNames } from '../../src/secrets/scope.js';
import type { SecretsBackend } from '../../src/core/types.js';
import { startGsmDouble, type GsmDouble } from '../doubles/gcp-secret-manager.js';
import { assertBackendVersions } from '../support/backend-versions.js';

// In-process, so that the calls each operation makes can be counted.
let d: GsmDouble;
beforeAll(async () => {
  d = await startGsmDouble();
});
afterAll(() => d.close());

const project = `ks-ver-${randomBytes(4).toString('hex')}`;
const backends: SecretsBackend[] = [];
const backend = (): SecretsBackend => {
  const scope = { scope: 'global', componentUuid: randomUUID(), componentName: 'v', prefix: 'keystack' } as const;
  const be = gcp.create({
    config: { project_id: project, api_endpoint: d.endpoint },
    scope,
    names: backendNames(scope, '-', () => true),
    configDir: '/nonexistent',
    env: { METADATA_SERVER_DETECTION: 'none' },
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
  return d.calls.slice(from).sort();
};
const V = (a: string) => ({ schema: 'arbitrary', values: { a } });

describe('gcp versions (numbered versions)', () => {
  it('lists, reads and retires versions; the compare-and-set token is the version number', async () => {
    await assertBackendVersions(backend(), { name: fresh(), unknownId: '999', retires: true });
  });

  it('numbers versions as GCP does, labels the newest current and latest, and retiring disables', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, V('1'));
    await be.update(name, V('2'));
    const listed = await be.versions?.(name);
    assert.deepEqual(
      listed?.map((v) => [v.id, v.labels, v.readable]),
      [
        ['2', ['current', 'latest'], true],
        ['1', ['previous'], true],
      ],
    );
    assert.ok(listed.every((v) => v.createdAt instanceof Date));
    assert.equal(await be.retireVersion?.(name, '1'), true);
    assert.equal((await be.versions?.(name))?.[1]?.readable, false);
    await assert.rejects(be.getVersion!(name, '1'), (e: { code?: string; message?: string; hint?: string }) => {
      assert.equal(e.code, 'not_found');
      assert.match(e.message ?? '', /version 1 of secret '.*' was retired: the GCP secret version is disabled/);
      assert.match(e.hint ?? '', /gcloud secrets versions enable 1 --secret=keystack-global-/);
      return true;
    });
    assert.equal(await be.getVersion?.(name, 'v1'), null, 'not a version number');
    assert.equal(await be.retireVersion?.(name, 'latest'), false);
  });

  it('uses the fewest calls: one to list, two to read a version, one to retire', async () => {
    const be = backend();
    const name = fresh();
    await be.create(name, V('1'));
    await be.update(name, V('2'));
    assert.deepEqual(await counted(() => be.versions!(name)), ['ListSecretVersions']);
    assert.deepEqual(await counted(() => be.getVersion!(name, '1')), ['AccessSecretVersion', 'ListSecretVersions']);
    assert.deepEqual(await counted(() => be.getVersion!(name, 'current')), [
      'AccessSecretVersion',
      'ListSecretVersions',
    ]);
    assert.deepEqual(await counted(() => be.retireVersion!(name, '1')), ['DisableSecretVersion']);
    assert.deepEqual(await counted(() => be.getVersion!(name, 'x')), []);
  });

  it('a compare-and-set from another backend checks that its version is still the latest', async () => {
    const name = fresh();
    const a = backend();
    const b = backend();
    await a.create(name, V('1'));
    const seen = await a.read?.(name);
    assert.equal(seen?.version, '1');
    // b never read: it has no etag of its own for version 1, yet a stale token must still conflict.
    assert.equal(await b.replaceIf?.(name, V('2'), '1'), 'updated');
    assert.equal(await b.replaceIf?.(name, V('3'), '1'), 'conflict');
    assert.equal(await a.replaceIf?.(name, V('3'), '1'), 'conflict');
    assert.deepEqual((await a.get(name))?.values, { a: '2' });
    assert.equal(await b.replaceIf?.(name, V('3'), '2'), 'updated');
    assert.deepEqual(
      (await a.versions?.(name))?.map((v) => v.id),
      ['3', '2', '1'],
    );
  });
});
