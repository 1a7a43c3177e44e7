/**
 * The conformance suite's concurrency group: many managers (each with its own backend client, as
 * separate processes would have) writing one secret at the same time. A change may fail, but a
 * change reported as done must be there afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isKeystackError } from '../errors.js';
import type { SecretsManager } from '../core/manager.js';
import type { ConformanceHelpers, TestRunner } from './conformance.js';

/** Concurrent writers per test: enough to collide every round, few enough for rate-limited servers. */
const WRITERS = 8;

export interface ConcurrencyOptions {
  /** Whether values can be read back (see ConformanceOptions.readValues). */
  readable: boolean;
}

export function testConcurrency(t: TestRunner, h: ConformanceHelpers, o: ConcurrencyOptions): void {
  /** WRITERS managers that share one scope (the same UUID), each with its own backend. */
  const writers = (): SecretsManager[] => {
    const uuid = h.manager().uuid;
    return Array.from({ length: WRITERS }, () => h.manager({ uuid }));
  };
  const failures = (outcomes: PromiseSettledResult<unknown>[]) =>
    outcomes.flatMap((r, i) =>
      r.status === 'rejected'
        ? [`writer ${i}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`]
        : [],
    );

  // Which contract applies is known when the tests are registered, so each test's name says it.
  const probe = h.manager();
  let atomicMerge = false;
  try {
    atomicMerge = probe.mergesAtomically;
  } catch {
    // A flavor that cannot even be created fails every test below with its own error.
  }
  const atomicCreate = probe.flavor.capabilities.atomicCreate !== false;
  const lastWriterWins = '(no compare-and-set on this backend: last writer wins, so only failures are checked)';

  t.describe('concurrency', () => {
    // Write-only backends cannot patch (it needs the current values) nor show what survived.
    if (o.readable) {
      t.it(
        atomicMerge
          ? `concurrent patches of one secret from ${WRITERS} managers all land (compare-and-set)`
          : `concurrent patches of one secret from ${WRITERS} managers fail only with keystack errors ${lastWriterWins}`,
        async () => {
          const ms = writers();
          const [first] = ms;
          assert.ok(first);
          const name = h.name();
          h.cleanup(first, name);
          await first.register(name, { base: '0' });
          const outcomes = await Promise.allSettled(ms.map((m, i) => m.patch(name, { set: { [`key${i}`]: `v${i}` } })));
          const values = (await first.get(name)).values;
          assert.equal(values['base'], '0', 'a concurrent patch dropped a key none of them changed');
          outcomes.forEach((r, i) => {
            if (r.status === 'rejected')
              assert.ok(isKeystackError(r.reason), `writer ${i} failed with a non-keystack error: ${String(r.reason)}`);
          });
          if (!atomicMerge) return;
          assert.deepEqual(failures(outcomes), [], 'with compare-and-set every concurrent patch must land');
          const kept = ms.filter((_, i) => values[`key${i}`] === `v${i}`).length;
          assert.equal(kept, WRITERS, `every patch succeeded, but only ${kept} of ${WRITERS} changes are there`);
        },
      );

      t.it(
        atomicMerge
          ? `concurrent patches removing different keys from ${WRITERS} managers all land (compare-and-set)`
          : `concurrent patches removing different keys fail only with keystack errors ${lastWriterWins}`,
        async () => {
          const ms = writers();
          const [first] = ms;
          assert.ok(first);
          const name = h.name();
          h.cleanup(first, name);
          await first.register(name, { base: '0', ...Object.fromEntries(ms.map((_, i) => [`old${i}`, 'x'])) });
          const outcomes = await Promise.allSettled(ms.map((m, i) => m.patch(name, { remove: [`old${i}`] })));
          const values = (await first.get(name)).values;
          outcomes.forEach((r, i) => {
            if (r.status === 'rejected')
              assert.ok(isKeystackError(r.reason), `writer ${i} failed with a non-keystack error: ${String(r.reason)}`);
          });
          if (!atomicMerge) return;
          assert.deepEqual(failures(outcomes), [], 'with compare-and-set every concurrent patch must land');
          assert.deepEqual(values, { base: '0' }, 'a removal reported done was undone by another writer');
        },
      );
    }

    t.it(
      atomicCreate
        ? `concurrent register of one name from ${WRITERS} managers: exactly one wins, the others get SecretExistsError`
        : `concurrent register of one name from ${WRITERS} managers: at least one wins, the others get SecretExistsError (no create-only write on this backend: several may win, the last one's values stay)`,
      async () => {
        const ms = writers();
        const [first] = ms;
        assert.ok(first);
        const name = h.name();
        h.cleanup(first, name);
        const mine = ms.map(() => randomBytes(12).toString('base64url'));
        const outcomes = await Promise.allSettled(ms.map((m, i) => m.register(name, { v: mine[i] ?? '' })));
        const winners = outcomes.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        for (const r of outcomes) {
          if (r.status === 'rejected')
            assert.ok(
              isKeystackError(r.reason) && r.reason.code === 'secret_exists',
              `expected secret_exists, got ${String(r.reason)}`,
            );
        }
        assert.ok(winners.length >= 1, 'no register succeeded');
        if (atomicCreate)
          assert.equal(winners.length, 1, `${winners.length} concurrent registers of one name succeeded`);
        if (!o.readable) return;
        const stored = (await first.get(name)).values['v'];
        assert.ok(
          winners.some((i) => mine[i] === stored),
          'the stored values are not those of a register that succeeded',
        );
      },
    );
  });
}
