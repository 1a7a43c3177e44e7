/**
 * Validation of a secrets manager's stored config: the core's scope fields plus the flavor's own
 * fields. CLI values arrive as strings; they are converted here, once, at registration, and the
 * validated config (defaults included) is what gets stored (ZenML re-derived it on every load).
 */
import { ConfigError } from '../errors.js';
import { validateSecretName } from '../secrets/names.js';
import { DEFAULT_SCOPE_PREFIX, isScope, SCOPES, type Scope } from '../secrets/scope.js';
import { isReference, referenceLookalike } from '../secrets/reference.js';
import type { ConfigField, ConfigFields, FlavorDefinition } from './types.js';

export interface ManagerSettings {
  scope: Scope;
  namespace?: string;
  scope_prefix: string;
}

const PREFIX_RULE = /^[a-z][a-z0-9_]{0,30}$/;

/** Validates the scope fields for a flavor. Returns them normalised. */
export function validateScopeSettings(
  flavor: FlavorDefinition<unknown>,
  raw: Record<string, unknown>,
): ManagerSettings {
  const scopeRaw = raw['scope'] ?? (flavor.supportsScoping ? 'component' : 'none');
  if (typeof scopeRaw !== 'string' || !isScope(scopeRaw)) {
    throw new ConfigError(`invalid scope ${JSON.stringify(scopeRaw)}`, { hint: `Use one of: ${SCOPES.join(', ')}.` });
  }
  const scope: Scope = scopeRaw;
  if (!flavor.supportsScoping && scope !== 'none') {
    throw new ConfigError(`the ${flavor.name} flavor does not support scoping; its scope can only be 'none'`, {
      hint: 'Leave out --scope, or pick a flavor that supports scoping (`keystack secrets-manager flavor list`).',
    });
  }
  const prefix = raw['scope_prefix'] ?? DEFAULT_SCOPE_PREFIX;
  if (typeof prefix !== 'string' || !PREFIX_RULE.test(prefix)) {
    throw new ConfigError(`invalid scope_prefix ${JSON.stringify(prefix)}`, {
      hint: 'Use a lowercase identifier of up to 31 characters, such as `keystack` or `zenml`.',
    });
  }
  const settings: ManagerSettings = { scope, scope_prefix: prefix };
  const ns = raw['namespace'];
  if (ns !== undefined && ns !== null && ns !== '') {
    if (typeof ns !== 'string') throw new ConfigError('namespace must be a string');
    validateSecretName(ns, flavor.nameRule, 'namespace');
    settings.namespace = ns;
  }
  if (scope === 'namespace' && settings.namespace === undefined) {
    throw new ConfigError('a namespace-scoped secrets manager needs a namespace', {
      hint: 'Pass --namespace=NAME; managers with the same namespace share their secrets.',
    });
  }
  return settings;
}

const CORE_FIELDS = new Set(['scope', 'namespace', 'scope_prefix']);

/** Validates and converts a flavor's own fields; unknown keys are errors. */
export function validateFlavorFields(
  flavorName: string,
  fields: ConfigFields,
  raw: Record<string, unknown>,
  options: { forbidReferences?: boolean } = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (CORE_FIELDS.has(key) || value === undefined) continue;
    const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (!field) {
      const known = Object.keys(fields);
      throw new ConfigError(`the ${flavorName} flavor has no config field '${key}'`, {
        hint: known.length ? `Its fields are: ${known.join(', ')}.` : 'It takes no config fields.',
      });
    }
    const lookalike = options.forbidReferences ? referenceLookalike(value) : null;
    if (lookalike) {
      throw new ConfigError(
        `config field '${key}' of the ${flavorName} flavor looks like a secret reference but is not one: ${lookalike}`,
        {
          hint: "A secrets manager's config cannot use references anyway; give the real value.",
        },
      );
    }
    if (options.forbidReferences && typeof value === 'string' && isReference(value)) {
      throw new ConfigError(`a secrets manager's config cannot use a secret reference (field '${key}')`, {
        hint: field.env
          ? `Give the real value, or leave it out and set the environment variable ${field.env}.`
          : 'Give the real value.',
      });
    }
    out[key] = convert(flavorName, key, field, value);
  }
  for (const [key, field] of Object.entries(fields)) {
    if (out[key] === undefined && field.default !== undefined) out[key] = field.default;
  }
  return out;
}

/** Fills fields from their environment variables and checks required ones; at use, not at registration. */
export function resolveFlavorFields(
  flavorName: string,
  fields: ConfigFields,
  stored: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...stored };
  for (const [key, field] of Object.entries(fields)) {
    if (out[key] === undefined && field.env && env[field.env] !== undefined && env[field.env] !== '') {
      out[key] = convert(flavorName, key, field, env[field.env]);
    }
  }
  checkRequired(flavorName, fields, out);
  return out;
}

export function checkRequired(flavorName: string, fields: ConfigFields, config: Record<string, unknown>): void {
  for (const [key, field] of Object.entries(fields)) {
    if (field.required && config[key] === undefined) {
      const from = field.env ? `, or set the environment variable ${field.env}` : '';
      throw new ConfigError(`the ${flavorName} flavor needs the config field '${key}'`, {
        hint: `Pass --${key}=VALUE when registering the manager${from}.`,
      });
    }
  }
}

function convert(flavorName: string, key: string, field: ConfigField, value: unknown): unknown {
  const bad = (expected: string) =>
    new ConfigError(`config field '${key}' of the ${flavorName} flavor must be ${expected}`);
  switch (field.type) {
    case 'string': {
      if (typeof value !== 'string') throw bad('a string');
      if (field.choices && !field.choices.includes(value)) throw bad(`one of: ${field.choices.join(', ')}`);
      return value;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      throw bad('true or false');
    }
    case 'integer': {
      const n =
        typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isInteger(n)) throw bad('an integer');
      return n;
    }
  }
}
