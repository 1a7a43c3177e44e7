/**
 * What `--help` says beyond commander's defaults: usage lines that show `--KEY=VALUE`, examples
 * for every command, the environment variables keystack reads and the error codes of `--json`.
 * Kept here as data, applied to the built command tree in one walk, so that main.ts stays a
 * table of commands and every command (also ones added later) is covered the same way.
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

/** Usage lines for the commands that take `--KEY=VALUE` arguments (commander cannot know them). */
const USAGE: Readonly<Record<string, string>> = {
  'secret register': '[options] <name> --KEY=VALUE|--KEY=@FILE|--KEY=@- ...',
  'secret update': '[options] <name> [--KEY=VALUE ...] [--remove-key KEY ...]',
  'secrets-manager register': '[options] <name> --flavor=FLAVOR [--KEY=VALUE ...]',
  'secrets-manager update': '[options] <name> [--KEY=VALUE ...]',
};

/** The paths whose usage shows `--KEY=VALUE`: tests check that each of them does. */
export const KEY_VALUE_COMMANDS: readonly string[] = Object.keys(USAGE);

const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': ['keystack status', 'keystack secret register db --user=admin --password=@-', 'keystack help secret get'],
  status: ['keystack status', 'keystack status --json'],
  completion: [
    'source <(keystack completion bash)      # in ~/.bashrc',
    'keystack completion fish > ~/.config/fish/completions/keystack.fish',
  ],
  secret: ['keystack secret list', 'keystack secret get db -m team'],
  'secret register': [
    'printf %s "$PW" | keystack secret register db --user=admin --password=@-',
    'keystack secret register aws_creds -s aws -i',
  ],
  'secret get': ['keystack secret get db', 'keystack secret get db --key password   # the raw value, for scripts'],
  'secret describe': ['keystack secret describe db', 'keystack secret describe db --stack prod --json'],
  'secret list': ['keystack secret list', 'keystack secret list --manager team'],
  'secret update': ['keystack secret update db --password=@- --remove-key old_key', 'keystack secret update db -i'],
  'secret delete': ['keystack secret delete db', 'keystack secret delete db -y -m team'],
  'secret copy': [
    'keystack secret copy --from aws_prod --to vault_prod --all --dry-run',
    'keystack secret copy --from default --to team db api --on-conflict update --delete-source',
  ],
  run: [
    'keystack run --env-file .env -s db -- python train.py',
    'keystack run --isolated --env TOKEN={{api.token}} -- ./deploy.sh',
  ],
  inject: ['keystack inject -i config.tmpl -o config.yaml', 'keystack inject -i config.tmpl -o config.yaml -f -m team'],
  export: [
    'keystack export db --format env -o db.env',
    'keystack export --format yaml --with-schema -m team > team.yaml',
  ],
  import: ['keystack import prod.env --as prod --dry-run', 'keystack import team.yaml -m staging --on-conflict skip'],
  'secret delete-all': ['keystack secret delete-all', 'keystack secret delete-all -y --stack scratch'],
  'secrets-manager': ['keystack secrets-manager list', 'keystack secrets-manager flavor describe aws'],
  'secrets-manager register': [
    'keystack secrets-manager register team --flavor=local --scope=namespace --namespace=ml',
    'keystack secrets-manager register aws_sm --flavor=aws --region_name=eu-west-1',
  ],
  'secrets-manager list': ['keystack secrets-manager list'],
  'secrets-manager describe': ['keystack secrets-manager describe', 'keystack secrets-manager describe team'],
  'secrets-manager update': ['keystack secrets-manager update aws_sm --region_name=us-east-1 --force'],
  'secrets-manager delete': ['keystack secrets-manager delete team', 'keystack secrets-manager delete team -y'],
  'secrets-manager backup': [
    'KEYSTACK_BACKUP_PASSPHRASE=... keystack secrets-manager backup -o secrets.backup',
    'keystack secrets-manager backup team -o team.backup -f',
  ],
  'secrets-manager restore': [
    'keystack secrets-manager restore --from secrets.backup',
    'keystack secrets-manager restore team --from team.backup -f',
  ],
  'secrets-manager flavor': ['keystack secrets-manager flavor list'],
  'secrets-manager flavor list': ['keystack secrets-manager flavor list'],
  'secrets-manager flavor describe': [
    'keystack secrets-manager flavor describe vault',
    'keystack secrets-manager flavor describe aws --json',
  ],
  'secrets-manager flavor register': ['keystack secrets-manager flavor register ./my-flavor.ts'],
  'secrets-manager flavor unregister': ['keystack secrets-manager flavor unregister ./my-flavor.ts'],
};

/**
 * Every variable keystack itself reads. Flavor fields read more (their `env`), which `keystack
 * secrets-manager flavor describe FLAVOR` lists per flavor; they are named here as well.
 */
export const ENVIRONMENT: readonly (readonly [string, string])[] = [
  ['KEYSTACK_CONFIG_DIR', 'config directory (default: $XDG_CONFIG_HOME/keystack, else ~/.config/keystack)'],
  ['XDG_CONFIG_HOME', 'base of the default config directory'],
  ['KEYSTACK_LOCAL_KEY', 'key of local stores: 32 random bytes, base64'],
  ['KEYSTACK_PASSPHRASE', 'passphrase the local store key is derived from (when KEYSTACK_LOCAL_KEY is unset)'],
  [
    'KEYSTACK_SECRET_VALIDATION_LEVEL',
    'NONE | SECRET_EXISTS | SECRET_AND_KEY_EXISTS (default), checked before pipeline runs',
  ],
  ['KEYSTACK_REQUEST_TIMEOUT_MS', 'limit per backend request (default 30000)'],
  ['KEYSTACK_RETRY_BUDGET_MS', 'total time for retries of a throttled or failed backend call (default 60000)'],
  ['KEYSTACK_GITHUB_SECRETS', 'github flavor in Actions: ${{ toJSON(secrets) }}, to read values'],
  ['KEYSTACK_BACKUP_PASSPHRASE', 'passphrase of `secrets-manager backup` / `restore` (else asked)'],
  ['KEYSTACK_REDIS_URL', 'Redis of `keystack worker` (instead of --redis-url, which ps shows)'],
  ['KEYSTACK_CODE_ROOT', 'remote (bullmq) runs: the directory pipeline modules are relative to'],
  [
    'KEYSTACK_WORKER_LOCK_MS, KEYSTACK_WORKER_STALLED_INTERVAL_MS',
    'worker: BullMQ job lock and stalled-job check intervals',
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
  in_use: 'a stack uses the component, or the stack is active (1)',
  schema_validation: 'values do not fit the schema (1)',
  too_large: "the secret is over the flavor's size limit (1)",
  invalid_name: "a name breaks the flavor's name rules (1)",
  config: 'bad or missing configuration, key or store (1)',
  backend: 'auth, network, throttling or server failure (1)',
  unsupported: 'the flavor cannot do this (1)',
  stack_validation: 'the stack is not valid for a run (1)',
  step_failed: 'a pipeline step failed (1)',
  conflict: 'other writers kept changing the secret; nothing written (1)',
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

/** Adds usage lines, examples, and at the root the environment and error codes, to every command. */
export function decorateHelp(program: Command): void {
  const walk = (cmd: Command) => {
    const path = commandPath(cmd);
    const usage = USAGE[path];
    if (usage !== undefined) cmd.usage(usage);
    addExamples(cmd, EXAMPLES[path]);
    for (const sub of cmd.commands) walk(sub);
  };
  walk(program);
  program.addHelpText(
    'after',
    `\nEnvironment:\n${pad(ENVIRONMENT)}\n\nExit codes: 0 success, 1 failure, 2 usage error, 130 Ctrl-C at a prompt.\nError codes (--json: {"error": {"code", "message", "hint"}}):\n${pad(Object.entries(ERROR_CODES))}\n\nRun \`keystack help COMMAND [SUBCOMMAND]\` for one command's help.`,
  );
}
