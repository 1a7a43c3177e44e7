/**
 * `aws`: AWS Secrets Manager through the official SDK. One keystack secret is one AWS secret named
 * `<scope path>/<name>`, its SecretString the JSON payload, and (scoped managers) the scope tags of
 * ZenML 0.30's layout, so `scope_prefix=zenml` shares secrets with ZenML.
 */
import type * as Sdk from '@aws-sdk/client-secrets-manager';
import { encodeContent, type StoredSecret } from '../secrets/content.js';
import { BackendError, ConfigError } from '../errors.js';
import { scopeMetadata, secretMetadata } from '../secrets/scope.js';
import { allPages, decodeOrFail, unlikeBackend } from '../core/kit.js';
import { replaceIf } from './aws-cas.js';
import { CLASSIFY, errorMessage, errorName, loadClient, type AwsFlavorOptions } from './aws-client.js';
import { createCaller } from '../support/caller.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from '../core/types.js';

export { successorToken } from './aws-cas.js';

export type { AwsFlavorOptions } from './aws-client.js';
export const FLAVOR_NAME = 'aws';
const SDK = '@aws-sdk/client-secrets-manager';

export default defineFlavor<AwsFlavorOptions>({
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
  dependencies: { [SDK]: '~3.1164.0' },
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
  check(config) {
    const window = config.recovery_window_days;
    if (window !== undefined && (window < 7 || window > 30)) {
      throw new ConfigError('recovery_window_days of the aws flavor must be between 7 and 30', {
        hint: 'Leave it out to delete secrets at once, without a recovery window.',
      });
    }
  },
  create: (ctx) => createAwsBackend(ctx),
});

type Client = Sdk.SecretsManagerClient;

function createAwsBackend(ctx: FlavorContext<AwsFlavorOptions>): SecretsBackend {
  const { config, scope, names } = ctx;
  const window = config.recovery_window_days;
  const caller = createCaller({ flavor: FLAVOR_NAME, env: ctx.env, classify: CLASSIFY });
  let loading: Promise<{ sdk: typeof Sdk; client: Client }> | undefined;
  const lib = () => (loading ??= loadClient(config, caller.limits));
  const send =
    <T>(call: (sdk: typeof Sdk, client: Client) => Promise<T>) =>
    async (): Promise<T> => {
      const { sdk, client } = await lib();
      return call(sdk, client);
    };
  // The schema each secret was last seen with, so that an update re-tags only when it changes.
  const schemas = new Map<string, string>();
  const seen = (name: string, schema: string) => {
    if (schemas.size > 1000) schemas.clear();
    schemas.set(name, schema);
  };

  /** The secret and its version id (AWSCURRENT); null when absent or pending deletion. */
  const readVersioned = async (name: string): Promise<{ secret: StoredSecret; version: string | undefined } | null> => {
    // A secret inside its recovery window answers InvalidRequestException: it reads as absent.
    const out = await caller.orNull(
      'get',
      name,
      send((s, c) => c.send(new s.GetSecretValueCommand({ SecretId: names.full(name) }))),
    );
    if (!out) return null;
    if (out.ARN === undefined && out.Name === undefined)
      throw unconfirmed('get', name, 'GetSecretValue', 'ARN and Name');
    const stored = decode(name, names.full(name), out, scope.prefix);
    seen(name, stored.schema);
    return { secret: stored, version: out.VersionId };
  };

  /** The version id labelled AWSCURRENT, without reading the value; null when absent. */
  const currentVersion = async (name: string): Promise<string | null> => {
    const d = await caller.orNull(
      'update',
      name,
      send((s, c) => c.send(new s.DescribeSecretCommand({ SecretId: names.full(name) }))),
    );
    if (!d || d.DeletedDate) return null;
    const current = Object.entries(d.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'));
    return current?.[0] ?? null;
  };

  /** PutSecretValue leaves tags alone: the schema tag follows the content (one TagResource call when it changed). */
  const retag = async (name: string, schema: string) => {
    if (scope.scope !== 'none' && schemas.get(name) !== schema) {
      const Tags = [{ Key: `${scope.prefix}_secret_schema`, Value: schema }];
      await caller.run(
        'update',
        name,
        send((s, c) => c.send(new s.TagResourceCommand({ SecretId: names.full(name), Tags }))),
      );
    }
    seen(name, schema);
  };
  const written = async (name: string, schema: string, out: Sdk.PutSecretValueCommandOutput) => {
    if (out.VersionId === undefined) throw unconfirmed('update', name, 'PutSecretValue', 'VersionId');
    await retag(name, schema);
  };
  const cas = { currentVersion, exists: (e: unknown) => errorName(e) === 'ResourceExistsException' };

  const scopeTag = `${scope.prefix}_scope`;
  const filters = listFilters(ctx);
  const list = async (): Promise<string[]> => {
    const entries = await allPages(async (token) => {
      const page = await caller.run(
        'list',
        undefined,
        send((s, c) =>
          c.send(
            new s.ListSecretsCommand({
              ...(filters.length ? { Filters: filters } : {}),
              MaxResults: 100,
              ...(token ? { NextToken: token } : {}),
            }),
          ),
        ),
      );
      if (!Array.isArray(page.SecretList)) throw unconfirmed('list', undefined, 'ListSecrets', 'SecretList');
      return { items: page.SecretList, next: page.NextToken };
    });
    return entries
      .filter((e) => !e.DeletedDate && !(scope.scope === 'none' && e.Tags?.some((t) => t.Key === scopeTag)))
      .map((e) => (e.Name === undefined ? null : names.parse(e.Name)))
      .filter((n) => n !== null);
  };

  return {
    async create(name, secret) {
      const tags = Object.entries(secretMetadata(scope, name, secret.schema)).map(([Key, Value]) => ({ Key, Value }));
      let out: Sdk.CreateSecretCommandOutput | null;
      try {
        out = await caller.run(
          'register',
          name,
          send((s, c) =>
            c.send(
              new s.CreateSecretCommand({
                Name: names.full(name),
                SecretString: encodeContent(secret, scope.prefix),
                ...(tags.length ? { Tags: tags } : {}),
              }),
            ),
          ),
        );
      } catch (e) {
        if (CLASSIFY.exists?.(e)) return false;
        if (errorName(e) === 'InvalidRequestException' && /deletion|deleted/i.test(errorMessage(e)))
          throw pendingDeletion(name, names.full(name));
        throw e;
      }
      if ((out.ARN === undefined && out.Name === undefined) || out.VersionId === undefined)
        throw unconfirmed('register', name, 'CreateSecret', 'ARN, Name and VersionId');
      seen(name, secret.schema);
      return true;
    },
    async get(name) {
      return (await readVersioned(name))?.secret ?? null;
    },
    async read(name) {
      const r = await readVersioned(name);
      if (!r) return null;
      if (r.version === undefined) throw unconfirmed('get', name, 'GetSecretValue', 'VersionId');
      return { secret: r.secret, version: r.version };
    },
    list,
    async update(name, secret) {
      const id = names.full(name);
      const out = await caller.orNull(
        'update',
        name,
        send((s, c) =>
          c.send(new s.PutSecretValueCommand({ SecretId: id, SecretString: encodeContent(secret, scope.prefix) })),
        ),
      );
      if (!out) return false;
      await written(name, secret.schema, out);
      return true;
    },
    replaceIf: (name, secret, version) =>
      replaceIf(
        {
          ...cas,
          written: (n, out) => written(n, secret.schema, out),
          put: (n, token) =>
            caller.orNull(
              'update',
              n,
              send((s, c) =>
                c.send(
                  new s.PutSecretValueCommand({
                    SecretId: names.full(n),
                    SecretString: encodeContent(secret, scope.prefix),
                    ClientRequestToken: token,
                  }),
                ),
              ),
            ),
        },
        name,
        version,
      ),
    async delete(name) {
      const id = names.full(name);
      // Force-delete succeeds for a missing secret (as on AWS), so absence needs a look first.
      if (window === undefined) {
        const d = await caller.orNull(
          'delete',
          name,
          send((s, c) => c.send(new s.DescribeSecretCommand({ SecretId: id }))),
        );
        if (!d || d.DeletedDate) return false;
      }
      const how = window === undefined ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: window };
      const out = await caller.orNull(
        'delete',
        name,
        send((s, c) => c.send(new s.DeleteSecretCommand({ SecretId: id, ...how }))),
      );
      if (!out) return false;
      if (out.ARN === undefined && out.Name === undefined)
        throw unconfirmed('delete', name, 'DeleteSecret', 'ARN and Name');
      schemas.delete(name);
      return true;
    },
    async close() {
      const l = loading;
      loading = undefined;
      if (l) (await l.catch(() => undefined))?.client.destroy();
    },
  };
}

/**
 * ListSecrets filters for this scope, as ZenML built them: AWS matches tag keys and values by
 * prefix and independently of each other, so the name prefix pins the scope and names.parse()
 * drops the rest. Unscoped managers get no filter: ZenML's negated `tag-key=!zenml_scope` never
 * matches a secret without tags on moto (and AWS documents negation only loosely), so secrets
 * carrying the scope tag are dropped on this side instead (ListSecrets returns the tags).
 */
export function listFilters(ctx: FlavorContext<unknown>): Sdk.Filter[] {
  const { scope } = ctx;
  if (scope.scope === 'none') return [];
  const filters: Sdk.Filter[] = [];
  for (const [k, v] of Object.entries(scopeMetadata(scope))) {
    filters.push({ Key: 'tag-key', Values: [k] }, { Key: 'tag-value', Values: [v] });
  }
  filters.push({ Key: 'name', Values: [ctx.names.prefix] });
  return filters;
}

function decode(name: string, id: string, out: Sdk.GetSecretValueCommandOutput, prefix: string): StoredSecret {
  if (out.SecretString === undefined) {
    throw new BackendError({
      flavor: FLAVOR_NAME,
      operation: 'get',
      secretName: name,
      reason: `AWS secret '${id}' holds binary data (SecretBinary), not a keystack JSON secret`,
      hint: 'keystack reads only SecretString values holding a JSON object; manage this secret with the AWS console or CLI.',
    });
  }
  return decodeOrFail(FLAVOR_NAME, name, out.SecretString, prefix, `AWS secret '${id}'`);
}

/** A 2xx answer without the fields AWS always returns: something else answered (a proxy, a stub). */
function unconfirmed(operation: string, secretName: string | undefined, action: string, fields: string): BackendError {
  return unlikeBackend(FLAVOR_NAME, operation, secretName, {
    service: 'AWS Secrets Manager',
    detail: `its answer to ${action} has no ${fields}`,
    check: 'Check endpoint_url: it must reach AWS Secrets Manager itself, not a proxy or another service.',
    write: operation !== 'get' && operation !== 'list',
  });
}

function pendingDeletion(name: string, id: string): BackendError {
  return new BackendError({
    flavor: FLAVOR_NAME,
    operation: 'register',
    secretName: name,
    reason: `AWS secret '${id}' is scheduled for deletion (recovery window), so its name cannot be reused yet`,
    hint: `Restore it with \`aws secretsmanager restore-secret --secret-id ${id}\`, or remove it for good with \`aws secretsmanager delete-secret --secret-id ${id} --force-delete-without-recovery\`.`,
  });
}
