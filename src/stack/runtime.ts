/**
 * A stack as a run sees it: its components with their configs resolved lazily, and its secrets
 * manager. Built from the config store alone, so a step process can rebuild it on its own.
 */
import { ConfigError, NotFoundError, SchemaValidationError } from '../errors.js';
import { collectReferences, type SecretReference } from '../secrets/reference.js';
import type { Secret, SecretsManager } from '../core/manager.js';
import type { Keystack } from './client.js';
import { COMPONENT_LABEL, type ComponentRecord, type StackRecord } from './config-store.js';
import { componentFlavor, REGISTRY_AUTH_SCHEMA, type ComponentFlavor, type StackComponentType } from './components.js';
import { processMasker } from '../support/masking.js';
import { ReferenceResolver, runManager } from './references.js';

/** A registered component whose string fields may hold references, resolved when read. */
export class ResolvedComponent {
  readonly record: ComponentRecord;
  readonly flavor: ComponentFlavor;
  readonly #resolver: ReferenceResolver;

  constructor(record: ComponentRecord, flavor: ComponentFlavor, resolver: ReferenceResolver) {
    this.record = record;
    this.flavor = flavor;
    this.#resolver = resolver;
  }

  get name(): string {
    return this.record.name;
  }

  get type(): StackComponentType {
    return this.flavor.type;
  }

  /** A config field, with a reference resolved through the stack's secrets manager. */
  async get(field: string): Promise<unknown> {
    const stored = this.record.config[field] ?? this.flavor.config[field]?.default;
    // A plain value in a sensitive field is a credential too, though no secrets manager handed it out.
    if (this.flavor.config[field]?.sensitive && typeof stored === 'string') processMasker.add([stored]);
    return this.#resolver.resolve(stored, { type: COMPONENT_LABEL[this.type], component: this.name, field });
  }

  async getString(field: string): Promise<string | undefined> {
    const v = await this.get(field);
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- string fields hold scalars (the flavor's schema checked them); a number or boolean prints as String() does
    return v === undefined || v === null || v === '' ? undefined : String(v);
  }

  /**
   * A secret of the stack's secrets manager by name (an `authentication_secret`), read once per
   * run like references; null when it does not exist or the stack has no secrets manager.
   */
  secret(name: string): Promise<Secret | null> {
    return this.#resolver.secretFor(`${COMPONENT_LABEL[this.type]}:${this.name}`, name);
  }

  /** The same component with its references resolved through `resolver` (a step's guarded view). */
  through(resolver: ReferenceResolver): ResolvedComponent {
    return new ResolvedComponent(this.record, this.flavor, resolver);
  }

  get hasSecretsManager(): boolean {
    return this.#resolver.manager !== undefined;
  }

  /** The stored config: references stay as text. */
  get config(): Readonly<Record<string, unknown>> {
    return this.record.config;
  }

  requiredSecrets(): SecretReference[] {
    return collectReferences(this.record.config);
  }

  /** Serialization never resolves a reference. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.record.uuid,
      type: this.type,
      flavor: this.flavor.name,
      name: this.name,
      config: this.record.config,
    };
  }
}

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface StackRuntimeOptions {
  /** A stack name; default: the active stack. */
  stack?: string | undefined;
  /** Component flavors beyond the built-in ones. */
  componentFlavors?: readonly ComponentFlavor[] | undefined;
}

export class StackRuntime {
  readonly record: StackRecord;
  readonly orchestrator: ResolvedComponent;
  readonly artifactStore: ResolvedComponent;
  readonly containerRegistry: ResolvedComponent | undefined;
  readonly resolver: ReferenceResolver;
  readonly #manager: SecretsManager | undefined;
  readonly #stepOperators: readonly ResolvedComponent[];
  #runManager: SecretsManager | undefined;
  /** Set on a step's view: `secretsManager` and `rawSecretsManager` are both this guarded manager. */
  readonly #viewManager: SecretsManager | undefined;

  private constructor(o: {
    record: StackRecord;
    orchestrator: ResolvedComponent;
    artifactStore: ResolvedComponent;
    containerRegistry: ResolvedComponent | undefined;
    stepOperators: readonly ResolvedComponent[];
    resolver: ReferenceResolver;
    manager: SecretsManager | undefined;
    viewManager?: SecretsManager | undefined;
  }) {
    this.#viewManager = o.viewManager;
    this.#stepOperators = o.stepOperators;
    this.record = o.record;
    this.orchestrator = o.orchestrator;
    this.artifactStore = o.artifactStore;
    this.containerRegistry = o.containerRegistry;
    this.resolver = o.resolver;
    this.#manager = o.manager;
  }

  static async load(ks: Keystack, options: StackRuntimeOptions = {}): Promise<StackRuntime> {
    const record = options.stack === undefined ? ks.activeStack() : ks.store.getStack(options.stack);
    const smRecord = ks.stackComponent(record, 'secrets_manager');
    const manager = smRecord ? await ks.managerFor(smRecord) : undefined;
    const resolver = new ReferenceResolver({ manager, stackName: record.name });
    const resolved = (type: StackComponentType, rec: ComponentRecord) =>
      new ResolvedComponent(rec, componentFlavor(type, rec.flavor, options.componentFlavors), resolver);
    const component = (type: Exclude<StackComponentType, 'step_operator'>): ResolvedComponent | undefined => {
      const rec = ks.stackComponent(record, type);
      return rec && resolved(type, rec);
    };
    const stepOperators = ks.stackStepOperators(record).map((rec) => resolved('step_operator', rec));
    const orchestrator = component('orchestrator');
    const artifactStore = component('artifact_store');
    if (!orchestrator || !artifactStore) {
      throw new ConfigError(`stack '${record.name}' needs an orchestrator and an artifact store`, {
        hint: `Add them with \`keystack stack update ${record.name} -o NAME -a NAME\`.`,
      });
    }
    return new StackRuntime({
      record,
      orchestrator,
      artifactStore,
      containerRegistry: component('container_registry'),
      stepOperators,
      resolver,
      manager,
    });
  }

  /**
   * A stack with no config store behind it: a step child's, built from what its parent sent.
   * `manager` is whatever answers for the secrets manager there (a stand-in that asks the parent);
   * the child holds no credentials, so nothing here can reach a backend by itself.
   */
  static detached(o: {
    record: StackRecord;
    components: readonly { record: ComponentRecord; flavor: ComponentFlavor }[];
    manager: SecretsManager | undefined;
  }): StackRuntime {
    const resolver = new ReferenceResolver({ manager: o.manager, stackName: o.record.name });
    const all = o.components.map((c) => new ResolvedComponent(c.record, c.flavor, resolver));
    const one = (type: StackComponentType) => all.find((c) => c.type === type);
    const orchestrator = one('orchestrator');
    const artifactStore = one('artifact_store');
    if (!orchestrator || !artifactStore) {
      throw new ConfigError(`stack '${o.record.name}' needs an orchestrator and an artifact store`);
    }
    return new StackRuntime({
      record: o.record,
      orchestrator,
      artifactStore,
      containerRegistry: one('container_registry'),
      stepOperators: all.filter((c) => c.type === 'step_operator'),
      resolver,
      manager: o.manager,
    });
  }

  /**
   * The stack as a step sees it: every component resolves its references through `resolver` (the
   * step's guarded resolver), and the secrets manager is `manager` (the step's guarded view).
   */
  view(resolver: ReferenceResolver, manager: SecretsManager | undefined): StackRuntime {
    return new StackRuntime({
      record: this.record,
      orchestrator: this.orchestrator.through(resolver),
      artifactStore: this.artifactStore.through(resolver),
      containerRegistry: this.containerRegistry?.through(resolver),
      stepOperators: this.#stepOperators.map((c) => c.through(resolver)),
      resolver,
      manager: this.#manager && manager,
      viewManager: this.#manager && manager,
    });
  }

  get name(): string {
    return this.record.name;
  }

  get hasSecretsManager(): boolean {
    return this.#manager !== undefined;
  }

  /** The stack's secrets manager; reads go through this run's cache. */
  get secretsManager(): SecretsManager {
    if (!this.#manager) {
      throw new NotFoundError(
        `stack '${this.name}' has no secrets manager`,
        `Add one with \`keystack stack update ${this.name} -x NAME\`.`,
      );
    }
    return (this.#runManager ??= this.#viewManager ?? runManager(this.#manager, this.resolver));
  }

  /** The underlying manager record, for validation (no run cache). */
  get rawSecretsManager(): SecretsManager | undefined {
    return this.#manager;
  }

  /** The stack's step operators, in the order they were added. */
  stepOperators(): ResolvedComponent[] {
    return [...this.#stepOperators];
  }

  /** The step operator with this name; undefined when the stack has none of that name. */
  stepOperator(name: string): ResolvedComponent | undefined {
    return this.#stepOperators.find((c) => c.name === name);
  }

  /** Every component of the stack except its secrets manager, step operators included. */
  components(): ResolvedComponent[] {
    return [
      this.orchestrator,
      this.artifactStore,
      ...(this.containerRegistry ? [this.containerRegistry] : []),
      ...this.#stepOperators,
    ];
  }

  /** Every reference in the stack's component configs, de-duplicated. */
  requiredSecrets(): SecretReference[] {
    const seen = new Map<string, SecretReference>();
    for (const c of this.components()) for (const r of c.requiredSecrets()) seen.set(`${r.name}.${r.key}`, r);
    return [...seen.values()];
  }

  /** The container registry's credentials, from its basic_auth secret; undefined without one. */
  async registryCredentials(): Promise<RegistryCredentials | undefined> {
    const reg = this.containerRegistry;
    const secretName = await reg?.getString('authentication_secret');
    if (!reg || secretName === undefined) return undefined;
    const secret = this.hasSecretsManager
      ? await this.resolver.secretFor(`container-registry:${reg.name}`, secretName)
      : null;
    if (!secret) {
      throw new NotFoundError(
        `the authentication secret '${secretName}' of container-registry '${reg.name}' does not exist${this.hasSecretsManager ? '' : ` (stack '${this.name}' has no secrets manager)`}`,
        `Register it with \`keystack secret register ${secretName} --schema=${REGISTRY_AUTH_SCHEMA} --username=USER --password=@FILE\`.`,
      );
    }
    checkRegistrySecretSchema(reg.name, secretName, secret.schema);
    return { username: secret.values['username'] ?? '', password: secret.values['password'] ?? '' };
  }
}

export function requiresAuthentication(registry: ComponentRecord): boolean {
  const s = registry.config['authentication_secret'];
  return typeof s === 'string' && s !== '';
}

export function checkRegistrySecretSchema(registry: string, secretName: string, schema: string): void {
  if (schema === REGISTRY_AUTH_SCHEMA) return;
  throw new SchemaValidationError(
    REGISTRY_AUTH_SCHEMA,
    [
      {
        key: '',
        message: `the authentication secret '${secretName}' of container-registry '${registry}' has schema '${schema}', but it must be registered with schema '${REGISTRY_AUTH_SCHEMA}'`,
      },
    ],
    `Register it again: \`keystack secret delete ${secretName} -y && keystack secret register ${secretName} --schema=${REGISTRY_AUTH_SCHEMA} --username=USER --password=@FILE\`.`,
  );
}
