/**
 * Compare-and-set for backends without one of their own, built from leases: a marker
 * `<id>@<ms since epoch>` on a secret that other writers respect until it is `leaseMs` old (its
 * writer is then taken to have crashed). gcp claims the version it supersedes on the secret's etag;
 * azure, with no conditional write at all, leases the version with a tag (see those files).
 */
import { backendFailure } from '../../support/scrub.js';
import type { ReplaceOutcome, VersionedSecret } from '../../core/types.js';

/** A lease marker for `id`, taken now. */
export function stamp(id: string): string {
  return `${id}@${Date.now()}`;
}

/** The id of the lease in `marker` while it is younger than `leaseMs`; null when there is none or it expired. */
export function heldLease(marker: string | undefined, leaseMs: number): string | null {
  const m = /^(.*)@(\d+)$/.exec(marker ?? '');
  return m?.[1] !== undefined && Date.now() - Number(m[2]) < leaseMs ? m[1] : null;
}

/**
 * Reads until no other writer holds a lease on what was read: `attempt` says whether one does,
 * and is repeated after a pause of `pause[0] + random * pause[1]` ms. After `leaseMs` the lease is
 * ignored, so that a stalled writer delays readers, but never blocks them.
 */
export async function readPastLeases<T>(
  leaseMs: number,
  pause: readonly [number, number],
  attempt: () => Promise<{ value: T; held: boolean }>,
): Promise<T> {
  const deadline = Date.now() + leaseMs;
  for (;;) {
    const { value, held } = await attempt();
    if (!held || Date.now() >= deadline) return value;
    await new Promise((r) => setTimeout(r, pause[0] + Math.random() * pause[1]));
  }
}

/**
 * A plain update made of compare-and-set rounds, for backends whose only safe write is the
 * conditional one: false when the secret is absent, and a failure after `rounds` conflicts.
 */
export async function updateByRounds(
  flavor: string,
  name: string,
  rounds: number,
  read: () => Promise<VersionedSecret | null>,
  replaceIf: (version: string) => Promise<ReplaceOutcome>,
): Promise<boolean> {
  for (let round = 0; round < rounds; round++) {
    const current = await read();
    if (!current) return false;
    const outcome = await replaceIf(current.version);
    if (outcome !== 'conflict') return outcome === 'updated';
  }
  throw backendFailure(
    { flavor, operation: 'update', secretName: name },
    new Error('concurrent writers kept changing the secret'),
    'concurrent writers kept changing the secret; the update was not applied',
    'Run the command again.',
  );
}
