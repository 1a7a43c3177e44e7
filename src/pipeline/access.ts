/**
 * Least privilege for steps: what a step declares in `step({ secrets })`, and the guard every
 * read of a step goes through, wherever the step runs. The guard decides and records; how the
 * secret is read (the manager in this process, or a parent over IPC) is the caller's.
 */
import { memoFingerprint, type AccessRecord, type AccessSink } from '../core/provenance.js';
import type { Secret } from '../core/manager.js';
import { ConfigError, KeystackError, SecretAccessDeniedError, SecretNotFoundError } from '../errors.js';
import { splitPin } from '../secrets/pins.js';

/** One entry of a step's `secrets:` list. */
export interface DeclaredSecret {
  name: string;
  /** One key; undefined: every key of the secret. */
  key: string | undefined;
  /** A pinned version; undefined: the current one. */
  version: string | undefined;
}

/** `'*'` (every secret, warned on every run) or the list; an empty list reads nothing. */
export type SecretDeclaration = { all: true } | { all: false; entries: readonly DeclaredSecret[] };

/** What a step may declare: `'*'`, or names, `name.key` and `name@V` / `name@V.key`. */
export type SecretsOption = '*' | readonly string[];

/** Parses a step's `secrets` option; a step without one may read nothing. */
export function parseDeclaration(stepName: string, option: unknown): SecretDeclaration {
  if (option === undefined) return { all: false, entries: [] };
  if (option === '*') return { all: true };
  if (!Array.isArray(option) || !option.every((e) => typeof e === 'string' && e.length > 0)) {
    throw new ConfigError(`step '${stepName}': \`secrets\` must be '*' or a list of secret names`, {
      hint: "Write secrets: ['db', 'api.token'] (a name is the whole secret, name.key one key).",
    });
  }
  const entries = (option as string[]).map(parseEntry);
  for (const [i, a] of entries.entries()) {
    const b = entries.slice(i + 1).find((o) => o.name === a.name && o.version !== a.version);
    if (b) {
      const shown = (x: DeclaredSecret) => (x.version === undefined ? `'${x.name}'` : `'${x.name}@${x.version}'`);
      throw new ConfigError(
        `step '${stepName}' declares the secret '${a.name}' at two versions, ${shown(a)} and ${shown(b)}; a step reads one version of a secret`,
        {
          hint: `Keep one of them: '${a.name}@V' pins version V, '${a.name}' alone reads the current version.`,
        },
      );
    }
  }
  return { all: false, entries };
}

/** `name`, `name.key`, `name@V`, `name@V.key`: split at the first dot, like references. */
function parseEntry(text: string): DeclaredSecret {
  const dot = text.indexOf('.');
  const head = dot === -1 ? text : text.slice(0, dot);
  const key = dot === -1 ? undefined : text.slice(dot + 1);
  const { name, version } = splitPin(head);
  return { name, key: key === '' ? undefined : key, version };
}

/** The keys of `name` the declaration allows: 'all', a list, or null when it allows none. */
export function allowedKeys(decl: SecretDeclaration, name: string): 'all' | string[] | null {
  if (decl.all) return 'all';
  const mine = decl.entries.filter((e) => e.name === name);
  if (mine.length === 0) return null;
  if (mine.some((e) => e.key === undefined)) return 'all';
  return mine.map((e) => e.key as string);
}

/** Who is reading, for the records. */
export interface Reader {
  runId: string;
  pipeline: string;
  step: string | undefined;
  component: string | undefined;
  attempt: number;
  worker: string | undefined;
  host: string;
}

export interface GuardOptions {
  reader: Reader;
  declaration: SecretDeclaration;
  manager: AccessRecord['manager'];
  /** Reads with the caller's credentials; null when the secret does not exist. */
  read: (
    name: string,
    options: {
      fresh: boolean;
      version: string | undefined;
      /** The keys a reference asks for (already authorized); undefined: every declared key. */
      keys?: readonly string[] | undefined;
    },
  ) => Promise<VersionedSecret | null>;
  /** HMAC of one value under the provenance key. */
  fingerprint: (value: string) => string;
  sink: AccessSink;
  /** Where the secret was looked for, for SecretNotFoundError. */
  where: string;
}

export interface VersionedSecret {
  secret: Secret;
  /** The backend's version id, or null where it has none. */
  version: string | null;
}

export interface GetOptions {
  /** Skip the run's cache and read the current version again (a new record). */
  fresh?: boolean | undefined;
  /** Only these keys are wanted (a `{{name.key}}` reference): each must be declared, and only they are returned. */
  keys?: readonly string[];
  /** What is being read, for the denial's message (e.g. a reference and the field that holds it). */
  what?: string | undefined;
}

/** The step's view of its secrets: `context.secrets`. */
export interface StepSecrets {
  get(name: string, options?: GetOptions): Promise<Secret>;
}

let lastMs = Number.NaN;
let lastIso = '';
/**
 * `new Date().toISOString()`, formatted once per millisecond: formatting a date (about 1 µs) was
 * half of the guard's own work on a repeated read, and a step reading in a loop makes several
 * records a millisecond.
 */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

/** Decides, reads, restricts to the declared keys and records, in that order. */
export class SecretGuard implements StepSecrets {
  readonly #o: GuardOptions;
  /** One guard serves one step attempt: a value it reads again is not HMAC'd again. */
  readonly #fingerprint: (value: string) => string;
  constructor(options: GuardOptions) {
    this.#o = options;
    this.#fingerprint = memoFingerprint(options.fingerprint);
  }

  /**
   * The keys of `name` the declaration allows (restricted to `keys` when given); a denial is
   * recorded and thrown. Also for what reads no value (describe, has) and for writes.
   */
  authorize(name: string, keys?: readonly string[], what?: string, pinned?: string): 'all' | string[] {
    const allowed = allowedKeys(this.#o.declaration, name);
    const stepName = this.#o.reader.step ?? this.#o.reader.component ?? 'unknown';
    const refused =
      keys === undefined || allowed === null || allowed === 'all' ? [] : keys.filter((k) => !allowed.includes(k));
    if (allowed === null || refused.length > 0) {
      this.#record(name, [...(keys ?? [])], null, pinned, {}, 'denied', null);
      const asked =
        allowed === null
          ? `the secret '${name}'`
          : `the key${refused.length > 1 ? 's' : ''} ${refused.map((k) => `'${k}'`).join(', ')} of the secret '${name}'`;
      const declare = allowed === null && keys?.length !== 1 ? name : `${name}.${refused[0] ?? keys?.[0] ?? ''}`;
      throw new SecretAccessDeniedError(stepName, what === undefined ? asked : `${asked} (${what})`, declare);
    }
    return keys === undefined ? allowed : [...keys];
  }

  /** A write (register, update, patch, delete…) is allowed only with `secrets: '*'`; a refusal is recorded. */
  authorizeWrite(name: string | undefined, operation: string): void {
    if (this.#o.declaration.all) return;
    const stepName = this.#o.reader.step ?? this.#o.reader.component ?? 'unknown';
    this.#record(name ?? '*', [], null, undefined, {}, 'denied', null);
    throw new SecretAccessDeniedError(
      stepName,
      `secrets: '*', which a step needs to ${operation} ${name === undefined ? 'secrets' : `the secret '${name}'`}`,
      '*',
    );
  }

  async get(request: string, options: GetOptions = {}): Promise<Secret> {
    return (await this.getVersioned(request, options)).secret;
  }

  /** `get`, with the backend's version id that was read (null where the backend has none). */
  async getVersioned(request: string, options: GetOptions = {}): Promise<VersionedSecret> {
    const o = this.#o;
    const { name, version: askedPin } = splitPin(request);
    const allowed = this.authorize(name, options.keys, options.what, askedPin);
    // A declared pin is what the step reads unless it asks for another pin explicitly.
    const declaredPin = o.declaration.all ? undefined : o.declaration.entries.find((e) => e.name === name)?.version;
    const version = askedPin ?? declaredPin;
    let got: VersionedSecret | null;
    try {
      got = await o.read(name, { fresh: options.fresh === true, version, keys: options.keys });
    } catch (e) {
      this.#record(name, [], null, version, {}, 'error', e instanceof KeystackError ? e.code : 'error');
      throw e;
    }
    if (!got) {
      this.#record(name, [], null, version, {}, 'not_found', null);
      throw new SecretNotFoundError(name, o.where);
    }
    const keys = Object.keys(got.secret.values).filter((k) => allowed === 'all' || allowed.includes(k));
    const values: Record<string, string> = {};
    const fingerprints: Record<string, string> = {};
    for (const k of keys) {
      const v = got.secret.values[k] as string;
      values[k] = v;
      fingerprints[k] = this.#fingerprint(v);
    }
    this.#record(name, keys, got.version, version, fingerprints, 'read', null);
    const types = got.secret.types
      ? Object.fromEntries(Object.entries(got.secret.types).filter(([k]) => keys.includes(k)))
      : undefined;
    return {
      secret: { name: got.secret.name, schema: got.secret.schema, values, ...(types ? { types } : {}) },
      version: got.version,
    };
  }

  #record(
    secret: string,
    keys: string[],
    version: string | null,
    pinned: string | undefined,
    fingerprints: Record<string, string>,
    outcome: AccessRecord['outcome'],
    errorCode: string | null,
  ): void {
    const r = this.#o.reader;
    this.#o.sink.record({
      runId: r.runId,
      pipeline: r.pipeline,
      step: r.step,
      component: r.component,
      attempt: r.attempt,
      worker: r.worker,
      host: r.host,
      at: isoNow(),
      manager: this.#o.manager,
      secret,
      keys,
      version,
      pinned: pinned ?? null,
      fingerprints,
      outcome,
      errorCode,
    });
  }
}
