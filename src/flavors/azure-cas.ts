/**
 * azure's compare-and-set for merges (`read` / `replaceIf`). Key Vault has no conditional write, so
 * keystack takes a lease on the version it read (a `<prefix>_lock` tag set with PATCH), waits
 * LOCK_SETTLE_MS, and writes only if the version is still the current one and still carries its
 * own lease; the new version records its base in `<prefix>_base`. This is Fischer's timed mutual
 * exclusion: it cannot lose an update as long as a writer's check-then-PATCH takes less than
 * LOCK_SETTLE_MS. A writer stalled for longer (a paused VM, a very slow network), and writers that
 * do not take part (ZenML, plain `update`), can still overwrite a concurrent merge.
 */
import { randomBytes } from 'node:crypto';
import type { KeyVaultSecret } from '@azure/keyvault-secrets';
import type { StoredSecret } from '../secrets/content.js';
import { decodeOrFail } from '../core/kit.js';
import { httpStatus } from '../support/http.js';
import type { ReplaceOutcome, VersionedSecret } from '../core/types.js';
import { heldLease, readPastLeases, stamp } from './shared/cas.js';

/** How long a merge waits after taking its lease before it checks that the lease is still its own. */
const LOCK_SETTLE_MS = 300;
/** A lease older than this is abandoned (its writer crashed). */
const LOCK_LEASE_MS = 10_000;

/** What the compare-and-set needs from the flavor's backend. */
export interface AzureStore {
  prefix: string;
  /** The secret, or null when absent or not of this scope. */
  fetch(op: string, name: string): Promise<KeyVaultSecret | null>;
  /** The vault name, or null when no secret of this scope can have that name. */
  vaultName(name: string): string | null;
  /** Replaces the tags of one version (PATCH). */
  tag(name: string, full: string, version: string, tags: Record<string, string>): Promise<unknown>;
  write(
    op: string,
    name: string,
    secret: StoredSecret,
    tagName: string,
    extra: Record<string, string>,
  ): Promise<unknown>;
}

export function azureCas(s: AzureStore) {
  const lockTag = `${s.prefix}_lock`;
  const leaseHeld = (tag: string | undefined) => heldLease(tag, LOCK_LEASE_MS) !== null;

  const read = async (name: string): Promise<VersionedSecret | null> => {
    // Another merge holds a lease on this version and has not written yet: wait for its version.
    const found = await readPastLeases(LOCK_LEASE_MS, [100, 150], async () => {
      const value = await s.fetch('update', name);
      return { value, held: value !== null && leaseHeld(value.properties.tags?.[lockTag]) };
    });
    return (
      found && {
        secret: decodeOrFail('azure', name, found.value ?? '', s.prefix, 'the vault secret'),
        version: found.properties.version ?? '',
      }
    );
  };

  const replaceIf = async (name: string, secret: StoredSecret, version: string): Promise<ReplaceOutcome> => {
    const full = s.vaultName(name);
    if (full === null) return 'absent';
    // Check again right before taking the lease, so that the window the timing bound covers is one round trip.
    const before = await s.fetch('update', name);
    if (!before) return 'absent';
    if (before.properties.version !== version || leaseHeld(before.properties.tags?.[lockTag])) return 'conflict';
    const nonce = randomBytes(8).toString('hex');
    try {
      await s.tag(name, full, version, { ...before.properties.tags, [lockTag]: stamp(nonce) });
    } catch (e) {
      if (httpStatus(e) === 404) return 'absent';
      throw e;
    }
    await new Promise((r) => setTimeout(r, LOCK_SETTLE_MS));
    const after = await s.fetch('update', name);
    if (!after) return 'absent';
    if (after.properties.version !== version || !after.properties.tags?.[lockTag]?.startsWith(`${nonce}@`))
      return 'conflict';
    await s.write('update', name, secret, after.properties.tags[`${s.prefix}_secret_name`] ?? name, {
      [`${s.prefix}_base`]: version,
    });
    return 'updated';
  };

  return { read, replaceIf };
}
