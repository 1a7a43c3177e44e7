/**
 * aws's versions (DESIGN §16): Secrets Manager keeps VersionIds, and moves the AWSCURRENT and
 * AWSPREVIOUS stages on each write. keystack lists them with ListSecretVersionIds (one call per
 * 100 versions, deprecated ones included, since they stay readable by id), reads one with
 * GetSecretValue (one call, by VersionId or by stage for `current` / `previous`). It cannot retire
 * one: AWS has no way to make a single version unreadable (`capabilities.retireVersions` is false).
 */
import type * as Sdk from '@aws-sdk/client-secrets-manager';
import { UnsupportedOperationError } from '../errors.js';
import { allPages } from '../core/kit.js';
import type { BackendVersion, Connection, FlavorContext, SecretsBackend, StoredVersion } from '../core/types.js';
import { decode, unconfirmed } from './aws-answers.js';
import type { AwsClient } from './aws-client.js';

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
/** keystack's own pins for the two stages AWS moves on every write. */
const STAGE_OF: Readonly<Record<string, string>> = { current: CURRENT, previous: PREVIOUS };

type VersionOps = Required<Pick<SecretsBackend, 'versions' | 'getVersion' | 'retireVersion'>>;

/**
 * The version operations over the flavor's connection; `exists` is DescribeSecret, asked only when
 * a listing failed, to tell an absent secret from a failure (moto answers a listing of an absent
 * secret with a bare 500, where AWS says ResourceNotFoundException).
 */
export function awsVersions(
  conn: Connection<AwsClient>,
  ctx: FlavorContext<unknown>,
  exists: (name: string) => Promise<boolean>,
): VersionOps {
  const full = (name: string) => ctx.names.full(name);

  const versions = async (name: string): Promise<BackendVersion[] | null> => {
    let entries: Sdk.SecretVersionsListEntry[];
    try {
      const seen = { absent: false };
      entries = await allPages(async (token) => {
        const page = await conn.orNull('versions', name, ({ sdk, client }) =>
          client.send(
            new sdk.ListSecretVersionIdsCommand({
              SecretId: full(name),
              IncludeDeprecated: true,
              MaxResults: 100,
              ...(token ? { NextToken: token } : {}),
            }),
          ),
        );
        if (page === null) seen.absent = true;
        else if (!Array.isArray(page.Versions)) throw unconfirmed('versions', name, 'ListSecretVersionIds', 'Versions');
        return { items: page?.Versions ?? [], next: page?.NextToken };
      });
      if (seen.absent) return null;
    } catch (e) {
      if (!(await exists(name).catch(() => true))) return null;
      throw e;
    }
    return ordered(entries).map((v) => ({
      id: v.VersionId ?? '',
      createdAt: v.CreatedDate ?? null,
      labels: labels(v.VersionStages),
      readable: true,
    }));
  };

  const getVersion = async (name: string, version: string): Promise<StoredVersion | null> => {
    const stage = STAGE_OF[version];
    // AWS refuses a VersionId outside 32-64 characters as invalid; no version can have one.
    if (stage === undefined && (version.length < 32 || version.length > 64)) return null;
    const out = await conn.orNull('get', name, ({ sdk, client }) =>
      client.send(
        new sdk.GetSecretValueCommand({
          SecretId: full(name),
          ...(stage === undefined ? { VersionId: version } : { VersionStage: stage }),
        }),
      ),
    );
    if (!out) return null;
    if (out.VersionId === undefined) throw unconfirmed('get', name, 'GetSecretValue', 'VersionId');
    return {
      id: out.VersionId,
      createdAt: out.CreatedDate ?? null,
      labels: labels(out.VersionStages),
      readable: true,
      secret: decode(name, full(name), out, ctx.scope.prefix),
    };
  };

  // Taking AWSPREVIOUS away would not do it: a version without stages stays readable by its id,
  // and keystack's `previous` would still name it. Claiming a retire that is not one is worse.
  const retireVersion = (name: string, version: string): Promise<boolean> =>
    Promise.reject(
      new UnsupportedOperationError(
        'aws',
        `retire version ${version} of '${name}'`,
        'Secrets Manager cannot make one version unreadable (a version stays readable by its VersionId until AWS deletes it)',
        'To stop an old value working, revoke or rotate it where it was issued; AWS drops versions without staging labels on its own schedule.',
      ),
    );

  return { versions, getVersion, retireVersion };
}

/** keystack's labels for AWS stages, followed by the stages as AWS names them. */
function labels(stages: readonly string[] | undefined): string[] {
  const s = stages ?? [];
  return [...(s.includes(CURRENT) ? ['current'] : []), ...(s.includes(PREVIOUS) ? ['previous'] : []), ...s];
}

/**
 * Newest first. AWS documents no order for ListSecretVersionIds, and moto stamps every version
 * with the time of the listing, so ties go to the stages (AWSCURRENT, then AWSPREVIOUS), then to the
 * listing order reversed (moto lists in creation order).
 */
function ordered(entries: Sdk.SecretVersionsListEntry[]): Sdk.SecretVersionsListEntry[] {
  const rank = (v: Sdk.SecretVersionsListEntry) =>
    v.VersionStages?.includes(CURRENT) ? 0 : v.VersionStages?.includes(PREVIOUS) ? 1 : 2;
  return entries
    .map((v, i) => ({ v, i }))
    .sort(
      (a, b) =>
        (b.v.CreatedDate?.getTime() ?? 0) - (a.v.CreatedDate?.getTime() ?? 0) || rank(a.v) - rank(b.v) || b.i - a.i,
    )
    .map(({ v }) => v);
}
