/**
 * The optional versions part of the backend contract (DESIGN §16) on one backend of a cloud flavor
 * that keeps versions itself: listing (newest first, labelled, never a value), reading one,
 * retiring one, and the compare-and-set token being the listed id.
 */
import assert from 'node:assert/strict';
import type { BackendVersion, SecretsBackend, StoredVersion } from '../../src/core/types.js';

export interface VersionsCase {
  /** An id of the backend's own form that no version has. */
  unknownId: string;
  /** Whether the backend can retire a version (aws cannot: every version stays readable by id). */
  retires: boolean;
  /** A fresh secret name. */
  name: string;
}

const V = (values: Record<string, string>) => ({ schema: 'arbitrary', values });

export async function assertBackendVersions(be: SecretsBackend, c: VersionsCase): Promise<void> {
  const missing = () => Promise.reject(new Error('the backend has no versions'));
  const versions = (n: string): Promise<BackendVersion[] | null> => be.versions?.(n) ?? missing();
  const getVersion = (n: string, id: string): Promise<StoredVersion | null> => be.getVersion?.(n, id) ?? missing();
  const retireVersion = (n: string, id: string): Promise<boolean> => be.retireVersion?.(n, id) ?? missing();
  const name = c.name;
  assert.equal(await versions(name), null, 'versions of an absent secret');
  assert.equal(await getVersion(name, c.unknownId), null, 'a version of an absent secret');
  if (c.retires) assert.equal(await retireVersion(name, c.unknownId), false, 'retiring a version of an absent secret');

  assert.equal(await be.create(name, V({ user: 'first-value-xq' })), true);
  assert.equal(await be.update(name, V({ user: 'second-value-xq' })), true);
  assert.equal(await be.update(name, V({ user: 'second-value-xq', pw: 'third-value-xq' })), true);
  const listed = await versions(name);
  assert.ok(listed);
  assert.equal(listed.length, 3, JSON.stringify(listed));
  assert.doesNotMatch(JSON.stringify(listed), /value-xq/, 'a listing holds no value');
  const [cur, prev, first] = listed as [(typeof listed)[0], (typeof listed)[0], (typeof listed)[0]];
  assert.equal(new Set(listed.map((v) => v.id)).size, 3);
  assert.ok(cur.labels.includes('current') && !cur.labels.includes('previous'), JSON.stringify(cur));
  assert.ok(prev.labels.includes('previous') && !prev.labels.includes('current'), JSON.stringify(prev));
  assert.ok(!first.labels.includes('current') && !first.labels.includes('previous'), JSON.stringify(first));
  assert.ok(listed.every((v) => v.readable && (v.createdAt === null || v.createdAt instanceof Date)));
  if (be.read) assert.equal((await be.read(name))?.version, cur.id, 'the compare-and-set token is the listed id');

  const old = await getVersion(name, first.id);
  assert.deepEqual(old?.secret.values, { user: 'first-value-xq' });
  assert.equal(old.id, first.id);
  assert.deepEqual((await getVersion(name, prev.id))?.secret.values, { user: 'second-value-xq' });
  assert.ok((await getVersion(name, prev.id))?.labels.includes('previous'));
  const byLabel = await getVersion(name, 'current');
  assert.equal(byLabel?.id, cur.id);
  assert.ok(byLabel.labels.includes('current'));
  assert.equal((await getVersion(name, 'previous'))?.id, prev.id);
  assert.equal(await getVersion(name, c.unknownId), null, 'an unknown version');

  if (c.retires) {
    assert.equal(await retireVersion(name, c.unknownId), false, 'retiring an unknown version');
    assert.equal(await retireVersion(name, prev.id), true);
  } else {
    await assert.rejects(retireVersion(name, prev.id), { code: 'unsupported' });
  }
  const after = await versions(name);
  assert.equal(after?.length, 3);
  const retired = after.find((v) => v.id === prev.id);
  assert.ok(retired, 'a retired version is still listed');
  assert.equal(retired.readable, !c.retires);
  if (c.retires) await assert.rejects(getVersion(name, prev.id), /retired|disabled/i);
  else assert.deepEqual((await getVersion(name, prev.id))?.secret.values, { user: 'second-value-xq' });
  assert.deepEqual((await be.get(name))?.values, { user: 'second-value-xq', pw: 'third-value-xq' });

  // A compare-and-set write is a version like any other, and its token names it.
  const seen = await be.read?.(name);
  if (be.read && be.replaceIf && seen) {
    assert.equal(await be.replaceIf(name, V({ user: 'fourth-value-xq' }), seen.version), 'updated');
    const top = (await versions(name))?.[0];
    assert.ok(top?.labels.includes('current'));
    assert.notEqual(top?.id, cur.id);
    assert.equal((await be.read(name))?.version, top?.id);
  }
  assert.equal(await be.delete(name), true);
  assert.equal(await versions(name), null, 'versions of a deleted secret');
}
