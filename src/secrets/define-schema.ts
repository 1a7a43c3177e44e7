/**
 * What a secret schema is, and how one is declared: apart from schema.ts so that the built-in
 * schemas (loaded lazily by schema.ts, since importing zod costs ~55 ms) can declare theirs
 * without importing the module that loads them.
 */
import type * as z from 'zod';

export interface SecretSchema<T = Record<string, string>> {
  readonly kind: 'keystack.schema';
  readonly name: string;
  readonly description: string;
  /** The zod object for typed schemas; null for `arbitrary` (any keys, string values). */
  readonly object: z.ZodObject | null;
  /** Phantom field carrying the parsed type; never set at run time. */
  readonly __type?: T;
}

export type SchemaOutput<S> = S extends SecretSchema<infer T> ? T : never;

/**
 * Declares a typed schema. Use `.strict()` semantics are applied for you: keys the schema does
 * not declare are rejected.
 *
 * @example
 * import { z } from 'zod';
 * export const wandb = defineSchema('wandb', z.object({ api_key: z.string(), entity: z.string().optional() }));
 */
export function defineSchema<S extends z.ZodObject>(
  name: string,
  object: S,
  options: { description?: string } = {},
): SecretSchema<z.output<S>> {
  return { kind: 'keystack.schema', name, description: options.description ?? object.description ?? '', object };
}
