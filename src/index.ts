/** keystack's library API. */
export { Keystack, type KeystackOptions, type RegisterManagerInput } from './stack/client.js';
export { SecretsManager, type Secret, type TypedSecret, type ManagerRecord } from './flavors/manager.js';
export { defineFlavor, type FlavorDefinition, type FlavorContext, type SecretsBackend, type ConfigField, type ConfigFields, type FlavorCapabilities } from './flavors/types.js';
export { importLib, backendFailure, withRetry, scrubError } from './flavors/support.js';
export { defineSchema, arbitrarySchema, schemaFields, coerceValues, type SecretSchema, type SchemaOutput, type FieldInfo } from './secrets/schema.js';
export { type StoredSecret, encodeContent, decodeContent, toPayload, fromPayload, schemaKey } from './secrets/content.js';
export * from './secrets/errors.js';
export { type NameRule, validateSecretName, validateSecretKey } from './secrets/names.js';
export { SCOPES, type Scope, type ScopeContext, scopePath, scopedName, scopedPrefix, unscopedName, scopeMetadata, secretMetadata } from './secrets/scope.js';
export { isReference, parseReference, formatReference, collectReferences, type SecretReference } from './secrets/reference.js';
export { COMPONENT_TYPES, type ComponentType, type ComponentRecord, type StackRecord } from './stack/config-store.js';
export { awsSchema, gcpSchema, azureSchema, basicAuthSchema, mysqlSchema, BUILTIN_SCHEMAS } from './secrets/builtin-schemas.js';
export { default as localFlavor, type LocalFlavorOptions } from './flavors/local.js';
