/**
 * `aws`: AWS Secrets Manager through the official SDK. One keystack secret is one AWS secret named
 * `<scope path>/<name>`, its SecretString the JSON payload, and (scoped managers) the scope tags of
 * ZenML 0.30's layout, so `scope_prefix=zenml` shares secrets with ZenML.
 */
import type * as Sdk from '@aws-sdk/client-secrets-manager';
import { encodeContent, type StoredSecret } from '../secrets/content.js';
import { secretMetadata } from '../secrets/scope.js';
import { allPages, LastSeen } from '../core/kit.js';
import { replaceIf, successorToken } from './aws-cas.js';
import { awsVersions } from './aws-versions.js';
import { CLASSIFY, checkConfig, loadClient, type AwsClient, type AwsFlavorOptions } from './aws-client.js';
import { decode, listFilters, ownNames, registerFailure, unconfirmed } from './aws-answers.js';
import { defineFlavor, type Connection, type FlavorContext, type SecretsBackend } from '../core/types.js';

export { listFilters, successorToken };
export type { AwsFlavorOptions } from './aws-client.js';
export const FLAVOR_NAME = 'aws';

export default defineFlavor<AwsFlavorOptions, AwsClient>({
  name: FLAVOR_NAME,
  description: 'AWS Secrets Manager',
  supportsScoping: true,
  // AWS's own rule, which ZenML's aws flavor also applies ('.' included); AWS counts its
  // 512-character limit on the whole name, scope path included.
  nameRule: {
    pattern: /[A-Za-z0-9_+=.@-]+/,
    maxLength: 512,
    maxScopedLength: 512,
    dots: true,
    description: 'must contain only letters, digits and the characters _+=.@-',
  },
  // AWS's SecretString limit; moto does not enforce it, so the core checks it.
  maxContentBytes: 65536,
  capabilities: { readValues: true, retireVersions: false },
  dependencies: { '@aws-sdk/client-secrets-manager': '3.1164.0' },
  locationFields: ['region_name', 'endpoint_url'],
  // Which of a worker's own credentials is used: a job may not pick another.
  trustFields: ['profile'],
  config: {
    region_name: { type: 'string', description: 'AWS region, e.g. eu-west-2', required: true },
    endpoint_url: { type: 'string', description: 'endpoint override (emulators, VPC endpoints)' },
    profile: {
      type: 'string',
      description: 'named profile from ~/.aws/config (otherwise the default credential chain)',
    },
    aws_access_key_id: { type: 'string', description: 'static access key id', env: 'AWS_ACCESS_KEY_ID' },
    aws_secret_access_key: {
      type: 'string',
      description: 'static secret access key',
      sensitive: true,
      env: 'AWS_SECRET_ACCESS_KEY',
    },
    aws_session_token: {
      type: 'string',
      description: 'session token for temporary keys',
      sensitive: true,
      env: 'AWS_SESSION_TOKEN',
    },
    recovery_window_days: {
      type: 'integer',
      description: 'keep deleted secrets restorable for 7-30 days (default: delete at once)',
    },
  },
  check: checkConfig,
  connect: (ctx, limits) => loadClient(ctx.config, limits),
  classify: CLASSIFY,
  disconnect: ({ client }) => client.destroy(),
  operations: awsOperations,
});

function awsOperations(conn: Connection<AwsClient>, ctx: FlavorContext<AwsFlavorOptions>): SecretsBackend {
  const { config, scope, names } = ctx;
  const window = config.recovery_window_days;
  // The schema each secret was last seen with, so that an update re-tags only when it changes.
  const schemas = new LastSeen<string>();

  /** The secret and its version id (AWSCURRENT); null when absent or pending deletion. */
  const readVersioned = async (name: string): Promise<{ secret: StoredSecret; version: string | undefined } | null> => {
    // A secret inside its recovery window answers InvalidRequestException: it reads as absent.
    // AWSCURRENT is AWS's default; named, because moto otherwise answers with the last version
    // written, even after its AWSCURRENT stage was moved (aws-cas.ts moves it back on a conflict).
    const out = await conn.orNull('get', name, ({ sdk, client }) =>
      client.send(new sdk.GetSecretValueCommand({ SecretId: names.full(name), VersionStage: 'AWSCURRENT' })),
    );
    if (!out) return null;
    if (out.ARN === undefined && out.Name === undefined)
      throw unconfirmed('get', name, 'GetSecretValue', 'ARN and Name');
    const stored = decode(name, names.full(name), out, scope.prefix);
    schemas.remember(name, stored.schema);
    return { secret: stored, version: out.VersionId };
  };
  /** DescribeSecret; null when absent or pending deletion. */
  const described = async (op: string, name: string) => {
    const d = await conn.orNull(op, name, ({ sdk, client }) =>
      client.send(new sdk.DescribeSecretCommand({ SecretId: names.full(name) })),
    );
    return d && !d.DeletedDate ? d : null;
  };
  /** PutSecretValue leaves tags alone: the schema tag follows the content (one TagResource call when it changed). */
  const written = async (name: string, schema: string, out: Sdk.PutSecretValueCommandOutput) => {
    if (out.VersionId === undefined) throw unconfirmed('update', name, 'PutSecretValue', 'VersionId');
    if (scope.scope !== 'none' && schemas.get(name) !== schema) {
      const Tags = [{ Key: `${scope.prefix}_secret_schema`, Value: schema }];
      await conn.call('update', name, ({ sdk, client }) =>
        client.send(new sdk.TagResourceCommand({ SecretId: names.full(name), Tags })),
      );
    }
    schemas.remember(name, schema);
  };
  const put = (name: string, secret: StoredSecret, token?: string) =>
    conn.orNull('update', name, ({ sdk, client }) =>
      client.send(
        new sdk.PutSecretValueCommand({
          SecretId: names.full(name),
          SecretString: encodeContent(secret, scope.prefix),
          ...(token === undefined ? {} : { ClientRequestToken: token }),
        }),
      ),
    );

  const filters = listFilters(ctx);
  const list = async (): Promise<string[]> => {
    const entries = await allPages(async (token) => {
      const page = await conn.call('list', undefined, ({ sdk, client }) =>
        client.send(
          new sdk.ListSecretsCommand({
            ...(filters.length ? { Filters: filters } : {}),
            MaxResults: 100,
            ...(token ? { NextToken: token } : {}),
          }),
        ),
      );
      if (!Array.isArray(page.SecretList)) throw unconfirmed('list', undefined, 'ListSecrets', 'SecretList');
      return { items: page.SecretList, next: page.NextToken };
    });
    return ownNames(ctx, entries);
  };

  return {
    async create(name, secret) {
      const tags = Object.entries(secretMetadata(scope, name, secret.schema)).map(([Key, Value]) => ({ Key, Value }));
      let out: Sdk.CreateSecretCommandOutput | null;
      try {
        out = await conn.call('register', name, ({ sdk, client }) =>
          client.send(
            new sdk.CreateSecretCommand({
              Name: names.full(name),
              SecretString: encodeContent(secret, scope.prefix),
              ...(tags.length ? { Tags: tags } : {}),
            }),
          ),
        );
      } catch (e) {
        if (CLASSIFY.exists?.(e)) return false;
        throw registerFailure(e, name, names.full(name));
      }
      if ((out.ARN === undefined && out.Name === undefined) || out.VersionId === undefined)
        throw unconfirmed('register', name, 'CreateSecret', 'ARN, Name and VersionId');
      schemas.remember(name, secret.schema);
      return true;
    },
    get: async (name) => (await readVersioned(name))?.secret ?? null,
    async read(name) {
      const r = await readVersioned(name);
      if (!r) return null;
      if (r.version === undefined) throw unconfirmed('get', name, 'GetSecretValue', 'VersionId');
      return { secret: r.secret, version: r.version };
    },
    list,
    ...awsVersions(conn, ctx, async (n) => (await described('versions', n)) !== null),
    async update(name, secret) {
      const out = await put(name, secret);
      if (!out) return false;
      await written(name, secret.schema, out);
      return true;
    },
    replaceIf: (name, secret, version) =>
      replaceIf(
        {
          describe: (n) => described('update', n),
          written: (n, out) => written(n, secret.schema, out),
          put: (n, token) => put(n, secret, token),
          moveStage: async (n, VersionStage, MoveToVersionId, RemoveFromVersionId) => {
            await conn.call('update', n, ({ sdk, client }) =>
              client.send(
                new sdk.UpdateSecretVersionStageCommand({
                  SecretId: names.full(n),
                  VersionStage,
                  MoveToVersionId,
                  RemoveFromVersionId,
                }),
              ),
            );
          },
        },
        name,
        version,
      ),
    async delete(name) {
      // Force-delete succeeds for a missing secret (as on AWS), so absence needs a look first.
      if (window === undefined && !(await described('delete', name))) return false;
      const how = window === undefined ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: window };
      const out = await conn.orNull('delete', name, ({ sdk, client }) =>
        client.send(new sdk.DeleteSecretCommand({ SecretId: names.full(name), ...how })),
      );
      if (!out) return false;
      if (out.ARN === undefined && out.Name === undefined)
        throw unconfirmed('delete', name, 'DeleteSecret', 'ARN and Name');
      schemas.delete(name);
      return true;
    },
  };
}
