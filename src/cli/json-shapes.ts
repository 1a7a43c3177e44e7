/**
 * The `--json` output of every command, in one place: one zod schema per command path (`secret
 * register`, `stack list`, …). test/cli/json-shapes.test.ts runs every command of the tree with
 * `--json` and checks its output against the shape here, and fails for a command that has none;
 * docs/cli.md is generated from these shapes (`npm run docs:cli`).
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
import { views } from './shapes.js';
import { repeatedPaths, tableCommands } from './table.js';

const {
  name,
  names,
  scope,
  stackView,
  run,
  runWithSteps,
  componentShapes,
} = views(z);

function group(prefix: string, shapes: Record<string, z.ZodType>): Record<string, z.ZodType> {
  return Object.fromEntries(Object.entries(shapes).map(([k, v]) => [`${prefix} ${k}`, v]));
}

/**
 * The shapes of the commands still wired by hand (see table.ts): the table's commands declare
 * their own, and `jsonShapes()` gives both.
 */
export const JSON_SHAPES: Readonly<Record<string, z.ZodType>> = {
  'stack register': stackView,
  'stack set': stackView,
  'stack list': z.strictObject({ stacks: z.array(stackView.extend({ active: z.boolean() })) }),
  'stack describe': stackView.extend({ active: z.boolean() }),
  'stack update': stackView,
  'stack remove-component': stackView,
  'stack delete': z.strictObject({ name, deleted: z.literal(true) }),
  'stack validate': z.strictObject({
    stack: z.string(),
    valid: z.literal(true),
    level: z.enum(['NONE', 'SECRET_EXISTS', 'SECRET_AND_KEY_EXISTS']),
    references: names,
  }),
  'stack register-secrets': z.strictObject({
    stack: z.string(),
    manager: z.string().nullable(),
    scope: scope.nullable(),
    registered: names,
    updated: names,
    unchanged: names,
  }),
  ...group('orchestrator', componentShapes),
  ...group('artifact-store', componentShapes),
  ...group('container-registry', componentShapes),
  ...group('step-operator', componentShapes),
  'pipeline run': runWithSteps,
  'pipeline runs list': z.strictObject({ runs: z.array(run) }),
  'pipeline runs describe': runWithSteps,
  // Prints its result when it stops (SIGTERM, SIGINT).
  worker: z.strictObject({ worker: z.string(), steps: z.number(), stoppedBy: z.string() }),
};

/** Every command's `--json` result, keyed by its command path (without `keystack`). */
export async function jsonShapes(): Promise<Readonly<Record<string, z.ZodType>>> {
  const defined = await tableCommands();
  const shapes = { ...JSON_SHAPES, ...Object.fromEntries(defined.map((d) => [d.path, d.shape(z)])) };
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
