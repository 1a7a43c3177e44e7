/**
 * Secret schemas: a name plus a zod object describing the keys. Values travel as strings (CLI
 * input is strings), so a typed schema converts strings into its types on the way in and on the
 * way out; the backends store a typed field with its JSON type, as ZenML does, and reads accept
 * either form. zod is only imported as a type here: the CLI's hot path (`secret get`) must not pay
 * for loading it.
 */
import { SchemaValidationError, type ValidationIssue } from '../errors.js';
import { ARBITRARY, valueType, type ValueType } from './content.js';

export { defineSchema, type SchemaOutput, type SecretSchema } from './define-schema.js';
import type { SecretSchema } from './define-schema.js';

export const arbitrarySchema: SecretSchema = {
  kind: 'keystack.schema',
  name: ARBITRARY,
  description: 'Any keys; every value is a string (the default).',
  object: null,
};

export function isSecretSchema(x: unknown): x is SecretSchema<unknown> {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'keystack.schema';
}

export type FieldType = 'string' | 'boolean' | 'number' | 'literal' | 'enum' | 'other';

export interface FieldInfo {
  key: string;
  type: FieldType;
  required: boolean;
  /** The default as text (for prompts and tables), when the field has one. */
  default?: string;
  /** The same default with its JSON type (`false`, `3600`), as it is stored. */
  defaultValue?: unknown;
  /** For literal and enum fields. */
  choices?: string[];
  description?: string;
}

interface ZodDefLike {
  type: string;
  innerType?: ZodLike;
  defaultValue?: unknown;
  values?: unknown[];
  entries?: Record<string, unknown>;
  in?: ZodLike;
}
interface ZodLike {
  _zod: { def: ZodDefLike };
  description?: string;
}

/** The fields of a typed schema, in declaration order. Empty for `arbitrary`. */
export function schemaFields(schema: SecretSchema<unknown>): FieldInfo[] {
  if (!schema.object) return [];
  return Object.entries(schema.object.shape).map(([key, field]) => describeField(key, field as unknown as ZodLike));
}

function describeField(key: string, field: ZodLike): FieldInfo {
  let node = field;
  let required = true;
  let def: unknown;
  const description = field.description;
  for (;;) {
    const d = node._zod.def;
    if (d.type === 'optional' || d.type === 'default' || d.type === 'prefault' || d.type === 'nullable') {
      if (d.type !== 'nullable') required = false;
      if ((d.type === 'default' || d.type === 'prefault') && def === undefined) {
        def = typeof d.defaultValue === 'function' ? (d.defaultValue as () => unknown)() : d.defaultValue;
      }
      if (!d.innerType) break;
      node = d.innerType;
      continue;
    }
    if (d.type === 'pipe' && d.in) {
      node = d.in;
      continue;
    }
    break;
  }
  const d = node._zod.def;
  const info: FieldInfo = { key, type: fieldType(d.type), required };
  if (def !== undefined) {
    info.default = stringify(def);
    info.defaultValue = def;
  }
  if (d.type === 'literal' && d.values) info.choices = d.values.map(String);
  if (d.type === 'enum' && d.entries) info.choices = Object.values(d.entries).map(String);
  if (description) info.description = description;
  return info;
}

function fieldType(t: string): FieldType {
  return t === 'string' || t === 'boolean' || t === 'number' || t === 'literal' || t === 'enum' ? t : 'other';
}

const TRUE = /^true$/i;
const FALSE = /^false$/i;

/**
 * Converts string values into a schema's types, validates them, and returns the typed data, the
 * normalised strings (defaults filled in) and the JSON type of every value that is not a string
 * (`types`, left out when there is none), which is how the value is stored. Errors name the field
 * and the expected type, never the value.
 */
export function coerceValues<T>(
  schema: SecretSchema<T>,
  raw: Readonly<Record<string, string>>,
): { data: T; values: Record<string, string>; types?: Record<string, ValueType> } {
  if (!schema.object) return { data: { ...raw } as T, values: { ...raw } };
  const fields = new Map(schemaFields(schema).map((f) => [f.key, f]));
  const issues: ValidationIssue[] = [];
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const field = fields.get(key);
    if (!field) {
      issues.push({ key, message: `not a field of this schema (fields: ${[...fields.keys()].join(', ')})` });
      continue;
    }
    if (field.type === 'boolean') {
      if (TRUE.test(value)) input[key] = true;
      else if (FALSE.test(value)) input[key] = false;
      else issues.push({ key, message: 'expected a boolean ("true" or "false")' });
    } else if (field.type === 'number') {
      const n = value.trim() === '' ? NaN : Number(value);
      if (Number.isFinite(n)) input[key] = n;
      else issues.push({ key, message: 'expected a number' });
    } else {
      input[key] = value;
    }
  }
  for (const f of fields.values()) {
    if (f.required && !Object.hasOwn(raw, f.key)) issues.push({ key: f.key, message: 'required field is missing' });
  }
  if (issues.length > 0) throw new SchemaValidationError(schema.name, issues);

  const result = schema.object.safeParse(input);
  if (!result.success) {
    throw new SchemaValidationError(
      schema.name,
      // zod leaves the input out of issues unless `reportInput` is set, so these carry no value.
      result.error.issues.map((i) => ({ key: i.path.map(String).join('.'), message: i.message })),
    );
  }
  const data = result.data;
  const values: Record<string, string> = {};
  const types: Record<string, ValueType> = {};
  for (const [k, v] of Object.entries(data)) {
    if (v === undefined || v === null) continue;
    values[k] = stringify(v);
    const type = valueType(v);
    if (type) types[k] = type;
  }
  return Object.keys(types).length > 0 ? { data: data as T, values, types } : { data: data as T, values };
}

function stringify(v: unknown): string {
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects took the JSON branch; what is left (numbers, booleans, bigints, functions from a custom schema) prints as String() does
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Looks schemas up by name: the built-ins plus whatever the user registered. */
export interface SchemaRegistry {
  get(name: string): Promise<SecretSchema<unknown> | undefined>;
  list(): Promise<SecretSchema<unknown>[]>;
}

/** The built-in schemas, loaded on first use so that zod stays off the start-up path. */
export async function builtinSchemas(): Promise<SecretSchema<unknown>[]> {
  const mod = await import('./builtin-schemas.js');
  return [arbitrarySchema, ...mod.BUILTIN_SCHEMAS];
}

export function createSchemaRegistry(
  extra: () => Promise<readonly SecretSchema<unknown>[]> = async () => [],
): SchemaRegistry {
  let all: Promise<Map<string, SecretSchema<unknown>>> | undefined;
  const load = () =>
    (all ??= (async () => {
      const map = new Map<string, SecretSchema<unknown>>();
      for (const s of await builtinSchemas()) map.set(s.name, s);
      for (const s of await extra()) map.set(s.name, s);
      return map;
    })());
  return {
    async get(name) {
      if (name === ARBITRARY) return arbitrarySchema;
      return (await load()).get(name);
    },
    async list() {
      return [...(await load()).values()];
    },
  };
}
