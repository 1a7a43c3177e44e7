/**
 * aws's compare-and-set for merges. Secrets Manager has no conditional write, but a version id
 * (ClientRequestToken) can be created only once, with one content: a second PutSecretValue with
 * the same token and another SecretString fails with ResourceExistsException. Every writer that
 * read `version` derives the same token for its successor, so only one of them can create it.
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
}

export async function replaceIf(s: AwsStore, name: string, version: string): Promise<ReplaceOutcome> {
  for (let generation = 0; generation < SUCCESSOR_GENERATIONS; generation++) {
    let out: Sdk.PutSecretValueCommandOutput | null;
    try {
      out = await s.put(name, successorToken(version, generation));
    } catch (e) {
      if (errorName(e) !== 'ResourceExistsException') throw e;
      const current = currentVersion(await s.describe(name));
      if (current === null) return 'absent';
      if (current !== version) return 'conflict';
      // `version` is current although its successor exists: its AWSCURRENT label was moved back
      // (a rollback), so that successor is history. The next generation is free for one writer.
      continue;
    }
    if (!out) return 'absent';
    // Also when AWS ignored the request: the successor exists with exactly this content.
    await s.written(name, out);
    return 'updated';
  }
  return 'conflict';
}

/** The version id labelled AWSCURRENT, read without the value; null when absent. */
function currentVersion(d: Sdk.DescribeSecretCommandOutput | null): string | null {
  const current = Object.entries(d?.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'));
  return current?.[0] ?? null;
}

/**
 * The version id of the successor of `version`, UUID-shaped (AWS takes 32-64 characters), the same
 * for every writer that read `version`. Version ids are not secret, and neither is this.
 */
export function successorToken(version: string, generation = 0): string {
  const h = createHash('sha256').update(`keystack-next:${generation}:${version}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
