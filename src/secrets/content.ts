/**
 * A secret as every backend stores it: the values plus the name of its schema. Values travel as
 * strings; a value the backend holds as another JSON type (ZenML keeps pydantic's types, so a
 * boolean is stored as `true`; keystack stores a typed schema's fields the same way) has that type
 * recorded in `types`, so that writing it back keeps it.
 */
export interface StoredSecret {
  schema: string;
  values: Record<string, string>;
  /** JSON types of the values that are not JSON strings in the backend; absent when all are. */
  types?: Record<string, ValueType>;
}

/** JSON type of a stored value that is not a string (`json`: an object or array). */
export type ValueType = 'boolean' | 'number' | 'json';

export const ARBITRARY = 'arbitrary';

export function schemaKey(prefix: string): string {
  return `${prefix}_schema_name`;
}

/** The JSON value of `value` as `type`, or undefined when the string is not of that type. */
export function typedValue(value: string, type: ValueType): unknown {
  switch (type) {
    case 'boolean':
      return /^true$/i.test(value) ? true : /^false$/i.test(value) ? false : undefined;
    case 'number': {
      const n = value.trim() === '' ? NaN : Number(value);
      return Number.isFinite(n) ? n : undefined;
    }
    case 'json':
      try {
        const v: unknown = JSON.parse(value);
        return v !== null && typeof v === 'object' ? v : undefined;
      } catch {
        return undefined;
      }
  }
}

/** The JSON type of a non-string value; undefined for strings (and null, which is dropped). */
export function valueType(v: unknown): ValueType | undefined {
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return 'number';
  if (v !== null && typeof v === 'object') return 'json';
  return undefined;
}

/** The values with their JSON types: what `secret get --json` shows and the backends store. */
export function typedValues(secret: Pick<StoredSecret, 'values' | 'types'>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...secret.values };
  for (const [k, type] of Object.entries(secret.types ?? {})) {
    const v = secret.values[k];
    const typed = v === undefined ? undefined : typedValue(v, type);
    if (typed !== undefined) out[k] = typed;
  }
  return out;
}

/**
 * The types of `previous` that still fit the new values: an update of an arbitrary secret keeps
 * a ZenML-written boolean a boolean while its new value is still "true" or "false".
 */
export function keptTypes(
  previous: Readonly<Record<string, ValueType>> | undefined,
  values: Readonly<Record<string, string>>,
): Record<string, ValueType> | undefined {
  if (!previous) return undefined;
  const out: Record<string, ValueType> = {};
  for (const [k, type] of Object.entries(previous)) {
    const v = values[k];
    if (v !== undefined && typedValue(v, type) !== undefined) out[k] = type;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The backend payload: the typed values with the schema under the reserved key (ZenML's layout). */
export function toPayload(secret: StoredSecret, prefix: string): Record<string, unknown> {
  return { ...typedValues(secret), [schemaKey(prefix)]: secret.schema };
}

export function encodeContent(secret: StoredSecret, prefix: string): string {
  return JSON.stringify(toPayload(secret, prefix));
}

/**
 * Reads a payload written by keystack or by ZenML 0.30: string values as they are; booleans,
 * numbers, objects and arrays as their JSON text, with their type recorded; nulls dropped (ZenML
 * drops None values from a secret's content).
 */
export function fromPayload(payload: Record<string, unknown>, prefix: string): StoredSecret {
  const key = schemaKey(prefix);
  const values: Record<string, string> = {};
  const types: Record<string, ValueType> = {};
  let schema = ARBITRARY;
  for (const [k, v] of Object.entries(payload)) {
    if (k === key) {
      if (typeof v === 'string' && v !== '') schema = v;
      continue;
    }
    if (v === null || v === undefined) continue;
    if (typeof v === 'boolean' || typeof v === 'number') {
      values[k] = String(v);
      types[k] = typeof v === 'boolean' ? 'boolean' : 'number';
    } else if (typeof v === 'object') {
      values[k] = JSON.stringify(v);
      types[k] = 'json';
    } else if (typeof v === 'string') {
      values[k] = v;
    }
  }
  return Object.keys(types).length > 0 ? { schema, values, types } : { schema, values };
}

export function decodeContent(json: string, prefix: string): StoredSecret {
  const parsed: unknown = JSON.parse(json);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TypeError('secret payload is not a JSON object');
  }
  return fromPayload(parsed as Record<string, unknown>, prefix);
}

/** Bytes the payload takes in a backend, for size limits. */
export function payloadBytes(secret: StoredSecret, prefix: string): number {
  return Buffer.byteLength(encodeContent(secret, prefix), 'utf8');
}
