/** keystack's library API. */
// The zod keystack's schemas are made with: apps that define typed schemas need no zod of their own,
// and no second copy whose schemas keystack would not recognise.
export { z } from 'zod';
export { Keystack, type KeystackOptions, type RegisterManagerInput } from './stack/client.js';
export {
  SecretsManager,
  type Secret,
  type TypedSecret,
  type ManagerRecord,
  type WriteOptions,
} from './core/manager.js';
export {
  defineFlavor,
  type FlavorDefinition,
  type FlavorContext,
  type SecretsBackend,
  type ConfigField,
  type ConfigFields,
  type FlavorCapabilities,
  type ConnectedFlavor,
  type Connection,
  type BackendVersion,
  type StoredVersion,
} from './core/types.js';
export type { AccessRecord, AccessOutcome } from './core/provenance.js';
export type {
  Provenance,
  AccessEntry,
  UsedByQuery,
  AuditQuery,
  ValueMatches,
} from './stack/provenance-store.js';
export { importLib } from './support/optional-import.js';
export { backendFailure, scrubError } from './support/scrub.js';
export {
  createCaller,
  callLimits,
  retryAfterMs,
  type Caller,
  type CallLimits,
  type FailureClassifier,
} from './support/caller.js';
export {
  defineSchema,
  arbitrarySchema,
  schemaFields,
  coerceValues,
  type SecretSchema,
  type SchemaOutput,
  type FieldInfo,
} from './secrets/schema.js';
export {
  type StoredSecret,
  type ValueType,
  encodeContent,
  decodeContent,
  toPayload,
  fromPayload,
  typedValues,
  schemaKey,
} from './secrets/content.js';
export * from './errors.js';
export { type NameRule, validateSecretName, validateSecretKey } from './secrets/names.js';
export {
  SCOPES,
  type Scope,
  type ScopeContext,
  scopePath,
  scopedName,
  scopedPrefix,
  unscopedName,
  scopeMetadata,
  secretMetadata,
  backendNames,
  looksScoped,
  type BackendNames,
} from './secrets/scope.js';
export {
  isReference,
  parseReference,
  formatReference,
  collectReferences,
  type SecretReference,
} from './secrets/reference.js';
export {
  COMPONENT_TYPES,
  SINGLE_COMPONENT_TYPES,
  type ComponentType,
  type SingleComponentType,
  type ComponentRecord,
  type StackRecord,
} from './stack/config-store.js';
export {
  awsSchema,
  gcpSchema,
  azureSchema,
  basicAuthSchema,
  mysqlSchema,
  BUILTIN_SCHEMAS,
} from './secrets/builtin-schemas.js';
export { default as localFlavor, type LocalFlavorOptions } from './flavors/local/index.js';
export {
  COMPONENT_FLAVORS,
  REGISTRY_AUTH_SCHEMA,
  componentFlavor,
  componentFlavors,
  validateComponentConfig,
  type ComponentFlavor,
  type ComponentField,
  type StackComponentType,
} from './stack/components.js';
export { registerComponent, updateComponent, deleteComponent, type ComponentChange } from './stack/component-ops.js';
export {
  ReferenceResolver,
  SecretReferenceError,
  type ReferenceSite,
  type ReferenceProblem,
} from './stack/references.js';
export {
  StackRuntime,
  ResolvedComponent,
  type RegistryCredentials,
  type StackRuntimeOptions,
} from './stack/runtime.js';
export {
  validateStack,
  validateRuntime,
  validatePipeline,
  assertValid,
  assertStackValid,
  validationLevelFrom,
  VALIDATION_LEVELS,
  VALIDATION_LEVEL_ENV,
  type ValidationLevel,
  type ValidationReport,
  type MissingReference,
  type PipelineSteps,
} from './stack/validation.js';
export * from './pipeline/index.js';
export {
  resolveReferences,
  assertResolved,
  MissingSecretsError,
  envName,
  resolveEnv,
  readEnvFile,
  inject,
  templateReferences,
  type SecretRequest,
  type MissingSecret,
  type ResolvedReferences,
  type EnvSpec,
  type ResolvedEnv,
  type Injected,
} from './process/env.js';
export {
  exportSecrets,
  importSecrets,
  copySecrets,
  CONFLICT_POLICIES,
  InvalidInputError,
  ConflictingSecretsError,
  TransferError,
  type ConflictPolicy,
  type PlanAction,
  type PlanEntry,
  type KeyDiff,
  type ExportOptions,
  type ExportResult,
  type ImportOptions,
  type CopyOptions,
  type TransferReport,
  type CopyReport,
} from './transfer/transfer.js';
export {
  encodeSecrets,
  decodeSecrets,
  EXPORT_FORMATS,
  IMPORT_FORMATS,
  SCHEMA_FIELD,
  type ExportFormat,
  type ImportFormat,
  type PortableSecret,
  type EncodeOptions,
  type DecodeOptions,
} from './transfer/formats.js';
