/** The compare-and-set contract on one backend: a write based on a stale read is a conflict. */
import assert from 'node:assert/strict';
import type { SecretsBackend } from '../../src/core/types.js';

export async function assertStaleWriteConflicts(be: SecretsBackend): Promise<void> {
  assert.ok(typeof be.read === 'function' && typeof be.replaceIf === 'function', 'the backend has no compare-and-set');
  assert.equal(await be.create('cas', { schema: 'arbitrary', values: { a: '1' } }), true);
  const first = await be.read('cas');
  const second = await be.read('cas');
  assert.ok(first && second);
  assert.equal(
    await be.replaceIf('cas', { schema: 'arbitrary', values: { a: '1', b: '2' } }, first.version),
    'updated',
  );
  assert.equal(
    await be.replaceIf('cas', { schema: 'arbitrary', values: { a: '1', c: '3' } }, second.version),
    'conflict',
  );
  const again = await be.read('cas');
  assert.ok(again);
  assert.deepEqual(again.secret.values, { a: '1', b: '2' });
  assert.equal(
    await be.replaceIf('cas', { schema: 'arbitrary', values: { a: '1', b: '2', c: '3' } }, again.version),
    'updated',
  );
  assert.deepEqual((await be.get('cas'))?.values, { a: '1', b: '2', c: '3' });
  assert.equal(await be.delete('cas'), true);
  assert.equal(await be.replaceIf('cas', { schema: 'arbitrary', values: {} }, again.version), 'absent');
  await be.close?.();
}
