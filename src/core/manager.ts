/**
 * A registered secrets manager: one flavor instance bound to a scope. This is the API that the
 * CLI, stacks and pipeline steps use. It owns everything that must behave the same on every
 * backend: name and key rules, schemas, size limits, error types and messages.
 */
import { refuseInStepProcess } from '../support/step-process.js';
import { ARBITRARY, keptTypes, payloadBytes, type StoredSecret, type ValueType } from '../secrets/content.js';
import {
  ConfigError,
  ConflictError,
  InputError,
  InvalidNameError,
  isKeystackError,
  NotFoundError,
  SchemaValidationError,
  SecretExistsError,
  SecretNotFoundError,
  SecretTooLargeError,
  UnsupportedOperationError,
} from '../errors.js';
import { validateSecretKey, validateSecretName, type NameRule } from '../secrets/names.js';
import { splitPin } from '../secrets/pins.js';
import { coerceValues, type SchemaRegistry, type SecretSchema } from '../secrets/schema.js';
import { backendNames, describeScope, scopedPrefix, type ScopeContext } from '../secrets/scope.js';
import { resolveFlavorFields, validateScopeSettings } from './config.js';
import { processMasker } from '../support/masking.js';
import { backendFailure } from '../support/scrub.js';
import { deleteEach } from './kit.js';
import type { DescribedSecret, FlavorDefinition, SecretsBackend, StoredVersion } from './types.js';
import {
  diff,
  history,
  readVersion,
  withLabels,
  type HistoryEntry,
  type SecretDiff,
  type VersionAccess,
} from './versions.js';

export type { HistoryEntry, KeyChanges, SecretDiff } from './versions.js';

/** What the config store keeps about a secrets manager. */
export interface ManagerRecord {
  uuid: string;
  name: string;
  flavor: string;
  /** Flavor fields plus `scope`, `namespace` and `scope_prefix`. */
  config: Record<string, unknown>;
}

export interface Secret {
  name: string;
  schema: string;
  values: Record<string, string>;
  /**
   * JSON types of the values the backend holds as something other than a string (a typed
   * schema's booleans and numbers, or what ZenML wrote); absent when all are strings. Updates
   * keep them.
   */
  types?: Record<string, ValueType>;
}

/** What `describe` tells about a secret: never its values. */
export interface SecretDescription {
  name: string;
  schema: string;
  keys: string[];
  /** Bytes of the stored content (the JSON of values and schema the backend holds). */
  bytes: number;
  /** Null where the backend (or flavor) does not say. */
  createdAt: Date | null;
  updatedAt: Date | null;
}

export interface TypedSecret<T> extends Secret {
  /** The values converted to the schema's types. */
  data: T;
}

export interface SecretsManagerOptions {
  record: ManagerRecord;
  flavor: FlavorDefinition<unknown>;
  configDir: string;
  env: Readonly<Record<string, string | undefined>>;
  schemas: SchemaRegistry;
  /** Passed on to the flavor (see FlavorContext.warn). */
  warn?: ((message: string) => void) | undefined;
  /** The module a custom flavor came from, for messages. */
  source?: string | undefined;
  /**
   * Called after each write with the version it created (versioned backends only), so that the
   * layer above can record who wrote it in its own records, never in the backend object. A
   * failure here is a warning: the write itself happened.
   */
  onWritten?: ((name: string, version: string) => void | Promise<void>) | undefined;
  /** Who wrote these versions of `name`, as `onWritten`'s layer recorded it (`history`). */
  writersOf?: ((name: string, versions: readonly string[]) => Record<string, string>) | undefined;
}

/** One version of a secret as `getVersion` returns it. */
export interface SecretVersion extends Secret {
  version: string;
  createdAt: Date | null;
  labels: string[];
}

/** What `rollback` did. */
export interface RollbackResult {
  name: string;
  /** The version whose content and schema were written again. */
  restored: string;
  /** The version that was current when the rollback started. */
  replaced: string;
  /** The new current version, where the backend says. */
  version: string | null;
}

/** What `rotate` did. */
export interface RotateResult {
  name: string;
  /** The new current version, where the backend says. */
  version: string | null;
  /** The version that was current before: still readable as `previous` until it is retired. */
  previous: string;
}

export type SchemaArg = string | SecretSchema<unknown>;

export interface WriteOptions {
  schema?: SchemaArg;
  /**
   * JSON types to keep for an arbitrary secret's values (a copied ZenML boolean stays a boolean
   * while its value still is one); a typed schema decides its own types and ignores these.
   */
  types?: Readonly<Record<string, ValueType>> | undefined;
}

/** Undefined when a backend's result is what the contract says; else what it was instead. */
type ResultCheck = (v: unknown) => string | undefined;

const isBoolean: ResultCheck = (v) => (typeof v === 'boolean' ? undefined : `${describeValue(v)}, not true or false`);
const isCount: ResultCheck = (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0
    ? undefined
    : `${describeValue(v)}, not a count of deleted secrets`;
const isNames: ResultCheck = (v) =>
  Array.isArray(v) && v.every((n) => typeof n === 'string')
    ? undefined
    : `${describeValue(v)}, not an array of secret names`;
const isStoredOrNull: ResultCheck = (v) => {
  if (v === null) return undefined;
  const s = v as { schema?: unknown; values?: unknown } | undefined;
  const values = s?.values;
  const ok =
    typeof s === 'object' &&
    typeof s.schema === 'string' &&
    typeof values === 'object' &&
    values !== null &&
    !Array.isArray(values) &&
    Object.values(values).every((x) => typeof x === 'string');
  return ok ? undefined : `${describeValue(v)}, not null or { schema, values } with string values`;
};

/** The type of a value, never the value itself (it may be a secret). */
function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v))
    return v.every((n) => typeof n === 'string') ? 'an array of strings' : 'an array with non-strings';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return typeof v === 'object' ? 'an object' : `${/^[aeiou]/.test(typeof v) ? 'an' : 'a'} ${typeof v}`;
}

/**
 * Compare-and-set attempts of one patch. Each conflict means another writer's change landed, so
 * this bounds how many concurrent writers of one secret a merge outlasts, not a time.
 */
const PATCH_ATTEMPTS = 20;

const DELETE_CONCURRENCY = 8;

/**
 * Look-then-create rounds of one upsert: each extra round means another writer created or deleted
 * the secret between this one's look and its write.
 */
const UPSERT_ATTEMPTS = 5;

export class SecretsManager {
  readonly name: string;
  readonly uuid: string;
  readonly flavor: FlavorDefinition<unknown>;
  readonly scope: ScopeContext;
  readonly #opts: SecretsManagerOptions;
  #backend: SecretsBackend | undefined;

  constructor(opts: SecretsManagerOptions) {
    refuseInStepProcess('build a secrets manager');
    this.#opts = opts;
    this.name = opts.record.name;
    this.uuid = opts.record.uuid;
    this.flavor = opts.flavor;
    const s = validateScopeSettings(opts.flavor, opts.record.config);
    this.scope = {
      scope: s.scope,
      namespace: s.namespace,
      componentUuid: opts.record.uuid,
      componentName: opts.record.name,
      prefix: s.scope_prefix,
    };
  }

  /** "secrets manager 'x' (component scope)", for messages. */
  get where(): string {
    return describeScope(this.scope, this.name);
  }

  /**
   * Whether `patch` is atomic: the backend has a compare-and-set (`read` + `replaceIf`). When false,
   * of two concurrent patches of one secret the last writer wins. Creates the backend (no I/O).
   */
  get mergesAtomically(): boolean {
    const be = this.#be();
    return be.read !== undefined && be.replaceIf !== undefined;
  }

  /** Creates a secret. Throws SecretExistsError if the name is taken in this scope. */
  async register(name: string, values: Readonly<Record<string, string>>, options: WriteOptions = {}): Promise<Secret> {
    this.#checkNewName(name);
    const stored = await this.#prepare(name, values, options.schema ?? ARBITRARY, options.types);
    const created = await this.#call('register', name, () => this.#be().create(name, stored), stored, isBoolean);
    if (!created) throw new SecretExistsError(name, this.where);
    await this.#written(name);
    return { name, ...stored };
  }

  /** Reads a secret; with a schema, also returns its values converted to the schema's types. */
  async get(name: string): Promise<Secret>;
  async get<T>(name: string, schema: SecretSchema<T>): Promise<TypedSecret<T>>;
  async get<T>(name: string, schema?: SecretSchema<T>): Promise<Secret | TypedSecret<T>> {
    this.#checkName(name);
    const stored = await this.#call('get', name, () => this.#be().get(name), undefined, isStoredOrNull);
    if (!stored) throw new SecretNotFoundError(name, this.where);
    processMasker.add(Object.values(stored.values));
    const secret: Secret = { name, ...stored };
    if (!schema) return secret;
    if (stored.schema !== schema.name) {
      throw new SchemaValidationError(
        schema.name,
        [{ key: '', message: `secret '${name}' was registered with schema '${stored.schema}'` }],
        `Register it again with \`keystack secret register ${name} --schema=${schema.name} ...\`.`,
      );
    }
    return { ...secret, data: coerceValues(schema, stored.values).data };
  }

  /** A secret's schema, key names, stored size and times, where the backend keeps them. */
  async describe(name: string): Promise<SecretDescription> {
    this.#checkName(name);
    const be = this.#be();
    const describe = be.describe?.bind(be);
    const found: DescribedSecret | null = describe
      ? await this.#call(
          'describe',
          name,
          () => describe(name),
          undefined,
          (v) => (v === null ? undefined : isStoredOrNull((v as { secret?: unknown }).secret)),
        )
      : await this.#call('get', name, () => be.get(name), undefined, isStoredOrNull).then((secret) =>
          secret ? { secret } : null,
        );
    if (!found) throw new SecretNotFoundError(name, this.where);
    // Not shown, but known: a message quoting one is masked.
    processMasker.add(Object.values(found.secret.values));
    const time = (d: unknown) => (d instanceof Date && !Number.isNaN(d.getTime()) ? d : null);
    return {
      name,
      schema: found.secret.schema,
      keys: Object.keys(found.secret.values),
      bytes: payloadBytes(found.secret, this.scope.prefix),
      createdAt: time(found.createdAt),
      updatedAt: time(found.updatedAt),
    };
  }

  /** Whether a secret exists, without failing when it does not. */
  async has(name: string): Promise<boolean> {
    this.#checkName(name);
    const stored = await this.#call('get', name, () => this.#be().get(name), undefined, isStoredOrNull);
    if (stored) processMasker.add(Object.values(stored.values));
    return stored !== null;
  }

  /** The names of the secrets in this manager's scope, sorted. */
  async list(): Promise<string[]> {
    const names = await this.#call('list', undefined, () => this.#be().list(), undefined, isNames);
    return [...new Set(names)].sort();
  }

  /**
   * Replaces a secret's content. Without `schema`, the secret keeps the schema it has, which
   * costs one extra read.
   */
  async update(name: string, values: Readonly<Record<string, string>>, options: WriteOptions = {}): Promise<Secret> {
    this.#checkName(name);
    if (options.schema !== undefined)
      return this.#replace(name, await this.#prepare(name, values, options.schema, options.types));
    const current = await this.get(name);
    return this.#replace(name, await this.#prepare(name, values, current.schema, current.types));
  }

  /**
   * Merges `set` into the existing values and removes `remove`; keeps the schema. Atomic where the
   * backend has a compare-and-set (`read` + `replaceIf`): on a conflict the secret is read again and
   * the change applied on top of the other writer's, never the stale result written. Throws
   * ConflictError when other writers kept winning for every attempt (nothing was written then).
   * Without compare-and-set (github, custom flavors that lack it) this is a get + update, so of
   * two concurrent merges the last writer wins.
   */
  async patch(
    name: string,
    change: { set?: Readonly<Record<string, string>>; remove?: readonly string[]; schema?: string },
  ): Promise<Secret> {
    this.#checkName(name);
    return (await this.#patch(name, change)).secret;
  }

  /**
   * The patch, with the version it replaced (the compare-and-set's version; null without one) and
   * the version it wrote (null where the backend does not say).
   */
  async #patch(
    name: string,
    change: { set?: Readonly<Record<string, string>>; remove?: readonly string[]; schema?: string },
  ): Promise<{ secret: Secret; replaced: string | null; version: string | null }> {
    const be = await this.#call('update', name, async () => this.#be());
    if (!be.read || !be.replaceIf) {
      const current = await this.get(name);
      const stored = await this.#prepare(name, this.#merge(name, current, change), current.schema, current.types);
      const updated = await this.#call('update', name, () => be.update(name, stored), stored, isBoolean);
      if (!updated) throw new SecretNotFoundError(name, this.where);
      return { secret: { name, ...stored }, replaced: null, version: await this.#written(name) };
    }
    const read = be.read.bind(be);
    const replaceIf = be.replaceIf.bind(be);
    for (let attempt = 1; ; attempt++) {
      const current = await this.#call('get', name, () => read(name));
      if (!current) throw new SecretNotFoundError(name, this.where);
      processMasker.add(Object.values(current.secret.values));
      const stored = await this.#prepare(
        name,
        this.#merge(name, current.secret, change),
        current.secret.schema,
        current.secret.types,
      );
      const outcome = await this.#call('update', name, () => replaceIf(name, stored, current.version), stored);
      if (outcome === 'updated') {
        return { secret: { name, ...stored }, replaced: current.version, version: await this.#written(name) };
      }
      if (outcome === 'absent') throw new SecretNotFoundError(name, this.where);
      if (attempt >= PATCH_ATTEMPTS) throw new ConflictError(name, this.where);
      // Writers that collided once would collide again in lock step without a random pause.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 5 * 2 ** attempt)));
    }
  }

  /**
   * Creates the secret with `set` (and `options.schema`), or, when it exists, merges `set` into it
   * and removes `remove` as `patch` does. A writer that creates the secret between the look and
   * the create makes the create fail with exists: then the change is merged into that writer's
   * secret. `options.schema` given for an existing secret of another schema is refused before
   * anything is written.
   */
  async upsert(
    name: string,
    change: { set: Readonly<Record<string, string>>; remove?: readonly string[] },
    options: WriteOptions = {},
  ): Promise<{ secret: Secret; created: boolean }> {
    const schema = typeof options.schema === 'string' ? options.schema : options.schema?.name;
    for (let attempt = 1; ; attempt++) {
      try {
        return {
          secret: await this.patch(name, schema === undefined ? change : { ...change, schema }),
          created: false,
        };
      } catch (e) {
        if (!(isKeystackError(e) && e.code === 'secret_not_found') || attempt >= UPSERT_ATTEMPTS) throw e;
      }
      try {
        return { secret: await this.register(name, change.set, options), created: true };
      } catch (e) {
        if (!(isKeystackError(e) && e.code === 'secret_exists') || attempt >= UPSERT_ATTEMPTS) throw e;
      }
    }
  }

  /** Deletes a secret. Throws SecretNotFoundError if it does not exist (on every flavor alike). */
  async delete(name: string): Promise<void> {
    this.#checkName(name);
    const deleted = await this.#call('delete', name, () => this.#be().delete(name), undefined, isBoolean);
    if (!deleted) throw new SecretNotFoundError(name, this.where);
  }

  /**
   * Deletes every secret in this manager's scope, and nothing outside it. Backends without a bulk
   * call get list + delete, eight at a time; a secret that vanished meanwhile is not counted.
   */
  async deleteAll(): Promise<number> {
    return this.#call(
      'delete-all',
      undefined,
      async () => {
        const be = this.#be();
        if (be.deleteAll) return be.deleteAll();
        return deleteEach(await be.list(), DELETE_CONCURRENCY, (name) => be.delete(name));
      },
      undefined,
      isCount,
    );
  }

  /**
   * What `register` would store, checked the same way (name, keys, schema, size) without any
   * backend call: bulk writers (import, copy) check every secret before they write the first.
   */
  async validate(name: string, values: Readonly<Record<string, string>>, options: WriteOptions = {}): Promise<Secret> {
    this.#checkNewName(name);
    return { name, ...(await this.#prepare(name, values, options.schema ?? ARBITRARY, options.types)) };
  }

  /** Resolves a schema name through the registry. */
  async schema(name: string): Promise<SecretSchema<unknown>> {
    const schema = await this.#opts.schemas.get(name);
    if (!schema) {
      const known = (await this.#opts.schemas.list()).map((s) => s.name);
      throw new SchemaValidationError(
        name,
        [{ key: '', message: `unknown schema '${name}'` }],
        `Known schemas: ${known.join(', ')}. Add your own with \`keystack schema register MODULE\`.`,
      );
    }
    return schema;
  }

  // --- versions (DESIGN §16; the work is in versions.ts) ---

  /** Whether the backend keeps versions (`history`, `getVersion`, `rollback`). Creates the backend (no I/O). */
  get keepsVersions(): boolean {
    const be = this.#be();
    return be.versions !== undefined && be.getVersion !== undefined;
  }

  /** The versions of a secret, newest first, with their keys and what each changed; never values. */
  async history(name: string, options: { limit?: number } = {}): Promise<HistoryEntry[]> {
    this.#checkName(name);
    const limit = options.limit ?? 10;
    if (!Number.isInteger(limit) || limit < 1)
      throw new InputError(`--limit must be a whole number above 0, not ${limit}`);
    const va = this.#versions('list the versions of a secret');
    return history(va, name, limit, (ids) => this.#opts.writersOf?.(name, ids) ?? {});
  }

  /** Version `version` of a secret: a number or id as `history` lists it, `previous` or `current`. */
  async getVersion(name: string, version: string): Promise<SecretVersion> {
    this.#checkName(name);
    const v = await readVersion(this.#versions('read an older version'), name, version);
    return versionOf(name, v);
  }

  /** The keys added, removed and changed from version `a` to `b` (default previous → current). */
  async diff(name: string, a?: string, b?: string): Promise<SecretDiff> {
    this.#checkName(name);
    return diff(this.#versions('compare versions'), name, a, b);
  }

  /**
   * Writes version `to`'s content and schema as a new current version; history is never
   * rewritten. A compare-and-set against the version current when it started: ConflictError if
   * another writer wrote in between (nothing is written then).
   */
  async rollback(name: string, to: string): Promise<RollbackResult> {
    this.#checkName(name);
    const va = this.#versions('roll back a secret');
    const be = this.#be();
    const read = be.read?.bind(be);
    const replaceIf = be.replaceIf?.bind(be);
    const start = read ? await this.#call('get', name, () => read(name)) : null;
    if (read && !start) throw new SecretNotFoundError(name, this.where);
    const current = withLabels(await va.list(name)).find((v) => v.labels.includes('current'));
    if (!current) throw new SecretNotFoundError(name, this.where);
    const target = await readVersion(va, name, to);
    if (target.id === current.id) {
      throw new InputError(
        `version ${target.id} is already the current version of secret '${name}'; nothing was written`,
        `Pick an older one from \`keystack secret history ${name}\`.`,
      );
    }
    const stored = target.secret;
    const conflict = () =>
      new ConflictError(
        name,
        this.where,
        `Version ${current.id} is no longer current. Run \`keystack secret history ${name}\` to see what was written, then roll back again if you still mean to.`,
      );
    if (start && replaceIf) {
      const outcome = await this.#call('update', name, () => replaceIf(name, stored, start.version), stored);
      if (outcome === 'absent') throw new SecretNotFoundError(name, this.where);
      if (outcome === 'conflict') throw conflict();
    } else {
      // No compare-and-set: the narrowest check this backend allows, the current version just before the write.
      const now = withLabels(await va.list(name)).find((v) => v.labels.includes('current'));
      if (now?.id !== current.id) throw conflict();
      const updated = await this.#call('update', name, () => be.update(name, stored), stored, isBoolean);
      if (!updated) throw new SecretNotFoundError(name, this.where);
    }
    const version = await this.#written(name);
    return { name, restored: target.id, replaced: current.id, version };
  }

  /**
   * The first phase of a two-phase rotation: merges `values` into the secret as a new current
   * version (keys not given keep their values, as `patch` does), and keeps the version it replaced
   * readable as `previous`, for consumers that have not moved yet. The second phase is
   * `retireVersion(name, previous)` once nothing reads it.
   */
  async rotate(name: string, values: Readonly<Record<string, string>>): Promise<RotateResult> {
    this.#checkName(name);
    if (Object.keys(values).length === 0)
      throw new InputError(`nothing to rotate in secret '${name}'`, 'Give the new values as --KEY=VALUE.');
    const va = this.#versions('rotate a secret');
    // Without a compare-and-set the replaced version is the one current just before the write.
    const before = this.mergesAtomically
      ? null
      : (withLabels(await va.list(name)).find((v) => v.labels.includes('current'))?.id ?? null);
    const r = await this.#patch(name, { set: values });
    const previous = r.replaced ?? before;
    if (previous === null) throw new SecretNotFoundError(name, this.where);
    return { name, version: r.version, previous };
  }

  /**
   * Makes an older version unreadable (vault destroys, gcp and azure disable, local deletes; aws
   * refuses with UnsupportedOperationError, as it cannot make one version unreadable). The current
   * version cannot be retired.
   */
  async retireVersion(name: string, version: string): Promise<void> {
    this.#checkName(name);
    const va = this.#versions('retire a version');
    const be = this.#be();
    const retire = be.retireVersion?.bind(be);
    if (!retire) throw this.#unsupported('retire a version');
    const v = await readVersion(va, name, version);
    // A version read by its id may come without labels (vault): the list says which one is current.
    const current =
      v.labels.includes('current') ||
      withLabels(await va.list(name)).find((x) => x.labels.includes('current'))?.id === v.id;
    if (current) {
      throw new InputError(
        `version ${v.id} is the current version of secret '${name}' and cannot be retired`,
        'Write a new version first (`keystack secret update`), or delete the secret.',
      );
    }
    if (!(await this.#call('retire-version', name, () => retire(name, v.id), undefined, isBoolean)))
      throw new NotFoundError(`secret '${name}' in ${this.where} has no version ${v.id}`);
  }

  /**
   * The current secret with its version id where the backend has one (the id \`history\` lists),
   * for records of what was read. One backend call.
   */
  async getVersioned(name: string): Promise<Secret & { version: string | null }> {
    this.#checkName(name);
    const be = this.#be();
    const read = be.read?.bind(be);
    if (!read || !this.keepsVersions) return { ...(await this.get(name)), version: null };
    const r = await this.#call('get', name, () => read(name));
    if (!r) throw new SecretNotFoundError(name, this.where);
    processMasker.add(Object.values(r.secret.values));
    return { name, ...r.secret, version: r.version };
  }

  async close(): Promise<void> {
    const be = this.#backend;
    this.#backend = undefined;
    await be?.close?.();
  }

  #unsupported(what: string): UnsupportedOperationError {
    return new UnsupportedOperationError(
      this.flavor.name,
      what,
      'it keeps no versions of secrets (history, versions and pins need a backend that does)',
      'Use a secrets manager on local, aws, gcp, azure or vault, or a custom flavor that implements versions, getVersion and retireVersion.',
    );
  }

  /** The backend's versioned operations through the manager's checks; UnsupportedOperationError without them. */
  #versions(what: string): VersionAccess {
    const be = this.#be();
    const versions = be.versions?.bind(be);
    const getVersion = be.getVersion?.bind(be);
    if (!versions || !getVersion) throw this.#unsupported(what);
    return {
      flavor: this.flavor.name,
      where: this.where,
      list: async (name) => {
        const list = await this.#call('versions', name, () => versions(name));
        if (!list) throw new SecretNotFoundError(name, this.where);
        return list;
      },
      read: async (name, id) => {
        const v = await this.#call('get-version', name, () => getVersion(name, id));
        if (v) processMasker.add(Object.values(v.secret.values));
        return v;
      },
    };
  }

  /** Tells `onWritten` which version a write created; returns it (null when unknown). */
  async #written(name: string): Promise<string | null> {
    const be = this.#be();
    const versions = be.versions?.bind(be);
    if (!versions) return null;
    const hook = this.#opts.onWritten;
    try {
      let id = be.writtenVersion?.(name);
      if (id === undefined && hook) {
        const list = await versions(name);
        id = list ? withLabels(list).find((v) => v.labels.includes('current'))?.id : undefined;
      }
      if (id !== undefined) await hook?.(name, id);
      return id ?? null;
    } catch (e) {
      this.#opts.warn?.(
        `secret '${name}' was written, but who wrote it could not be recorded: ${e instanceof Error ? e.message : String(e)}`,
      );
      return null;
    }
  }

  #merge(
    name: string,
    current: StoredSecret,
    change: { set?: Readonly<Record<string, string>>; remove?: readonly string[]; schema?: string },
  ): Record<string, string> {
    if (change.schema !== undefined && change.schema !== current.schema) {
      throw new InputError(
        `secret '${name}' exists with schema '${current.schema}', not '${change.schema}'`,
        `Leave out --schema to merge into it, or delete it first to register it with schema '${change.schema}'.`,
      );
    }
    const values = { ...current.values, ...change.set };
    for (const key of change.remove ?? []) {
      if (!Object.hasOwn(values, key)) {
        throw new SchemaValidationError(
          current.schema,
          [{ key, message: `secret '${name}' has no such key` }],
          'Run `keystack secret get NAME` to see its keys.',
        );
      }
      delete values[key];
    }
    return values;
  }

  async #replace(name: string, stored: StoredSecret): Promise<Secret> {
    const updated = await this.#call('update', name, () => this.#be().update(name, stored), stored, isBoolean);
    if (!updated) throw new SecretNotFoundError(name, this.where);
    await this.#written(name);
    return { name, ...stored };
  }

  /**
   * Validates and converts values for storage. A typed schema decides the stored JSON types; an
   * arbitrary secret keeps the types it had (`previous`, from the read before an update) for the
   * values that still fit them.
   */
  async #prepare(
    name: string,
    values: Readonly<Record<string, string>>,
    schemaArg: SchemaArg,
    previous?: Readonly<Record<string, ValueType>>,
  ): Promise<StoredSecret> {
    for (const [key, value] of Object.entries(values)) {
      validateSecretKey(key, this.scope.prefix);
      if (typeof value !== 'string') {
        throw new SchemaValidationError(typeof schemaArg === 'string' ? schemaArg : schemaArg.name, [
          { key, message: 'value must be a string' },
        ]);
      }
    }
    const schema = typeof schemaArg === 'string' ? await this.schema(schemaArg) : schemaArg;
    const coerced = coerceValues(schema, values);
    const types = schema.object ? coerced.types : keptTypes(previous, coerced.values);
    const stored: StoredSecret = { schema: schema.name, values: coerced.values, ...(types ? { types } : {}) };
    const bytes = payloadBytes(stored, this.scope.prefix);
    if (bytes > this.flavor.maxContentBytes)
      throw new SecretTooLargeError(name, bytes, this.flavor.maxContentBytes, this.flavor.name);
    return stored;
  }

  #checkName(name: string): void {
    if (typeof name !== 'string') throw new ConfigError('a secret name must be a string');
    validateSecretName(
      name,
      this.flavor.nameRule,
      'secret name',
      scopedPrefix(this.scope, this.flavor.separator).length,
    );
  }

  /**
   * A name a write creates: `db@3` would read as version 3 of `db` in pins (`{{db@3.key}}`, `-s`,
   * steps), so a new name may not end in '@' and a version token. Existing ones stay readable.
   */
  #checkNewName(name: string): void {
    this.#checkName(name);
    const pin = splitPin(name);
    if (pin.version !== undefined) {
      throw new InvalidNameError(
        'secret name',
        name,
        `must not end in '@' and a version (${pin.version}), because '${name}' reads version ${pin.version} of '${pin.name}' in references, -s and step declarations`,
      );
    }
  }

  #be(): SecretsBackend {
    if (!this.#backend) {
      const { record, flavor, env, configDir, warn } = this.#opts;
      const config = resolveFlavorFields(flavor.name, flavor.config, record.config, env);
      for (const k of ['scope', 'namespace', 'scope_prefix']) delete config[k];
      flavor.check?.(config);
      // Credentials (stored or from the environment) must not show up in any message either.
      for (const [k, field] of Object.entries(flavor.config)) if (field.sensitive) processMasker.add([config[k]]);
      const names = flavor.naming
        ? flavor.naming(this.scope)
        : backendNames(this.scope, flavor.separator ?? '/', (n) => isValidName(n, flavor.nameRule));
      this.#backend = flavor.create({ config, scope: this.scope, names, configDir, env, ...(warn ? { warn } : {}) });
    }
    return this.#backend;
  }

  async #call<T>(
    operation: string,
    secretName: string | undefined,
    fn: () => Promise<T>,
    stored?: StoredSecret,
    check?: ResultCheck,
  ): Promise<T> {
    // Values being written are known from here on: a backend (or custom flavor) error that
    // echoes the request is masked, whether it arrives as an SDK error or a keystack error.
    if (stored) processMasker.add(Object.values(stored.values));
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      throw backendFailure(
        { flavor: this.flavor.name, operation, secretName, values: stored ? Object.values(stored.values) : [] },
        e,
      );
    }
    // A custom flavor is code keystack did not write: what it returns is checked, so that a
    // broken one is named instead of printing one character per line or "undefined secrets".
    const wrong = check?.(result);
    if (wrong !== undefined) {
      const from = this.#opts.source ? ` (module ${this.#opts.source})` : '';
      throw new ConfigError(
        `the ${this.flavor.name} flavor${from} broke the backend contract: ${operation} returned ${wrong}`,
        {
          hint: 'Fix the flavor so that each method returns what SecretsBackend declares (see docs/custom-flavors.md).',
        },
      );
    }
    return result;
  }
}

function isValidName(name: string, rule: NameRule): boolean {
  try {
    validateSecretName(name, rule);
    return true;
  } catch {
    return false;
  }
}

function versionOf(name: string, v: StoredVersion): SecretVersion {
  return { name, ...v.secret, version: v.id, createdAt: v.createdAt, labels: v.labels };
}
