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

/**
 * The outcome of concurrent `secret update` processes on one secret: every process that exited 0
 * has its key in the result, a process may fail only by losing the race (the conflict error),
 * and at least one succeeds.
 */
export function assertConcurrentUpdates(
  runs: readonly { status: number | null; stderr: string }[],
  values: Readonly<Record<string, unknown>>,
): void {
  runs.forEach((r, i) => {
    if (values[`p${i}`] !== `v${i}`) assert.notEqual(r.status, 0, `process ${i} exited 0 but its key is missing`);
    if (r.status !== 0)
      assert.match(
        r.stderr,
        /was changed by another writer while this change was applied; it was not applied/,
        `process ${i}`,
      );
  });
  assert.ok(
    runs.some((r) => r.status === 0),
    `no update succeeded:\n${runs.map((r) => r.stderr).join('')}`,
  );
}
