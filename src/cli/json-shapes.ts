/**
 * The `--json` output of every command: one zod schema per command path (`secret register`,
 * `stack list`, …), built from each definition's `shape`. test/cli/json-shapes.test.ts runs every
 * command of the tree with `--json` and checks its output against its shape, and fails for a
 * command that has none; docs/cli.md is generated from these shapes (`npm run docs:cli`).
 *
 * The rules every shape follows (the test checks the first three):
 * - the output is an object; a list is an object with a named array (`{ "stacks": [...] }`);
 * - keys keystack defines are camelCase; keys that are names from data keep their own spelling
 *   (config field names such as `scope_prefix`, secret keys, schema keys);
 * - a command that changes secrets reports the `manager` and `scope` it changed;
 * - values keep their JSON types (a boolean default is `false`, not `"false"`).
 *
 * The CLI never imports this module (zod is kept off its start-up path); only tests and the docs
 * generator do.
 */
import { z } from 'zod';
import { repeatedPaths, tableCommands } from './table.js';

/** Every command's `--json` result, keyed by its command path (without `keystack`). */
export async function jsonShapes(): Promise<Readonly<Record<string, z.ZodType>>> {
  const defined = await tableCommands();
  const shapes: Record<string, z.ZodType> = Object.fromEntries(defined.map((d) => [d.path, d.shape(z)]));
  for (const [alias, path] of await repeatedPaths()) if (shapes[path]) shapes[alias] = shapes[path];
  return shapes;
}

/**
 * Commands merged into main on 2026-12-01 before they had a shape here. Each is reported as
 * skipped by test/cli/json-shapes.test.ts and marked in docs/cli.md until it gets a shape (and a
 * run in that test) and leaves this list. Some need their keys converted to camelCase first
 * (`status`: config_dir, secrets_manager; `secret describe`: created_at, updated_at).
 */
export const JSON_SHAPES_PENDING: Readonly<Record<string, string>> = {};

/** What every command prints on stdout with `--json` when it fails (exit 1 or 2). */
export const JSON_ERROR_SHAPE = z.strictObject({
  error: z.looseObject({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    /** For schema validation errors: which keys were wrong (never their values). */
    issues: z.array(z.unknown()).optional(),
  }),
});

/** A shape as compact TypeScript-like text, for docs/cli.md. */
export function shapeText(shape: z.ZodType): string {
  return render(z.toJSONSchema(shape, { unrepresentable: 'any' }) as JsonSchema, 0);
}

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
}

function render(s: JsonSchema, depth: number): string {
  const pad = '  '.repeat(depth + 1);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return alternatives.map((a) => render(a, depth)).join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  if (types.length > 1) return types.map((t) => render({ ...s, type: t }, depth)).join(' | ');
  switch (types[0]) {
    case 'object': {
      const props = Object.entries(s.properties ?? {});
      if (props.length === 0) {
        const values = typeof s.additionalProperties === 'object' ? render(s.additionalProperties, depth) : 'unknown';
        return `{ [key: string]: ${values} }`;
      }
      const required = new Set(s.required ?? []);
      const lines = props.map(([k, v]) => `${pad}${k}${required.has(k) ? '' : '?'}: ${render(v, depth + 1)};`);
      return `{\n${lines.join('\n')}\n${'  '.repeat(depth)}}`;
    }
    case 'array': {
      const item = s.items ? render(s.items, depth) : 'unknown';
      return item.includes(' | ') ? `(${item})[]` : `${item}[]`;
    }
    case 'integer':
      return 'number';
    case undefined:
      return 'unknown';
    default:
      return types[0];
  }
}
