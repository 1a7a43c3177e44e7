/**
 * aws's client side: its config and the check of it, the lazily imported SDK client (with the
 * SDK's own retries off, so that the core's caller retries) and how its errors read (absent,
 * exists, throttled, auth).
 */
import type * as Sdk from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../errors.js';
import type { CallLimits, FailureClassifier } from '../support/caller.js';
import { httpStatus } from '../support/http.js';
import { withoutNodeVersionNotice } from '../support/aws-sdk.js';
import { importLib } from '../support/optional-import.js';

const FLAVOR_NAME = 'aws';
const SDK = '@aws-sdk/client-secrets-manager';
/** The SDK module with its client: commands are classes of the module. */
export interface AwsClient {
  sdk: typeof Sdk;
  client: Sdk.SecretsManagerClient;
}

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

/** recovery_window_days is AWS's own range. */
export function checkConfig(config: Partial<AwsFlavorOptions>): void {
  const window = config.recovery_window_days;
  if (window !== undefined && (window < 7 || window > 30)) {
    throw new ConfigError('recovery_window_days of the aws flavor must be between 7 and 30', {
      hint: 'Leave it out to delete secrets at once, without a recovery window.',
    });
  }
}

export async function loadClient(config: AwsFlavorOptions, limits: CallLimits): Promise<AwsClient> {
  const sdk = await importLib(FLAVOR_NAME, SDK, () => import('@aws-sdk/client-secrets-manager'));
  const options: Sdk.SecretsManagerClientConfig = {
    region: config.region_name,
    // createCaller owns retries, so that throttling is retried once, with our backoff and error.
    maxAttempts: 1,
    // Without throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes and
    // keeps waiting: an endpoint that accepts connections but never answers hung for minutes.
    requestHandler: {
      connectionTimeout: Math.min(10_000, limits.requestTimeoutMs),
      requestTimeout: limits.requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
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

export function errorName(e: unknown): string {
  const x = e as { name?: unknown } | null;
  return typeof x?.name === 'string' ? x.name : '';
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const THROTTLING = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'Throttling',
  'RequestLimitExceeded',
  'SlowDown',
]);
const AUTH = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'IncompleteSignature',
]);

export const CLASSIFY: FailureClassifier = {
  throttled: (e) => THROTTLING.has(errorName(e)) || httpStatus(e) === 429,
  absent: (e) =>
    errorName(e) === 'ResourceNotFoundException' ||
    (errorName(e) === 'InvalidRequestException' && /marked (for )?delet|scheduled for deletion/i.test(errorMessage(e))),
  exists: (e) => errorName(e) === 'ResourceExistsException',
  explain(e) {
    const n = errorName(e);
    if (CLASSIFY.throttled(e)) {
      return {
        reason: `AWS Secrets Manager kept throttling the request (${n || 'HTTP 429'})`,
        hint: 'Try again later, spread the calls out, or ask AWS for a higher request quota.',
      };
    }
    if (AUTH.has(n) || n === 'CredentialsProviderError') {
      return {
        reason:
          n === 'CredentialsProviderError' ? 'no AWS credentials were found' : `AWS rejected the credentials (${n})`,
        hint: 'Give credentials through the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, an instance role) or --profile, and check they are current.',
      };
    }
    if (n === 'AccessDeniedException' || n === 'AccessDenied') {
      return {
        reason: `access denied by AWS (${n})`,
        hint: "Grant the identity secretsmanager:* on the secrets under this manager's name prefix (see docs/flavors/aws.md).",
      };
    }
    return undefined;
  },
  unreachableHint: 'Check region_name and endpoint_url, and that this machine can reach the endpoint.',
};
