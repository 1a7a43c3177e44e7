/**
 * `aws`: AWS Secrets Manager through the official SDK. One keystack secret is one AWS secret named
 * `<scope path>/<name>`, its SecretString the JSON payload, and (scoped managers) the scope tags of
 * ZenML 0.30's layout, so `scope_prefix=zenml` shares secrets with ZenML.
 */
import type * as Sdk from '@aws-sdk/client-secrets-manager';
import { createHash } from 'node:crypto';
import { encodeContent, type StoredSecret } from '../secrets/content.js';
import { BackendError, ConfigError } from '../errors.js';
import { scopeMetadata, secretMetadata } from '../secrets/scope.js';
import { allPages, decodeOrFail, unlikeBackend } from '../core/kit.js';
import { createCaller, type CallLimits, type FailureClassifier } from '../support/caller.js';
import { httpStatus } from '../support/http.js';
import { importLib } from '../support/optional-import.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from '../core/types.js';

export const FLAVOR_NAME = 'aws';
const SDK = '@aws-sdk/client-secrets-manager';

export interface AwsFlavorOptions {
  region_name: string;
  /** Another endpoint, for emulators and VPC endpoints. */
  endpoint_url?: string;
  /** A named profile of the shared AWS config files. */
  profile?: string;
  aws_access_key_id?: string;
  aws_secret_access_key?: string;
  aws_session_token?: string;
  /** Keep deleted secrets restorable for this many days (7-30). @default delete at once */
  recovery_window_days?: number;
}

export default defineFlavor<AwsFlavorOptions>({
  name: FLAVOR_NAME,
  description: 'AWS Secrets Manager',
  supportsScoping: true,
  // AWS's own rule, which ZenML's aws flavor also applies ('.' included); AWS counts its
  // 512-character limit on the whole name, scope path included.
  nameRule: { pattern: /[A-Za-z0-9_+=.@-]+/, maxLength: 512, maxScopedLength: 512, dots: true, description: 'must contain only letters, digits and the characters _+=.@-' },
  // AWS's SecretString limit; moto does not enforce it, so the core checks it.
  maxContentBytes: 65536,
  dependencies: { [SDK]: '~3.1164.0' },
  locationFields: ['region_name', 'endpoint_url'],
  // Which of a worker's own credentials is used: a job may not pick another.
  trustFields: ['profile'],
  config: {
    region_name: { type: 'string', description: 'AWS region, e.g. eu-west-2', required: true },
    endpoint_url: { type: 'string', description: 'endpoint override (emulators, VPC endpoints)' },
    profile: { type: 'string', description: 'named profile from ~/.aws/config (otherwise the default credential chain)' },
    aws_access_key_id: { type: 'string', description: 'static access key id', env: 'AWS_ACCESS_KEY_ID' },
    aws_secret_access_key: { type: 'string', description: 'static secret access key', sensitive: true, env: 'AWS_SECRET_ACCESS_KEY' },
    aws_session_token: { type: 'string', description: 'session token for temporary keys', sensitive: true, env: 'AWS_SESSION_TOKEN' },
    recovery_window_days: { type: 'integer', description: 'keep deleted secrets restorable for 7-30 days (default: delete at once)' },
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
  const send = <T>(call: (sdk: typeof Sdk, client: Client) => Promise<T>) => async (): Promise<T> => {
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
    const out = await caller.orNull('get', name, send((s, c) => c.send(new s.GetSecretValueCommand({ SecretId: names.full(name) }))));
    if (!out) return null;
    if (out.ARN === undefined && out.Name === undefined) throw unconfirmed('get', name, 'GetSecretValue', 'ARN and Name');
    const stored = decode(name, names.full(name), out, scope.prefix);
    seen(name, stored.schema);
    return { secret: stored, version: out.VersionId };
  };

  /** The version id labelled AWSCURRENT, without reading the value; null when absent. */
  const currentVersion = async (name: string): Promise<string | null> => {
    const d = await caller.orNull('update', name, send((s, c) => c.send(new s.DescribeSecretCommand({ SecretId: names.full(name) }))));
    if (!d || d.DeletedDate) return null;
    const current = Object.entries(d.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'));
    return current?.[0] ?? null;
  };

  /** PutSecretValue leaves tags alone: the schema tag follows the content (one TagResource call when it changed). */
  const retag = async (name: string, schema: string) => {
    if (scope.scope !== 'none' && schemas.get(name) !== schema) {
      const Tags = [{ Key: `${scope.prefix}_secret_schema`, Value: schema }];
      await caller.run('update', name, send((s, c) => c.send(new s.TagResourceCommand({ SecretId: names.full(name), Tags }))));
    }
    seen(name, schema);
  };

  const scopeTag = `${scope.prefix}_scope`;
  const filters = listFilters(ctx);
  const list = async (): Promise<string[]> => {
    const entries = await allPages(async (token) => {
      const page = await caller.run('list', undefined, send((s, c) => c.send(new s.ListSecretsCommand({ ...(filters.length ? { Filters: filters } : {}), MaxResults: 100, ...(token ? { NextToken: token } : {}) }))));
      if (!Array.isArray(page.SecretList)) throw unconfirmed('list', undefined, 'ListSecrets', 'SecretList');
      return { items: page.SecretList, next: page.NextToken };
    });
    return entries.filter((e) => !e.DeletedDate && !(scope.scope === 'none' && e.Tags?.some((t) => t.Key === scopeTag)))
      .map((e) => (e.Name === undefined ? null : names.parse(e.Name))).filter((n) => n !== null);
  };

  return {
    async create(name, secret) {
      const tags = Object.entries(secretMetadata(scope, name, secret.schema)).map(([Key, Value]) => ({ Key, Value }));
      let out: Sdk.CreateSecretCommandOutput | null;
      try {
        out = await caller.run('register', name, send((s, c) => c.send(new s.CreateSecretCommand({ Name: names.full(name), SecretString: encodeContent(secret, scope.prefix), ...(tags.length ? { Tags: tags } : {}) }))));
      } catch (e) {
        if (CLASSIFY.exists?.(e)) return false;
        if (errorName(e) === 'InvalidRequestException' && /deletion|deleted/i.test(errorMessage(e))) throw pendingDeletion(name, names.full(name));
        throw e;
      }
      if ((out.ARN === undefined && out.Name === undefined) || out.VersionId === undefined) throw unconfirmed('register', name, 'CreateSecret', 'ARN, Name and VersionId');
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
      const out = await caller.orNull('update', name, send((s, c) => c.send(new s.PutSecretValueCommand({ SecretId: id, SecretString: encodeContent(secret, scope.prefix) }))));
      if (!out) return false;
      if (out.VersionId === undefined) throw unconfirmed('update', name, 'PutSecretValue', 'VersionId');
      await retag(name, secret.schema);
      return true;
    },
    /**
     * Secrets Manager has no conditional write, but a version id (ClientRequestToken) can be
     * created only once, with one content: a second PutSecretValue with the same token and another
     * SecretString fails with ResourceExistsException. Every writer that read `version` derives the
     * same token for its successor, so only one of them can create it: a compare-and-set.
     */
    async replaceIf(name, secret, version) {
      const body = encodeContent(secret, scope.prefix);
      for (let generation = 0; generation < SUCCESSOR_GENERATIONS; generation++) {
        let out: Sdk.PutSecretValueCommandOutput | null;
        try {
          out = await caller.orNull('update', name, send((s, c) => c.send(new s.PutSecretValueCommand({ SecretId: names.full(name), SecretString: body, ClientRequestToken: successorToken(version, generation) }))));
        } catch (e) {
          if (errorName(e) !== 'ResourceExistsException') throw e;
          const current = await currentVersion(name);
          if (current === null) return 'absent';
          if (current !== version) return 'conflict';
          // `version` is current although its successor exists: its AWSCURRENT label was moved back
          // (a rollback), so that successor is history. The next generation is free for one writer.
          continue;
        }
        if (!out) return 'absent';
        // Also when AWS ignored the request: the successor exists with exactly this content.
        if (out.VersionId === undefined) throw unconfirmed('update', name, 'PutSecretValue', 'VersionId');
        await retag(name, secret.schema);
        return 'updated';
      }
      return 'conflict';
    },
    async delete(name) {
      const id = names.full(name);
      // Force-delete succeeds for a missing secret (as on AWS), so absence needs a look first.
      if (window === undefined) {
        const d = await caller.orNull('delete', name, send((s, c) => c.send(new s.DescribeSecretCommand({ SecretId: id }))));
        if (!d || d.DeletedDate) return false;
      }
      const how = window === undefined ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: window };
      const out = await caller.orNull('delete', name, send((s, c) => c.send(new s.DeleteSecretCommand({ SecretId: id, ...how }))));
      if (!out) return false;
      if (out.ARN === undefined && out.Name === undefined) throw unconfirmed('delete', name, 'DeleteSecret', 'ARN and Name');
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

async function loadClient(config: AwsFlavorOptions, limits: CallLimits): Promise<{ sdk: typeof Sdk; client: Client }> {
  const sdk = await importLib(FLAVOR_NAME, SDK, () => import('@aws-sdk/client-secrets-manager'));
  const options: Sdk.SecretsManagerClientConfig = {
    region: config.region_name,
    // createCaller owns retries, so that throttling is retried once, with our backoff and error.
    maxAttempts: 1,
    // Without throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes and
    // keeps waiting: an endpoint that accepts connections but never answers hung for minutes.
    requestHandler: { connectionTimeout: Math.min(10_000, limits.requestTimeoutMs), requestTimeout: limits.requestTimeoutMs, throwOnRequestTimeout: true },
  };
  if (config.endpoint_url) options.endpoint = config.endpoint_url;
  if (config.profile) {
    options.profile = config.profile;
  } else if (config.aws_access_key_id && config.aws_secret_access_key) {
    options.credentials = {
      accessKeyId: config.aws_access_key_id,
      secretAccessKey: config.aws_secret_access_key,
      ...(config.aws_session_token ? { sessionToken: config.aws_session_token } : {}),
    };
  }
  return { sdk, client: withoutNodeVersionNotice(() => new sdk.SecretsManagerClient(options)) };
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

/** How many rollbacks of one version replaceIf steps over before it reports a conflict. */
const SUCCESSOR_GENERATIONS = 8;

/**
 * The version id of the successor of `version`, UUID-shaped (AWS takes 32-64 characters), the same
 * for every writer that read `version`. Version ids are not secret, and neither is this.
 */
export function successorToken(version: string, generation = 0): string {
  const h = createHash('sha256').update(`keystack-next:${generation}:${version}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const NOTICE_OFF = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * keystack pins the SDK line that supports Node 20; on every CLI call the SDK would otherwise
 * print a multi-line notice about future releases that its users cannot act on. The SDK reads
 * this variable only, synchronously, while a client is constructed (and then never again in the
 * process), so it is set for that call alone: the process environment, which child processes
 * and the user's own code inherit, is left as it was.
 */
function withoutNodeVersionNotice<T>(construct: () => T): T {
  const before = process.env[NOTICE_OFF];
  process.env[NOTICE_OFF] = 'true';
  try {
    return construct();
  } finally {
    if (before === undefined) Reflect.deleteProperty(process.env, NOTICE_OFF);
    else process.env[NOTICE_OFF] = before;
  }
}

function decode(name: string, id: string, out: Sdk.GetSecretValueCommandOutput, prefix: string): StoredSecret {
  if (out.SecretString === undefined) {
    throw new BackendError({ flavor: FLAVOR_NAME, operation: 'get', secretName: name,
      reason: `AWS secret '${id}' holds binary data (SecretBinary), not a keystack JSON secret`,
      hint: 'keystack reads only SecretString values holding a JSON object; manage this secret with the AWS console or CLI.' });
  }
  return decodeOrFail(FLAVOR_NAME, name, out.SecretString, prefix, `AWS secret '${id}'`);
}

/** A 2xx answer without the fields AWS always returns: something else answered (a proxy, a stub). */
function unconfirmed(operation: string, secretName: string | undefined, action: string, fields: string): BackendError {
  return unlikeBackend(FLAVOR_NAME, operation, secretName, { service: 'AWS Secrets Manager', detail: `its answer to ${action} has no ${fields}`,
    check: 'Check endpoint_url: it must reach AWS Secrets Manager itself, not a proxy or another service.', write: operation !== 'get' && operation !== 'list' });
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

function errorName(e: unknown): string {
  const x = e as { name?: unknown } | null;
  return typeof x?.name === 'string' ? x.name : '';
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const THROTTLING = new Set(['ThrottlingException', 'TooManyRequestsException', 'Throttling', 'RequestLimitExceeded', 'SlowDown']);
const AUTH = new Set(['UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'InvalidClientTokenId', 'ExpiredTokenException', 'IncompleteSignature']);

const CLASSIFY: FailureClassifier = {
  throttled: (e) => THROTTLING.has(errorName(e)) || httpStatus(e) === 429,
  absent: (e) => errorName(e) === 'ResourceNotFoundException' || (errorName(e) === 'InvalidRequestException' && /marked (for )?delet|scheduled for deletion/i.test(errorMessage(e))),
  exists: (e) => errorName(e) === 'ResourceExistsException',
  explain(e) {
    const n = errorName(e);
    if (CLASSIFY.throttled(e)) {
      return { reason: `AWS Secrets Manager kept throttling the request (${n || 'HTTP 429'})`, hint: 'Try again later, spread the calls out, or ask AWS for a higher request quota.' };
    }
    if (AUTH.has(n) || n === 'CredentialsProviderError') {
      return { reason: n === 'CredentialsProviderError' ? 'no AWS credentials were found' : `AWS rejected the credentials (${n})`,
        hint: 'Give credentials through the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, an instance role) or --profile, and check they are current.' };
    }
    if (n === 'AccessDeniedException' || n === 'AccessDenied') {
      return { reason: `access denied by AWS (${n})`, hint: "Grant the identity secretsmanager:* on the secrets under this manager's name prefix (see docs/flavors/aws.md)." };
    }
    return undefined;
  },
  unreachableHint: 'Check region_name and endpoint_url, and that this machine can reach the endpoint.',
};
