/**
 * `aws`: AWS Secrets Manager through the official SDK. One keystack secret is one AWS secret named
 * `<scope path>/<name>`, its SecretString the JSON payload, and (scoped managers) the scope tags of
 * ZenML 0.30's layout on create, so `scope_prefix=zenml` shares secrets with ZenML.
 */
import type * as Sdk from '@aws-sdk/client-secrets-manager';
import { encodeContent, type StoredSecret } from '../secrets/content.js';
import { BackendError, ConfigError } from '../secrets/errors.js';
import { scopedName, scopedPrefix, scopeMetadata, secretMetadata, unscopedName } from '../secrets/scope.js';
import { backendFailure, decodeOrFail, importLib, withRetry } from './support.js';
import { defineFlavor, type FlavorContext, type SecretsBackend } from './types.js';

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
  separator: '/',
  locationFields: ['region_name', 'endpoint_url'],
  // AWS's own rule, which ZenML's aws flavor also applies ('.' included); AWS counts its
  // 512-character limit on the whole name, scope path included.
  nameRule: { pattern: /[A-Za-z0-9_+=.@-]+/, maxLength: 512, maxScopedLength: 512, dots: true, description: 'must contain only letters, digits and the characters _+=.@-' },
  // AWS's SecretString limit; moto does not enforce it, so the core checks it.
  maxContentBytes: 65536,
  dependencies: { [SDK]: '~3.1164.0' },
  config: {
    region_name: { type: 'string', description: 'AWS region, e.g. eu-west-2', required: true },
    endpoint_url: { type: 'string', description: 'endpoint override (emulators, VPC endpoints)' },
    profile: { type: 'string', description: 'named profile from ~/.aws/config (otherwise the default credential chain)' },
    aws_access_key_id: { type: 'string', description: 'static access key id', env: 'AWS_ACCESS_KEY_ID' },
    aws_secret_access_key: { type: 'string', description: 'static secret access key', sensitive: true, env: 'AWS_SECRET_ACCESS_KEY' },
    aws_session_token: { type: 'string', description: 'session token for temporary keys', sensitive: true, env: 'AWS_SESSION_TOKEN' },
    recovery_window_days: { type: 'integer', description: 'keep deleted secrets restorable for 7-30 days (default: delete at once)' },
  },
  create: (ctx) => createAwsBackend(ctx),
});

type Client = Sdk.SecretsManagerClient;

function createAwsBackend(ctx: FlavorContext<AwsFlavorOptions>): SecretsBackend {
  const { config, scope } = ctx;
  const window = config.recovery_window_days;
  if (window !== undefined && (window < 7 || window > 30)) {
    throw new ConfigError('recovery_window_days of the aws flavor must be between 7 and 30', {
      hint: 'Leave it out to delete secrets at once, without a recovery window.',
    });
  }
  const full = (name: string) => scopedName(scope, name, '/');
  let loading: Promise<{ sdk: typeof Sdk; client: Client }> | undefined;
  const lib = () => (loading ??= loadClient(config));
  /** One request, throttling retried; failures no caller handles become explained BackendErrors. */
  const send = async <T>(op: string, name: string | undefined, call: (sdk: typeof Sdk, client: Client) => Promise<T>): Promise<T> => {
    const { sdk, client } = await lib();
    try {
      return await withRetry(() => call(sdk, client), { isRetryable: isThrottling });
    } catch (e) {
      throw explain(op, name, e);
    }
  };

  /** Metadata of the secret, or null when it is absent or pending deletion. */
  const describe = async (name: string) => {
    try {
      const d = await send('delete', name, (s, c) => c.send(new s.DescribeSecretCommand({ SecretId: full(name) })));
      return d.DeletedDate ? null : d;
    } catch (e) {
      if (errorName(e) === 'ResourceNotFoundException') return null;
      throw e;
    }
  };

  const listAll = async (op: string): Promise<string[]> => {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await send(op, undefined, (s, c) => c.send(new s.ListSecretsCommand({ Filters: listFilters(ctx), MaxResults: 100, ...(token ? { NextToken: token } : {}) })));
      for (const entry of page.SecretList ?? []) {
        const name = entry.Name === undefined ? null : unscopedName(scope, entry.Name, '/');
        if (name !== null && !entry.DeletedDate) names.push(name);
      }
      token = page.NextToken;
    } while (token);
    return names;
  };

  const remove = (op: string, name: string) =>
    send(op, name, (s, c) => c.send(new s.DeleteSecretCommand({ SecretId: full(name), ...(window === undefined ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: window }) })));

  return {
    async create(name, secret) {
      const tags = Object.entries(secretMetadata(scope, name, secret.schema)).map(([Key, Value]) => ({ Key, Value }));
      try {
        await send('register', name, (s, c) => c.send(new s.CreateSecretCommand({ Name: full(name), SecretString: encodeContent(secret, scope.prefix), ...(tags.length ? { Tags: tags } : {}) })));
        return true;
      } catch (e) {
        if (errorName(e) === 'ResourceExistsException') return false;
        if (errorName(e) === 'InvalidRequestException' && /deletion|deleted/i.test(errorMessage(e))) throw pendingDeletion(name, full(name));
        throw e;
      }
    },
    async get(name) {
      let out: Sdk.GetSecretValueCommandOutput;
      try {
        out = await send('get', name, (s, c) => c.send(new s.GetSecretValueCommand({ SecretId: full(name) })));
      } catch (e) {
        // A secret inside its recovery window answers InvalidRequestException: it reads as absent.
        if (errorName(e) === 'ResourceNotFoundException' || isMarkedDeleted(e)) return null;
        throw e;
      }
      return decode(name, full(name), out, scope.prefix);
    },
    list: () => listAll('list'),
    async update(name, secret) {
      try {
        await send('update', name, (s, c) => c.send(new s.PutSecretValueCommand({ SecretId: full(name), SecretString: encodeContent(secret, scope.prefix) })));
        return true;
      } catch (e) {
        if (errorName(e) === 'ResourceNotFoundException' || isMarkedDeleted(e)) return false;
        throw e;
      }
    },
    async delete(name) {
      // Force-delete succeeds for a missing secret (as on AWS), so absence needs a look first.
      if (window === undefined && !(await describe(name))) return false;
      try {
        await remove('delete', name);
        return true;
      } catch (e) {
        if (errorName(e) === 'ResourceNotFoundException' || isMarkedDeleted(e)) return false;
        throw e;
      }
    },
    async deleteAll() {
      let count = 0;
      for (const name of await listAll('delete-all')) {
        try {
          await remove('delete-all', name);
          count++;
        } catch (e) {
          if (errorName(e) !== 'ResourceNotFoundException' && !isMarkedDeleted(e)) throw e;
        }
      }
      return count;
    },
    async close() {
      const l = loading;
      loading = undefined;
      if (l) (await l.catch(() => undefined))?.client.destroy();
    },
  };
}

async function loadClient(config: AwsFlavorOptions): Promise<{ sdk: typeof Sdk; client: Client }> {
  const sdk = await importLib(FLAVOR_NAME, SDK, () => import('@aws-sdk/client-secrets-manager'));
  const options: Sdk.SecretsManagerClientConfig = {
    region: config.region_name,
    // withRetry owns retries, so that throttling is retried once, with our backoff and error.
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
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
 * prefix and independently of each other, so the name prefix pins the scope and unscopedName()
 * drops the rest. Unscoped managers exclude every secret carrying the scope tag.
 */
export function listFilters(ctx: FlavorContext<unknown>): Sdk.Filter[] {
  const { scope } = ctx;
  if (scope.scope === 'none') return [{ Key: 'tag-key', Values: [`!${scope.prefix}_scope`] }];
  const filters: Sdk.Filter[] = [];
  for (const [k, v] of Object.entries(scopeMetadata(scope))) {
    filters.push({ Key: 'tag-key', Values: [k] }, { Key: 'tag-value', Values: [v] });
  }
  filters.push({ Key: 'name', Values: [scopedPrefix(scope, '/')] });
  return filters;
}

function decode(name: string, id: string, out: Sdk.GetSecretValueCommandOutput, prefix: string): StoredSecret {
  const fail = (reason: string, hint: string) => new BackendError({ flavor: FLAVOR_NAME, operation: 'get', secretName: name, reason, hint });
  if (out.SecretString === undefined) {
    throw fail(`AWS secret '${id}' holds binary data (SecretBinary), not a keystack JSON secret`, 'keystack reads only SecretString values holding a JSON object; manage this secret with the AWS console or CLI.');
  }
  return decodeOrFail(FLAVOR_NAME, name, out.SecretString, prefix, `AWS secret '${id}'`);
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

function errorName(e: unknown): string | undefined {
  const x = e as { name?: unknown; Code?: unknown } | null;
  return typeof x?.name === 'string' ? x.name : undefined;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isMarkedDeleted(e: unknown): boolean {
  return errorName(e) === 'InvalidRequestException' && /marked (for )?delet|scheduled for deletion/i.test(errorMessage(e));
}

const THROTTLING = new Set(['ThrottlingException', 'TooManyRequestsException', 'Throttling', 'RequestLimitExceeded', 'SlowDown']);

const AUTH = new Set(['UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'InvalidClientTokenId', 'ExpiredTokenException', 'IncompleteSignature']);

/** Adds a reason and a next step to the failures users hit: throttling, credentials, access. */
function explain(operation: string, secretName: string | undefined, e: unknown): unknown {
  const n = errorName(e) ?? '';
  const at = { flavor: FLAVOR_NAME, operation, secretName };
  if (isThrottling(e)) {
    return backendFailure(at, e, `AWS Secrets Manager kept throttling the request (${n || 'HTTP 429'}), even after retries with backoff`,
      'Try again later, spread the calls out, or ask AWS for a higher request quota.');
  }
  if (AUTH.has(n) || n === 'CredentialsProviderError') {
    return backendFailure(at, e, n === 'CredentialsProviderError' ? 'no AWS credentials were found' : `AWS rejected the credentials (${n})`,
      'Give credentials through the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, an instance role) or --profile, and check they are current.');
  }
  if (n === 'AccessDeniedException' || n === 'AccessDenied') {
    return backendFailure(at, e, `access denied by AWS (${n})`,
      'Grant the identity secretsmanager:* on the secrets under this manager\'s name prefix (see docs/flavors/aws.md).');
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ENETUNREACH|EAI_AGAIN|ECONNRESET|EHOSTUNREACH)$/.test(code)) {
    return backendFailure(at, e, undefined, 'Check region_name and endpoint_url, and that this machine can reach the endpoint.');
  }
  return e;
}

function isThrottling(e: unknown): boolean {
  const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return THROTTLING.has(errorName(e) ?? '') || status === 429;
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
