/**
 * The environment of a step child: the parent's, minus every variable a flavor or keystack reads
 * for credentials, plus the marker that makes keystack's API refuse to build a manager inside it.
 */
import { STEP_PROCESS_VARIABLE } from '../../support/step-process.js';

/** Variables removed by prefix: the cloud SDKs' and the Vault/OpenBao clients' own. */
const SCRUBBED_PREFIXES = ['VAULT_', 'BAO_', 'AWS_', 'AZURE_', 'GOOGLE_', 'GCLOUD_', 'CLOUDSDK_', 'ARM_'];

/** Variables removed by name: keystack's keys and tokens, and the flavors' default token variables. */
const SCRUBBED_NAMES = [
  'GITHUB_TOKEN',
  'GH_TOKEN',
  'KEYSTACK_LOCAL_KEY',
  'KEYSTACK_PASSPHRASE',
  'KEYSTACK_BACKUP_PASSPHRASE',
  'KEYSTACK_REDIS_URL',
  'KEYSTACK_PROVENANCE_KEY',
  'KEYSTACK_GITHUB_SECRETS',
  'KEYSTACK_CONFIG_DIR',
  'KEYSTACK_WORKER_TRUSTED_KEYS',
  'KEYSTACK_TRUSTED_WORKER_KEYS',
];

/**
 * The variables that configs name as holding a credential: a field named `*_env` (github's
 * `token_env`) holds the name of a variable, and its default is one too.
 */
export function declaredCredentialVariables(
  configs: readonly Readonly<Record<string, unknown>>[],
  fieldDefaults: readonly Readonly<Record<string, { default?: unknown }>>[] = [],
): string[] {
  const names = new Set<string>();
  const add = (field: string, v: unknown) => {
    if (field.endsWith('_env') && typeof v === 'string' && v !== '') names.add(v);
  };
  for (const c of configs) for (const [k, v] of Object.entries(c)) add(k, v);
  for (const d of fieldDefaults) for (const [k, f] of Object.entries(d)) add(k, f.default);
  return [...names];
}

/** A copy of `env` without credentials, with the step-process marker set. */
export function scrubbedEnv(
  env: Readonly<Record<string, string | undefined>>,
  extraNames: readonly string[] = [],
): Record<string, string> {
  const drop = new Set([...SCRUBBED_NAMES, ...extraNames]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || drop.has(k) || SCRUBBED_PREFIXES.some((p) => k.startsWith(p))) continue;
    out[k] = v;
  }
  out[STEP_PROCESS_VARIABLE] = '1';
  return out;
}
