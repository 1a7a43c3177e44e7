/**
 * What `--help` says beyond commander's defaults and the command definitions (whose usage lines
 * and examples table.ts applies): the root help's examples, the environment variables keystack
 * reads and the error codes of `--json`, and the one way to name a command by its path.
 */
import type { Command } from 'commander';
import type { ErrorCode } from '../errors.js';

/** A command's path without `keystack`, e.g. `secret get`; `secrets-manager secret …` is `secret …`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command = cmd; c.parent; c = c.parent) names.unshift(c.name());
  if (names[0] === 'secrets-manager' && names[1] === 'secret') names.shift();
  return names.join(' ');
}

/** The root help's examples (each command's own are in its definition). */
const ROOT_EXAMPLES = [
  'keystack status',
  'keystack secret register db --user=admin --password=@-',
  'keystack help secret get',
];

/**
 * Every variable keystack itself reads. Flavor fields read more (their `env`), which `keystack
 * secrets-manager flavor describe FLAVOR` lists per flavor; they are named here as well.
 */
export const ENVIRONMENT: readonly (readonly [string, string])[] = [
  ['KEYSTACK_CONFIG_DIR', 'config directory (default: $XDG_CONFIG_HOME/keystack, else ~/.config/keystack)'],
  ['XDG_CONFIG_HOME', 'base of the default config directory'],
  [
    'XDG_CACHE_HOME',
    "base of the code cache, $XDG_CACHE_HOME/keystack/compile-cache (else ~/.cache/…): Node's compile cache on Node 22+, the CLI bundle's V8 code cache on Node 20; NODE_DISABLE_COMPILE_CACHE=1 turns it off",
  ],
  [
    'KEYSTACK_STACK',
    'stack commands use (pipeline run, status, stack describe, secrets) instead of keystack.toml or the active one; --stack wins',
  ],
  [
    'KEYSTACK_MANAGER',
    "secrets manager secret commands use instead of KEYSTACK_STACK's, keystack.toml or the active stack's; -m wins",
  ],
  ['HOME', 'the search for keystack.toml stops here (HOME is searched, the directories above it are not)'],
  ['KEYSTACK_LOCAL_KEY', 'key of local stores: 32 random bytes, base64'],
  ['KEYSTACK_PASSPHRASE', 'passphrase the local store key is derived from (when KEYSTACK_LOCAL_KEY is unset)'],
  [
    'KEYSTACK_PROVENANCE_KEY',
    'provenance key (base64 of 32 bytes) that value fingerprints are made with; default: provenance.key in the config dir',
  ],
  [
    'KEYSTACK_SECRET_VALIDATION_LEVEL',
    'NONE | SECRET_EXISTS | SECRET_AND_KEY_EXISTS (default), checked before pipeline runs',
  ],
  [
    'KEYSTACK_PROVENANCE_KEY',
    'key of access-record fingerprints: base64 of 32 bytes (default: provenance.key in the config dir, created once)',
  ],
  ['KEYSTACK_REQUEST_TIMEOUT_MS', 'limit per backend request (default 30000)'],
  ['KEYSTACK_RETRY_BUDGET_MS', 'total time for retries of a throttled or failed backend call (default 60000)'],
  ['KEYSTACK_GITHUB_SECRETS', 'github flavor in Actions: ${{ toJSON(secrets) }}, to read values'],
  ['KEYSTACK_BACKUP_PASSPHRASE', 'passphrase of `secrets-manager backup` / `restore` (else asked)'],
  ['KEYSTACK_REDIS_URL', 'Redis of `keystack worker` (instead of --redis-url, which ps shows)'],
  ['KEYSTACK_CODE_ROOT', 'remote (bullmq) runs: the directory pipeline modules are relative to'],
  [
    'KEYSTACK_STEP_PROCESS',
    'set to 1 in step children (local_process, workers): keystack then refuses to open a config store or build a manager',
  ],
  [
    'KEYSTACK_PROVENANCE_KEY',
    'base64 of the 32-byte provenance key (else provenance.key in the config dir); never given to step children',
  ],
  [
    'KEYSTACK_WORKER_LOCK_MS, KEYSTACK_WORKER_STALLED_INTERVAL_MS',
    'worker: BullMQ job lock and stalled-job check intervals',
  ],
  [
    'KEYSTACK_PROVENANCE_KEY',
    'provenance key (base64 of 32 bytes) fingerprints are made under, instead of provenance.key in the config dir; give workers the same key',
  ],
  [
    'KEYSTACK_WORKER_ANNOUNCE_TTL_MS',
    'worker: how long its signed announcement (listed by `keystack status`) outlives its last heartbeat (default 30000)',
  ],
  [
    'KEYSTACK_WORKER_TRUSTED_KEYS',
    'worker: client public keys whose jobs it runs (comma- or newline-separated), besides --trust-key and its trust list',
  ],
  [
    'KEYSTACK_TRUSTED_WORKER_KEYS',
    'remote runs: worker public keys whose step results the client records, besides --trust-worker-key and its trust list',
  ],
  ['KEYSTACK_DEBUG', '1: print stack traces with errors'],
  ['COLUMNS', 'width tables are fitted to (default: the terminal width)'],
  ['AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN', 'aws flavor and s3 artifact store credentials'],
  ['AWS_REGION, AWS_DEFAULT_REGION', 's3 artifact store region (when it names none)'],
  ['GOOGLE_CLOUD_PROJECT, GOOGLE_APPLICATION_CREDENTIALS', 'gcp flavor project and credentials'],
  ['AZURE_KEY_VAULT_NAME, AZURE_KEYVAULT_ACCESS_TOKEN', 'azure flavor vault and token'],
  [
    'VAULT_ADDR, BAO_ADDR, VAULT_TOKEN, BAO_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, VAULT_ROLE_ID, VAULT_SECRET_ID',
    'vault flavor server and auth',
  ],
  ['GITHUB_TOKEN, GITHUB_API_URL, GITHUB_ACTIONS', 'github flavor token (or its token_env), API and Actions detection'],
];

/** The `code` of a `--json` error (`{"error": {"code", ...}}`), each with its exit code. */
export const ERROR_CODES: Readonly<Record<ErrorCode, string>> = {
  secret_not_found: "no such secret in the manager's scope (1)",
  secret_exists: 'a secret of that name exists (1)',
  not_found: 'no such stack, component, flavor, schema or key (1)',
  exists: 'a stack or component of that name exists (1)',
  in_use: 'a stack uses the component, the stack is active, or runs still read the version to retire (1)',
  schema_validation: 'values do not fit the schema (1)',
  too_large: "the secret is over the flavor's size limit (1)",
  invalid_name: "a name breaks the flavor's name rules (1)",
  config: 'bad or missing configuration, key or store (1)',
  backend: 'auth, network, throttling or server failure (1)',
  unsupported: 'the flavor cannot do this (1)',
  stack_validation: 'the stack is not valid for a run (1)',
  step_failed: 'a pipeline step failed (1)',
  conflict: 'other writers kept changing the secret; nothing written (1)',
  denied: 'a step read a secret it did not declare in step({ secrets }) (1)',
  secret_leak: 'a step would have stored a delivered secret value in an output, log or error; nothing written (1)',
  input: 'a value could not be read (@FILE, stdin) (1)',
  io: 'output could not be written (1)',
  usage: 'bad command line, or a refused confirmation (2)',
};

/** The `Examples:` section of a command's help (the table's definitions bring their own). */
export function addExamples(cmd: Command, examples: readonly string[] | undefined): void {
  if (examples?.length) cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}`);
}

function pad(rows: readonly (readonly [string, string])[]): string {
  const w = Math.min(40, Math.max(...rows.map(([k]) => k.length)));
  return rows
    .map(([k, v]) => (k.length > w ? `  ${k}\n  ${' '.repeat(w)}  ${v}` : `  ${k.padEnd(w)}  ${v}`))
    .join('\n');
}

/** Adds the root help's examples, environment and error codes. */
export function decorateHelp(program: Command): void {
  addExamples(program, ROOT_EXAMPLES);
  // A function: the text is built only when help is shown, not on every call.
  program.addHelpText(
    'after',
    () =>
      `\nEnvironment:\n${pad(ENVIRONMENT)}\n\nExit codes: 0 success, 1 failure, 2 usage error, 130 Ctrl-C at a prompt.\nError codes (--json: {"error": {"code", "message", "hint"}}):\n${pad(Object.entries(ERROR_CODES))}\n\nRun \`keystack help COMMAND [SUBCOMMAND]\` for one command's help.`,
  );
}
