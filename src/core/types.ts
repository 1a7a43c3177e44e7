/**
 * The contract between keystack's core and a backend (DESIGN §3). A flavor is a plain object
 * made with `defineFlavor`; per registered manager it creates a `SecretsBackend`.
 *
 * The core (SecretsManager) owns validation, scopes, size limits and error messages. A backend
 * only moves whole secrets in and out of its domain, and reports absence as a value
 * (null / false), never as an exception: an exception always means a failure.
 */
import type { StoredSecret } from '../secrets/content.js';
import type { NameRule } from '../secrets/names.js';
import type { BackendNames, ScopeContext } from '../secrets/scope.js';
import type { SecretSchema } from '../secrets/schema.js';
import type { Caller, CallLimits, FailureClassifier } from '../support/caller.js';
import { connectedBackend } from './kit.js';

export interface SecretsBackend {
  /** Creates the secret; false if the name already exists in this scope. One backend call. */
  create(name: string, secret: StoredSecret): Promise<boolean>;
  /** The secret, or null when it does not exist in this scope. One backend call. */
  get(name: string): Promise<StoredSecret | null>;
  /** The names visible in this scope, in any order; the core sorts. */
  list(): Promise<string[]>;
  /** Replaces the content; false when the secret does not exist in this scope. */
  update(name: string, secret: StoredSecret): Promise<boolean>;
  /** Deletes the secret; false when it does not exist in this scope. */
  delete(name: string): Promise<boolean>;
  /**
   * Deletes every secret of this scope and nothing else; returns how many. Optional: implement it
   * only when the backend has a bulk call. Without it the core lists and deletes each name (eight
   * at a time), counting the deletes that found their secret.
   */
  deleteAll?(): Promise<number>;
  /**
   * Optional compare-and-set, so that concurrent merges (`patch`, `secret update --KEY=…`) never
   * lose each other's changes. `read` returns the secret with an opaque version token;
   * `replaceIf` writes only while the secret is still at that version. On `conflict` the core
   * re-reads and re-applies the change; it never retries the stale write. A backend without
   * them gets a plain get + update, documented as last-writer-wins.
   */
  read?(name: string): Promise<VersionedSecret | null>;
  replaceIf?(name: string, secret: StoredSecret, version: string): Promise<ReplaceOutcome>;
  /**
   * Optional: the secret together with the times the backend keeps for it (`secret describe`).
   * One backend call, like `get`. Without it the core uses `get` and the times are unknown.
   */
  describe?(name: string): Promise<DescribedSecret | null>;
  /**
   * Optional versions (DESIGN §16), for backends that keep them. `versions` lists them newest
   * first, without values; null when the secret does not exist. `getVersion` reads one; null when
   * that version (or the secret) does not exist. `retireVersion` makes one unreadable (vault
   * destroys, gcp and azure disable, aws drops its AWSPREVIOUS stage, local deletes); false when
   * absent. Where `read` also exists, its version token is the same id `versions` lists, so that
   * provenance records and `secret history` name versions alike. All three or none.
   */
  versions?(name: string): Promise<BackendVersion[] | null>;
  getVersion?(name: string, version: string): Promise<StoredVersion | null>;
  retireVersion?(name: string, version: string): Promise<boolean>;
  /**
   * Optional, with the three above: the version id the last write of `name` through this backend
   * created, when the backend's answer to that write said so (no backend call); undefined when it
   * does not know. Without it the core lists the versions after a write when it must record who
   * wrote it (one more call).
   */
  writtenVersion?(name: string): string | undefined;
  /** Releases clients and handles. */
  close?(): Promise<void> | void;
}

/** A secret with its backend metadata; a time the backend does not keep is left out. */
export interface DescribedSecret {
  secret: StoredSecret;
  createdAt?: Date | undefined;
  updatedAt?: Date | undefined;
}

/** A secret as read for a compare-and-set; `version` is opaque to the core and never printed. */
export interface VersionedSecret {
  secret: StoredSecret;
  version: string;
}

/** One version of a secret as a backend keeps it; never its values. */
export interface BackendVersion {
  /** The backend's own id: aws VersionId, gcp and vault and local numbers, azure version. */
  id: string;
  createdAt: Date | null;
  /** `current`, `previous`, and any backend stage (aws AWSCURRENT, …) as the backend names it. */
  labels: string[];
  /** False for a version the backend keeps but will not return (destroyed, disabled). */
  readable: boolean;
}

/** One version's content with its metadata. */
export interface StoredVersion extends BackendVersion {
  secret: StoredSecret;
}

export type ReplaceOutcome = 'updated' | 'conflict' | 'absent';

export type ConfigFieldType = 'string' | 'boolean' | 'integer';

export interface ConfigField {
  type: ConfigFieldType;
  description: string;
  required?: boolean;
  default?: string | boolean | number;
  /** Allowed values for a string field. */
  choices?: readonly string[];
  /**
   * A credential: stored configs should not hold it in plain text. For secrets managers the
   * value may instead come from the environment variable named by `env`.
   */
  sensitive?: boolean;
  /** Environment variable that supplies the value when the config does not. */
  env?: string;
}

export type ConfigFields = Readonly<Record<string, ConfigField>>;

/** What a backend gets when it is created. Creating a backend must not do I/O. */
export interface FlavorContext<C> {
  /** The flavor's own config fields, validated and with defaults applied. */
  config: C;
  scope: ScopeContext;
  /**
   * Backend names of this scope, computed by the core from the scope and the flavor's `separator`
   * (or its `naming`): use `names.full(name)` to address a secret, `names.prefix` to filter a
   * listing and `names.parse(backendName)` to read one back (null: not a secret of this scope).
   */
  names: BackendNames;
  /** keystack's config directory (local flavors keep their store under it by default). */
  configDir: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Tells the user something that is not an error (e.g. a directory tightened to 0700). */
  warn?: (message: string) => void;
}

export interface FlavorCapabilities {
  /** False where values cannot be read back outside some environment (GitHub). */
  readValues: boolean;
  /** Most secrets one backend domain can hold (GitHub: 100 per repository); absent = no practical limit. */
  maxSecrets?: number;
  /** One line shown in `flavor list` when a capability is limited. */
  note?: string;
  /**
   * False where the backend has no create-only write, so that two concurrent registers of one
   * name can both report success (the last one's values stay). @default true
   */
  atomicCreate?: boolean;
  /**
   * False where the backend keeps versions but cannot make one of them unreadable (aws: a version
   * stays readable by its VersionId until AWS deletes it), so `retireVersion` is `unsupported`.
   * @default true
   */
  retireVersions?: boolean;
}

export interface FlavorDefinition<C = Record<string, unknown>> {
  readonly kind: 'keystack.flavor';
  /** Flavor id, e.g. `aws`. Lowercase, `[a-z0-9_-]`. */
  readonly name: string;
  readonly description: string;
  /** Whether scopes other than `none` are supported. */
  readonly supportsScoping: boolean;
  /** True when the backend exists only on this machine (remote orchestrators refuse it). */
  readonly isLocal: boolean;
  /**
   * Joins scope path and name into backend names (`ctx.names`). @default `/`
   */
  readonly separator?: string;
  /**
   * A mapping of its own, for backends whose names cannot hold the scope path as is (GitHub's
   * `[A-Z0-9_]`). Wins over `separator`. May throw a ConfigError for a scope it cannot map.
   */
  readonly naming?: (scope: ScopeContext) => BackendNames;
  /** Rules for secret names and namespaces on this backend. */
  readonly nameRule: NameRule;
  /** Largest stored payload (JSON of values plus schema) in bytes. */
  readonly maxContentBytes: number;
  readonly capabilities: FlavorCapabilities;
  /**
   * The config fields that decide where secrets live (a store path, a region, a vault URL).
   * Changing one of them, like changing the scope, hides the secrets a manager holds, so it
   * needs `--force` while the manager holds any; other fields (credentials, timeouts) do not.
   * @default every config field (a flavor that does not say is treated as all location)
   */
  readonly locationFields?: readonly string[];
  /**
   * Fields besides the location that decide whether a connection can be trusted (TLS
   * verification, the CA file) or which of the machine's credentials is used (a profile, a key
   * file, the variable holding a token). A remote worker pins them together with the location.
   */
  readonly trustFields?: readonly string[];
  /** Flavor-specific config fields (scope, namespace and scope_prefix are the core's). */
  readonly config: ConfigFields;
  /**
   * Checks the flavor's own fields beyond their types (a range, a format), so that a bad value
   * fails at `secrets-manager register` and `update` rather than at first use; throws a ConfigError
   * naming the field. The core runs it again on the config a backend is created with, where fields
   * from the environment are filled in: a field may be absent here.
   */
  check?(config: Partial<C>): void;
  /** npm packages this flavor imports lazily, with the version range it was tested with. */
  readonly dependencies: Readonly<Record<string, string>>;
  /** Secret schemas that ship with the flavor (custom flavors may add their own). */
  readonly schemas?: readonly SecretSchema<unknown>[];
  create(ctx: FlavorContext<C>): SecretsBackend;
}

/**
 * What a flavor that talks to its service through one client declares instead of `create`: the
 * core then owns the lazy client, the retrying caller and closing, and the flavor only writes the
 * operations.
 */
export interface ConnectedFlavor<C, Client> {
  /**
   * Makes the client (imports the SDK, reads credentials). Called on the first operation, once:
   * concurrent operations share its promise, and one that failed is tried again by the next.
   */
  connect(ctx: FlavorContext<C>, limits: CallLimits): Promise<Client>;
  /** How the SDK's errors read (throttled, absent, exists, auth); builds the retrying caller. */
  classify: FailureClassifier | ((ctx: FlavorContext<C>) => FailureClassifier);
  /** Releases a client that was made. */
  disconnect?(client: Client): Promise<void> | void;
  /**
   * `operation` for a backend that rejects a throttled request before doing anything (Vault): each
   * operation is retried as a whole, and `conn.call` does not retry. @default 'request'
   */
  retry?: 'request' | 'operation';
  /**
   * The backend's operations, made when the backend is created (no I/O: the client comes from
   * `conn` on first use). A `close` here runs before the client is released.
   */
  operations(conn: Connection<Client>, ctx: FlavorContext<C>): SecretsBackend;
}

/** The client and the retrying caller, as a ConnectedFlavor's operations use them (functions that may be passed on). */
export interface Connection<Client> {
  /** The client, connecting on first use. */
  client: () => Promise<Client>;
  /** The caller built from the flavor's classify. */
  readonly caller: Caller;
  /** One request with the client, through the caller. */
  call: <T>(operation: string, secretName: string | undefined, fn: (client: Client) => Promise<T>) => Promise<T>;
  /** As `call`, but the backend's "absent" answer is null. */
  orNull: <T>(
    operation: string,
    secretName: string | undefined,
    fn: (client: Client) => Promise<T>,
  ) => Promise<T | null>;
  /** The same client through a caller with another classifier (one that waits out a passing state). */
  classifiedBy: (classify: FailureClassifier) => Connection<Client>;
}

type FlavorBase<C> = Omit<FlavorDefinition<C>, 'kind' | 'capabilities' | 'dependencies' | 'isLocal' | 'create'> &
  Partial<Pick<FlavorDefinition<C>, 'capabilities' | 'dependencies' | 'isLocal'>>;

export type FlavorInput<C, Client = never> = FlavorBase<C> &
  (Pick<FlavorDefinition<C>, 'create'> | ConnectedFlavor<C, Client>);

/**
 * Declares a flavor. Used by the built-in flavors and by custom flavor modules alike: with
 * `create`, or with `connect`, `classify` and `operations` (ConnectedFlavor).
 */
export function defineFlavor<C = Record<string, unknown>, Client = never>(
  input: FlavorInput<C, Client>,
): FlavorDefinition<C> {
  const defaults = {
    kind: 'keystack.flavor',
    capabilities: { readValues: true },
    dependencies: {},
    isLocal: false,
  } as const;
  if ('create' in input) return { ...defaults, ...input };
  return { ...defaults, ...input, create: (ctx) => connectedBackend(input.name, input, ctx) };
}

export function isFlavorDefinition(x: unknown): x is FlavorDefinition<unknown> {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'keystack.flavor';
}
