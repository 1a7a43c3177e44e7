/**
 * aws's compare-and-set for merges and rollbacks. Secrets Manager has no conditional write, but a
 * version id (ClientRequestToken) can be created only once, with one content: a second
 * PutSecretValue with the same token and another SecretString fails with ResourceExistsException.
 * Every keystack writer that read `version` derives the same token for its successor, so only one
 * of them can create it.
 *
 * A plain update, or another tool, writes under a random id, which that token cannot see. So
 * `version` must still be AWSCURRENT just before the write (DescribeSecret), and must be the
 * version the write replaced (AWSPREVIOUS) just after it. When another writer landed in between,
 * its version is made current again and the write reports a conflict: nothing it wrote is lost,
 * and the refused version stays in the history without a stage.
 */
import type * as Sdk from '@aws-sdk/client-secrets-manager';
import { createHash } from 'node:crypto';
import type { ReplaceOutcome } from '../core/types.js';
import { errorName } from './aws-client.js';

/** How many rollbacks of one version replaceIf steps over before it reports a conflict. */
const SUCCESSOR_GENERATIONS = 8;

/** What the compare-and-set needs from the flavor's backend. */
export interface AwsStore {
  /** PutSecretValue with this version id; null when the secret is absent. */
  put(name: string, token: string): Promise<Sdk.PutSecretValueCommandOutput | null>;
  /** DescribeSecret; null when absent or pending deletion. */
  describe(name: string): Promise<Sdk.DescribeSecretCommandOutput | null>;
  /** After a write: the checks and tag updates a plain update makes too. */
  written(name: string, out: Sdk.PutSecretValueCommandOutput): Promise<void>;
  /** Moves `stage` from version `from` to version `to` (UpdateSecretVersionStage). */
  moveStage(name: string, stage: string, to: string, from: string): Promise<void>;
}

export async function replaceIf(s: AwsStore, name: string, version: string): Promise<ReplaceOutcome> {
  const before = stageHolder(await s.describe(name), CURRENT);
  if (before === null) return 'absent';
  if (before !== version) return 'conflict';
  for (let generation = 0; generation < SUCCESSOR_GENERATIONS; generation++) {
    let out: Sdk.PutSecretValueCommandOutput | null;
    try {
      out = await s.put(name, successorToken(version, generation));
    } catch (e) {
      if (errorName(e) !== 'ResourceExistsException') throw e;
      const current = stageHolder(await s.describe(name), CURRENT);
      if (current === null) return 'absent';
      if (current !== version) return 'conflict';
      // `version` is current although its successor exists: its AWSCURRENT label was moved back
      // (a rollback), so that successor is history. The next generation is free for one writer.
      continue;
    }
    if (!out) return 'absent';
    if (out.VersionId !== undefined && (await landedBetween(s, name, version, out.VersionId))) return 'conflict';
    // Also when AWS ignored the request: the successor exists with exactly this content.
    await s.written(name, out);
    return 'updated';
  }
  return 'conflict';
}

/**
 * Whether another writer's version landed between the check and `ours`: then AWSPREVIOUS is on
 * it, not on `version`. Its version is made current again (AWS moves AWSPREVIOUS to ours; it goes
 * back to `version`), so that the history reads as if the refused write had not been current.
 */
async function landedBetween(s: AwsStore, name: string, version: string, ours: string): Promise<boolean> {
  const d = await s.describe(name);
  if (stageHolder(d, CURRENT) !== ours) return false;
  const theirs = stageHolder(d, PREVIOUS);
  if (theirs === null || theirs === version) return false;
  await s.moveStage(name, CURRENT, theirs, ours);
  await s.moveStage(name, PREVIOUS, version, ours);
  return true;
}

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';

/** The version id carrying `stage`, read without the value; null when absent. */
function stageHolder(d: Sdk.DescribeSecretCommandOutput | null, stage: string): string | null {
  const found = Object.entries(d?.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(stage));
  return found?.[0] ?? null;
}

/**
 * The version id of the successor of `version`, UUID-shaped (AWS takes 32-64 characters), the same
 * for every writer that read `version`. Version ids are not secret, and neither is this.
 */
export function successorToken(version: string, generation = 0): string {
  const h = createHash('sha256').update(`keystack-next:${generation}:${version}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
