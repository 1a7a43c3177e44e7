/**
 * Resolving `{{name.key}}` references during a run. One resolver lives for one run: every secret
 * is fetched at most once, through the stack's secrets manager, and every value it hands out is
 * remembered so that messages of the run can be masked.
 */
import { KeystackError, SecretNotFoundError, type ErrorCode } from '../errors.js';
import {
  DOTTED_NAME_HINT,
  dottedNameNote,
  formatReference,
  parseReference,
  type SecretReference,
} from '../secrets/reference.js';
import type { Secret, SecretsManager } from '../core/manager.js';
import { splitPin } from '../secrets/pins.js';
import { processMasker, type Masker } from '../support/masking.js';

/** Where a reference was found, for messages. */
export interface ReferenceSite {
  /** CLI spelling of the component type, e.g. `artifact-store`. */
  type: string;
  component: string;
  field: string;
}

export type ReferenceProblem = 'no_manager' | 'missing_secret' | 'missing_key';

/** A reference that cannot be resolved. The message names the reference, never a value. */
export class SecretReferenceError extends KeystackError {
  readonly reference: SecretReference;
  readonly problem: ReferenceProblem;
  constructor(
    ref: SecretReference,
    site: ReferenceSite | undefined,
    problem: ReferenceProblem,
    detail: string,
    hint: string,
  ) {
    const code: ErrorCode = problem === 'no_manager' ? 'config' : 'not_found';
    const where = site ? ` for field '${site.field}' of ${site.type} '${site.component}'` : '';
    super(code, `cannot resolve the secret reference ${formatReference(ref)}${where}: ${detail}`, { hint });
    this.reference = ref;
    this.problem = problem;
  }
}

/**
 * A secret read by a component's own code (the orchestrator, the artifact store writing outputs),
 * for the run's provenance. `values` holds what was read, only so that the run can fingerprint
 * it; it is never kept.
 */
export interface ComponentRead {
  /** `artifact-store:NAME`, `container-registry:NAME`, … */
  component: string;
  secret: string;
  keys: string[];
  values: Readonly<Record<string, string>>;
  outcome: 'read' | 'not_found' | 'error';
  errorCode: string | null;
  /** The backend's version id read (null where it has none, or nothing was read). */
  version?: string | null | undefined;
  /** The pin the reference asked for (`{{name@V.key}}`), if any. */
  pinned?: string | null | undefined;
}

/** One value a run was given (or wrote), with the secret and key it belongs to. */
export interface DeliveredValue {
  secret: string;
  key: string;
  value: string;
}

/** A secret as the run read it, with the backend's version id (null where the backend has none). */
export interface VersionedRead {
  secret: Secret;
  version: string | null;
}

export interface ResolverOptions {
  /** The stack's secrets manager, or undefined when the stack has none. */
  manager: SecretsManager | undefined;
  stackName: string;
}

export class ReferenceResolver {
  readonly stackName: string;
  readonly manager: SecretsManager | undefined;
  readonly #secrets = new Map<string, Promise<VersionedRead | null>>();
  readonly #masker: Masker = processMasker;
  /** Backend reads made through this resolver (one per secret name at most, unless forgotten). */
  fetches = 0;
  #onRead: ((r: ComponentRead) => void) | undefined;
  /** Every (secret, key, value) this resolver handed out, by `secret NUL key NUL value` (the leak guard's patterns). */
  readonly #delivered = new Map<string, DeliveredValue>();

  constructor(options: ResolverOptions) {
    this.manager = options.manager;
    this.stackName = options.stackName;
  }

  /** The value unchanged when it is not a reference, else the referenced secret value. */
  async resolve(value: unknown, site?: ReferenceSite): Promise<unknown> {
    if (typeof value !== 'string') return value;
    const ref = parseReference(value);
    return ref ? this.resolveReference(ref, site) : value;
  }

  async resolveReference(ref: SecretReference, site?: ReferenceSite): Promise<string> {
    const manager = this.requireManager(ref, site);
    const who = site && `${site.type}:${site.component}`;
    let got: VersionedRead | null;
    try {
      got = await this.versioned(ref.name);
    } catch (e) {
      this.reportRead(who, ref.name, [ref.key], {}, 'error', e);
      throw e;
    }
    try {
      const v = this.valueOf(ref, site, got?.secret ?? null, manager);
      this.reportRead(who, ref.name, [ref.key], { [ref.key]: v }, 'read', undefined, got?.version);
      return v;
    } catch (e) {
      this.reportRead(who, ref.name, [ref.key], {}, 'not_found');
      throw e;
    }
  }

  /** The manager, or the error of a reference on a stack without one. */
  protected requireManager(ref: SecretReference, site: ReferenceSite | undefined): SecretsManager {
    if (this.manager) return this.manager;
    throw new SecretReferenceError(
      ref,
      site,
      'no_manager',
      `stack '${this.stackName}' has no secrets manager`,
      `Add one with \`keystack stack update ${this.stackName} -x NAME\`.`,
    );
  }

  /** The referenced value of `secret` (null: it does not exist), or the error that names what is missing. */
  protected valueOf(
    ref: SecretReference,
    site: ReferenceSite | undefined,
    secret: Secret | null,
    manager: SecretsManager,
  ): string {
    if (!secret) {
      const dotted = dottedNameNote(ref);
      throw new SecretReferenceError(
        ref,
        site,
        'missing_secret',
        `secret '${ref.name}' does not exist in ${manager.where}${dotted ? `; ${dotted}` : ''}`,
        dotted ? DOTTED_NAME_HINT : `Register it with \`keystack stack register-secrets ${this.stackName}\`.`,
      );
    }
    // Own keys only: `{{db.constructor}}` must not resolve to Object's constructor.
    const v = Object.hasOwn(secret.values, ref.key) ? secret.values[ref.key] : undefined;
    if (v === undefined) {
      const keys = Object.keys(secret.values);
      throw new SecretReferenceError(
        ref,
        site,
        'missing_key',
        `secret '${ref.name}' has no key '${ref.key}' (its keys: ${keys.join(', ') || 'none'})`,
        `Add it with \`keystack stack register-secrets ${this.stackName}\` or \`keystack secret update ${ref.name} --${ref.key}=...\`.`,
      );
    }
    return v;
  }

  /**
   * Where reads made by components' own code are reported, for the run's provenance (undefined:
   * nowhere). Steps' reads are not: the step's guard records those.
   */
  onRead(hook: ((r: ComponentRead) => void) | undefined): void {
    this.#onRead = hook;
  }

  /** A secret read for a component (`who`: `artifact-store:NAME`), reported to the onRead hook. */
  async secretFor(who: string, name: string): Promise<Secret | null> {
    try {
      const got = await this.versioned(name);
      const s = got?.secret ?? null;
      if (s) this.reportRead(who, name, Object.keys(s.values), s.values, 'read', undefined, got?.version);
      else this.reportRead(who, name, [], {}, 'not_found');
      return s;
    } catch (e) {
      this.reportRead(who, name, [], {}, 'error', e);
      throw e;
    }
  }

  protected reportRead(
    who: string | undefined,
    secret: string,
    keys: string[],
    values: Readonly<Record<string, string>>,
    outcome: ComponentRead['outcome'],
    error?: unknown,
    version?: string | null,
  ): void {
    if (!this.#onRead || who === undefined) return;
    const errorCode = outcome === 'error' ? (error instanceof KeystackError ? error.code : 'error') : null;
    // Recorded under the secret's own name, with the pin beside it, so `used-by NAME` finds pinned reads too.
    const pin = splitPin(secret);
    this.#onRead({
      component: who,
      secret: pin.name,
      keys,
      values,
      outcome,
      errorCode,
      version: version ?? null,
      pinned: pin.version ?? null,
    });
  }

  /** A secret by name, read once per run; null when it does not exist. `name@V` reads version V (a pin). */
  async secret(name: string): Promise<Secret | null> {
    return (await this.versioned(name))?.secret ?? null;
  }

  /**
   * A secret with the backend's version id it was read at, read once per run (one backend call);
   * null when it does not exist. `name@V` (a version token after the last '@') reads version V:
   * `unsupported` on a flavor without versions, `not_found` naming the readable ones when V is missing.
   */
  versioned(name: string): Promise<VersionedRead | null> {
    let p = this.#secrets.get(name);
    if (!p) {
      const manager = this.manager;
      if (!manager) return Promise.resolve(null);
      this.fetches++;
      const pin = splitPin(name);
      const read = pin.version === undefined ? manager.getVersioned(name) : manager.getVersion(pin.name, pin.version);
      p = read.then(
        ({ version, ...s }) => {
          this.deliver(pin.name, s.values);
          const secret: Secret = {
            name: s.name,
            schema: s.schema,
            values: s.values,
            ...(s.types ? { types: s.types } : {}),
          };
          return { secret, version };
        },
        (e: unknown) => {
          if (e instanceof SecretNotFoundError) return null;
          this.#secrets.delete(name); // a failure is not cached: the next read tries again
          throw e;
        },
      );
      this.#secrets.set(name, p);
    }
    return p;
  }

  /** Drops a cached secret (after the run itself changed it), with its pinned reads (`@current` moved). */
  forget(name?: string): void {
    if (name === undefined) this.#secrets.clear();
    else
      for (const k of [...this.#secrets.keys()]) if (k === name || splitPin(k).name === name) this.#secrets.delete(k);
  }

  /**
   * Remembers the values of a secret the run read or wrote, with their secret and key: masked in
   * the run's messages like `remember`, and looked for by the leak guard in what the run stores.
   */
  deliver(secret: string, values: Readonly<Record<string, string>>): void {
    this.remember(Object.values(values));
    // An updated key keeps its older value too: the run saw both.
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'string' || value === '') continue;
      const id = `${secret}\0${key}\0${value}`;
      if (!this.#delivered.has(id)) this.#delivered.set(id, { secret, key, value });
    }
  }

  /** Every (secret, key, value) delivered through `deliver`, in the order first delivered. */
  delivered(): DeliveredValue[] {
    return [...this.#delivered.values()];
  }

  /** Grows whenever `delivered()` would return something new, so that a guard knows to rebuild. */
  get deliveredCount(): number {
    return this.#delivered.size;
  }

  /** Remembers values that the run's messages must not show (the process's masker keeps them). */
  remember(values: Iterable<string>): void {
    this.#masker.add(values);
  }

  /** Every secret value this process has seen, including those of the run. */
  values(): ReadonlySet<string> {
    return this.#masker.values();
  }

  /** `text` masked: every value seen, each line of it and their encodings become `***` (see support/masking.ts). */
  mask(text: string): string {
    return this.#masker.mask(text);
  }
}

/**
 * The secrets manager as a step sees it: the real one, except that reads go through the run's
 * cache (and are masked in the run's messages), and writes drop the cached copy.
 */
export function runManager(manager: SecretsManager, resolver: ReferenceResolver): SecretsManager {
  return new Proxy(manager, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop === 'get') {
        return async (name: string, schema?: unknown) => {
          if (schema !== undefined) {
            const s = (await fn.call(target, name, schema)) as Secret;
            resolver.deliver(splitPin(name).name, s.values);
            return s;
          }
          const s = await resolver.secret(name);
          if (!s) return fn.call(target, name); // throws the manager's own not-found error
          return { ...s, values: { ...s.values } };
        };
      }
      if (prop === 'register' || prop === 'update' || prop === 'patch' || prop === 'delete' || prop === 'deleteAll') {
        return async (...args: unknown[]) => {
          const name = typeof args[0] === 'string' ? args[0] : undefined;
          if (prop !== 'delete' && prop !== 'deleteAll' && args[1] && typeof args[1] === 'object') {
            const values =
              prop === 'patch'
                ? ((args[1] as { set?: Record<string, string> }).set ?? {})
                : (args[1] as Record<string, string>);
            if (name === undefined) resolver.remember(Object.values(values));
            else resolver.deliver(name, values);
          }
          try {
            return await fn.apply(target, args);
          } finally {
            resolver.forget(prop === 'deleteAll' ? undefined : name);
          }
        };
      }
      return fn.bind(target);
    },
  });
}
