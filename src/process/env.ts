/**
 * Secrets into processes and files: the resolution core shared by `keystack run`, `keystack
 * inject` and the transfer commands. Every secret is fetched once, through one manager, and every
 * missing secret or key is reported together, before anything runs or is written (as `stack
 * validate` reports them). Failure to reach the backend throws; absence is collected.
 */
import { readFileSync } from 'node:fs';
import { InputError, KeystackError, UsageError } from '../errors.js';
import {
  DOTTED_NAME_HINT,
  dottedNameNote,
  formatReference,
  parseReference,
  referenceLookalike,
  REFERENCE_SYNTAX,
  type SecretReference,
} from '../secrets/reference.js';
import type { Secret, SecretsManager } from '../core/manager.js';
import { splitPin } from '../secrets/pins.js';
import { ReferenceResolver } from '../stack/references.js';

/** What to read: one key of a secret (`{name, key}`), or every key of it (`{name}`). */
export interface SecretRequest {
  name: string;
  key?: string | undefined;
}

/** A request that found no secret, or a secret without the key. */
export interface MissingSecret {
  name: string;
  key?: string | undefined;
  reason: 'missing_secret' | 'missing_key';
}

export interface ResolvedReferences {
  /** The secrets read, by name (only those that exist). */
  secrets: ReadonlyMap<string, Secret>;
  /** The value of each resolvable `{name, key}` request, by its reference text `{{name.key}}`. */
  values: ReadonlyMap<string, string>;
  /** Every request that could not be resolved, in request order, without duplicates. */
  problems: MissingSecret[];
  /** Backend reads made: one per distinct secret name. */
  fetches: number;
}

/** At most this many reads are in flight at once: enough to hide latency, few enough for quotas. */
const FETCH_CONCURRENCY = 16;

/**
 * Reads every secret the requests name, once each, and resolves the `{name, key}` requests.
 * Missing secrets and keys are returned in `problems` (use `assertResolved` to throw them all at
 * once); a backend failure (auth, network, throttling) rejects. Every value read is remembered by
 * the process's masker, so no later message can print it.
 */
export async function resolveReferences(
  manager: SecretsManager,
  requests: readonly SecretRequest[],
): Promise<ResolvedReferences> {
  const resolver = new ReferenceResolver({ manager, stackName: manager.name });
  const names = [...new Set(requests.map((r) => r.name))];
  const found = new Map<string, Secret>();
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++] as string;
      const s = await resolver.secret(name);
      if (s) found.set(name, s);
    }
  };
  await Promise.all(Array.from({ length: Math.min(FETCH_CONCURRENCY, names.length) }, worker));

  const values = new Map<string, string>();
  const problems: MissingSecret[] = [];
  const reported = new Set<string>();
  const report = (p: MissingSecret) => {
    const id = p.key === undefined ? p.name : formatReference({ name: p.name, key: p.key });
    if (reported.has(id)) return;
    reported.add(id);
    problems.push(p);
  };
  for (const r of requests) {
    const s = found.get(r.name);
    if (!s) report({ name: r.name, ...(r.key === undefined ? {} : { key: r.key }), reason: 'missing_secret' });
    else if (r.key !== undefined) {
      // Own keys only: `{{db.constructor}}` must not resolve to Object's constructor.
      const v = Object.hasOwn(s.values, r.key) ? s.values[r.key] : undefined;
      if (v === undefined) report({ name: r.name, key: r.key, reason: 'missing_key' });
      else values.set(formatReference({ name: r.name, key: r.key }), v);
    }
  }
  return { secrets: found, values, problems, fetches: resolver.fetches };
}

/** Secrets or keys that a command needs and the manager does not have; lists all of them. */
export class MissingSecretsError extends KeystackError {
  readonly missing: readonly MissingSecret[];
  /** One entry per missing secret or key, for `--json`. */
  readonly issues: readonly { key: string; message: string }[];
  constructor(missing: readonly MissingSecret[], manager: SecretsManager, what = 'nothing was run or written') {
    const issues = missing.map((m) => ({
      key: m.key === undefined ? m.name : formatReference({ name: m.name, key: m.key }),
      message: missingText(m),
    }));
    const detail = issues.map((i) => `${i.key} (${i.message})`).join(', ');
    const hints = [
      'Register them with `keystack secret register NAME --KEY=VALUE` (or add keys with `keystack secret update NAME --KEY=VALUE`), or check the names with `keystack secret list`.',
    ];
    if (
      missing.some(
        (m) => m.reason === 'missing_secret' && m.key !== undefined && dottedNameNote({ name: m.name, key: m.key }),
      )
    )
      hints.push(DOTTED_NAME_HINT);
    super('not_found', `missing secrets in ${manager.where}: ${detail}; ${what}`, { hint: hints.join(' ') });
    this.missing = missing;
    this.issues = issues;
  }
}

function missingText(m: MissingSecret): string {
  if (m.reason === 'missing_key') return `secret '${m.name}' has no key '${m.key ?? ''}'`;
  const dotted = m.key === undefined ? null : dottedNameNote({ name: m.name, key: m.key });
  return `no secret '${m.name}'${dotted ? `; ${dotted}` : ''}`;
}

/** Throws a MissingSecretsError naming every problem, if there are any. */
export function assertResolved(resolved: ResolvedReferences, manager: SecretsManager, what?: string): void {
  if (resolved.problems.length > 0) throw new MissingSecretsError(resolved.problems, manager, what);
}

// --- Environment variables ---

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/u;

/**
 * The variable name for key `key` of secret `secret` (`-s NAME` / `-s NAME.KEY`, and
 * `export --format env|shell`): the prefix, then `NAME_KEY` upper-cased, every character outside
 * `[A-Z0-9_]` replaced by `_`, and a leading `_` when the result would start with a digit.
 * `db` + `password` gives `DB_PASSWORD`, `my-api` + `token.v2` gives `MY_API_TOKEN_V2`.
 */
export function envName(secret: string, key: string, prefix = ''): string {
  const name = `${prefix}${upper(secret)}_${upper(key)}`;
  return /^[0-9]/u.test(name) ? `_${name}` : name;
}

function upper(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9_]/gu, '_');
}

/** Checks a variable name given on the command line or in an env file. */
export function validateEnvName(name: string, where: string): void {
  if (!ENV_NAME.test(name)) {
    throw new UsageError(
      `invalid environment variable name ${JSON.stringify(name)} ${where}`,
      'A variable name is letters, digits and _, and does not start with a digit.',
    );
  }
}

/** Variables from a `.env` file: `NAME=VALUE` lines, quotes, comments and `export` as dotenv reads them. */
export async function readEnvFile(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError(`cannot read the env file ${file} (${code})`, 'Check the path given to --env-file.');
  }
  return await parseEnvText(text, `the env file ${file}`);
}

/**
 * `.env` text parsed by dotenv (a parser shared with the ecosystem, not one written here): the one
 * parser of `run --env-file` and `import`. `where` names the text in errors.
 */
export async function parseEnvText(text: string, where = 'the env file'): Promise<Record<string, string>> {
  // Loaded on first use: only the commands that read env files pay for it.
  const dotenv = await import('dotenv');
  const values = dotenv.parse(text);
  checkNothingSkipped(text, values, where);
  return values;
}

/**
 * dotenv skips a line it cannot read without a word: a value pasted without `NAME=`, `MY VAR=1`.
 * A command would then get a variable fewer than the file seems to give. A line that is not blank,
 * a comment, an assignment of a variable dotenv read, or part of a multi-line value is refused, by
 * its number only: its text may be a secret.
 */
function checkNothingSkipped(text: string, values: Readonly<Record<string, string>>, where: string): void {
  const multiLine = Object.values(values).filter((v) => v.includes('\n'));
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // dotenv's own forms: `NAME=value`, `export NAME=value` and `NAME: value`.
    const name = /^(?:export\s+)?([\w.-]+)(?:\s*=|:\s)/.exec(line)?.[1];
    if (name !== undefined && Object.hasOwn(values, name)) continue;
    const body = line.replace(/['"`]\s*(#.*)?$/, '');
    if (multiLine.some((v) => v.includes(body))) continue;
    throw new InputError(
      `line ${i + 1} of ${where} is not an assignment dotenv can read, so it would be left out`,
      'Fix or remove the line: NAME=value, where NAME is letters, digits, _, . or -; quote values with spaces or #.',
    );
  }
}

export interface EnvSpec {
  /** `.env` files, read in order; a later file overrides an earlier one's variable. */
  envFiles?: readonly string[] | undefined;
  /** Variables whose values are plain text or a whole `{{name.key}}` reference; override env files. */
  vars?: Readonly<Record<string, string>> | undefined;
  /** `-s NAME` (every key) and `-s NAME.KEY`, named by `envName`. */
  secrets?: readonly SecretRequest[] | undefined;
  /** Prefix for the names of `secrets` (not for `vars` or env files, whose names are given). */
  prefix?: string | undefined;
  /**
   * Template texts to render with the same reads (`run --mount`), by a name of the caller's; their
   * missing references are reported together with the variables'.
   */
  templates?: Readonly<Record<string, string>> | undefined;
}

export interface ResolvedEnv {
  /** The variables to inject, by name. */
  env: Record<string, string>;
  /** Names of the injected variables that hold secret values. */
  secretVars: string[];
  /** Backend reads made (one per secret). */
  fetches: number;
  /** Each of `spec.templates`, rendered, by the same name. */
  rendered: Record<string, string>;
}

/**
 * The variables a process gets from env files, `vars` and whole secrets, with every reference
 * resolved through `manager` (only touched when something references a secret). Every missing
 * secret or key throws one MissingSecretsError; two variables that map to the same name throw.
 */
export async function resolveEnv(
  manager: SecretsManager | (() => Promise<SecretsManager>),
  spec: EnvSpec,
): Promise<ResolvedEnv> {
  const prefix = spec.prefix ?? '';
  if (prefix !== '' && !/^[A-Za-z_][A-Za-z0-9_]*$/u.test(prefix)) {
    throw new UsageError(
      `invalid variable prefix ${JSON.stringify(prefix)}`,
      'A prefix is letters, digits and _, and does not start with a digit, e.g. --prefix APP_.',
    );
  }
  // Where each explicit variable came from, for messages.
  const given = new Map<string, { value: string; source: string }>();
  for (const file of spec.envFiles ?? []) {
    for (const [k, v] of Object.entries(await readEnvFile(file))) {
      validateEnvName(k, `in ${file}`);
      given.set(k, { value: v, source: file });
    }
  }
  for (const [k, v] of Object.entries(spec.vars ?? {})) {
    validateEnvName(k, 'in --env');
    given.set(k, { value: v, source: '--env' });
  }

  const requests: SecretRequest[] = [];
  const lookalikes: string[] = [];
  for (const [k, { value, source }] of given) {
    const ref = parseReference(value);
    if (ref) requests.push(ref);
    else {
      const wrong = referenceLookalike(value);
      if (wrong) lookalikes.push(`${k} (${source}): ${wrong}`);
    }
  }
  if (lookalikes.length > 0) {
    throw new UsageError(
      `values that look like secret references but are not: ${lookalikes.join('; ')}`,
      `${REFERENCE_SYNTAX} To render references inside longer text, use \`keystack inject\`.`,
    );
  }
  requests.push(...(spec.secrets ?? []));
  const templates = Object.entries(spec.templates ?? {});
  for (const [, text] of templates) requests.push(...templateReferences(text));

  const env: Record<string, string> = {};
  const secretVars: string[] = [];
  let fetches = 0;
  let resolved: ResolvedReferences | undefined;
  if (requests.length > 0) {
    const m = typeof manager === 'function' ? await manager() : manager;
    resolved = await resolveReferences(m, requests);
    assertResolved(resolved, m, 'the command was not started');
    fetches = resolved.fetches;
  }
  for (const [k, { value }] of given) {
    const ref = parseReference(value);
    env[k] = ref && resolved ? (resolved.values.get(formatReference(ref)) as string) : value;
    if (ref) secretVars.push(k);
  }

  // Names of whole-secret variables must not meet each other or an explicit variable: which
  // value would win is not something to guess.
  const mapped = new Map<string, string>();
  for (const r of spec.secrets ?? []) {
    const s = resolved?.secrets.get(r.name);
    if (!s) continue;
    const keys = r.key === undefined ? Object.keys(s.values) : [r.key];
    for (const key of keys) {
      // `-s db@3` injects DB_PASSWORD, like `-s db`: the pin picks the version, not the name.
      const name = envName(splitPin(r.name).name, key, prefix);
      const ref = formatReference({ name: r.name, key });
      const other = mapped.get(name);
      if (other === ref) continue; // `-s db -s db.password` asks for the same value twice
      if (other !== undefined || given.has(name)) {
        const first = other ?? `the variable ${name} from ${given.get(name)?.source ?? ''}`;
        throw new UsageError(
          `two values map to the environment variable ${name}: ${first} and ${ref}`,
          'Inject one of them with an explicit name instead (--env NAME={{secret.key}}), or use --prefix to tell whole secrets apart.',
        );
      }
      mapped.set(name, ref);
      env[name] = s.values[key] as string;
      secretVars.push(name);
    }
  }
  for (const [name, value] of Object.entries(env)) {
    // The kernel cuts a variable at its first NUL: the child would get a different value.
    if (value.includes('\0'))
      throw new InputError(
        `the value for ${name} contains a NUL character, which an environment variable cannot hold`,
        'Write the value to a file with `keystack inject` instead.',
      );
  }
  const rendered: Record<string, string> = {};
  for (const [name, text] of templates) rendered[name] = render(text, resolved?.values ?? new Map());
  return { env, secretVars, fetches, rendered };
}

// --- Templates ---

/** A reference inside text: the same grammar as a whole-value reference, without braces in it. */
const TEMPLATE_REFERENCE = /\{\{([^\s.{}]+)\.([^\s{}]+)\}\}/gu;

/** Every `{{name.key}}` in `text`, de-duplicated, in order of first appearance. */
export function templateReferences(text: string): SecretReference[] {
  const seen = new Map<string, SecretReference>();
  for (const m of text.matchAll(TEMPLATE_REFERENCE)) {
    const [whole, name, key] = m;
    if (name !== undefined && key !== undefined && !seen.has(whole)) seen.set(whole, { name, key });
  }
  return [...seen.values()];
}

export interface Injected {
  /** The template with every reference replaced by its value. */
  text: string;
  /** The distinct references that were replaced. */
  references: SecretReference[];
  /** Backend reads made (one per secret). */
  fetches: number;
}

/**
 * Renders `template`: every `{{name.key}}` in it (anywhere in the text; other `{{ … }}` forms,
 * with spaces or without a dot, are left alone) is replaced by the value, read through `manager`.
 * Every missing secret or key throws one MissingSecretsError, before anything is rendered.
 */
export async function inject(
  manager: SecretsManager | (() => Promise<SecretsManager>),
  template: string,
): Promise<Injected> {
  const references = templateReferences(template);
  if (references.length === 0) return { text: template, references, fetches: 0 };
  const m = typeof manager === 'function' ? await manager() : manager;
  const resolved = await resolveReferences(m, references);
  assertResolved(resolved, m, 'nothing was written');
  return { text: render(template, resolved.values), references, fetches: resolved.fetches };
}

function render(template: string, values: ReadonlyMap<string, string>): string {
  // A replacer function: `$&` or `$1` in a value must stay literal.
  return template.replace(TEMPLATE_REFERENCE, (whole) => values.get(whole) ?? whole);
}

/** Templates larger than this are refused (a template is a config file, not a data set). */
const MAX_TEMPLATE_BYTES = 16 * 1024 * 1024;

/**
 * A template file as UTF-8 text (`inject -i`, `run --mount`): unreadable, oversized or non-UTF-8
 * files are one-line errors naming `shown` and the option that gave it.
 */
export function readTemplate(path: string, shown: string, option: string): string {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError(`cannot read the template ${shown} (${code})`, `Check the path given to ${option}.`);
  }
  if (data.length > MAX_TEMPLATE_BYTES)
    throw new InputError(
      `the template ${shown} is ${data.length} bytes; at most ${MAX_TEMPLATE_BYTES} are read`,
      'Split it into smaller templates.',
    );
  const text = data.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(data))
    throw new InputError(`the template ${shown} is not UTF-8 text`, 'Convert it to UTF-8 (e.g. with iconv).');
  return text;
}
