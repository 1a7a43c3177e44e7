/** A secret as every backend stores it: string values plus the name of its schema. */
export interface StoredSecret {
  schema: string;
  values: Record<string, string>;
}

export const ARBITRARY = 'arbitrary';

export function schemaKey(prefix: string): string {
  return `${prefix}_schema_name`;
}

/** The backend payload: the values with the schema under the reserved key (ZenML's layout). */
export function toPayload(secret: StoredSecret, prefix: string): Record<string, string> {
  return { ...secret.values, [schemaKey(prefix)]: secret.schema };
}

export function encodeContent(secret: StoredSecret, prefix: string): string {
  return JSON.stringify(toPayload(secret, prefix));
}

/**
 * Reads a payload written by keystack or by ZenML 0.30. Non-string values (ZenML wrote Python
 * `str()` of typed fields; hand-made secrets may hold numbers) are kept as their string form.
 */
export function fromPayload(payload: Record<string, unknown>, prefix: string): StoredSecret {
  const key = schemaKey(prefix);
  const values: Record<string, string> = {};
  let schema = ARBITRARY;
  for (const [k, v] of Object.entries(payload)) {
    if (k === key) {
      if (typeof v === 'string' && v !== '') schema = v;
      continue;
    }
    if (v === null || v === undefined) continue;
    values[k] = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return { schema, values };
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
