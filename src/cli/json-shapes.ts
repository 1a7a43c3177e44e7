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
import { pluginShape } from './commands/schema/register.js';
import { views } from './shapes.js';
import { tableCommands } from './table.js';

const { name, names, config, scope, managerView, planEntry, secretShapes, credentialSource } = views(z);

function group(prefix: string, shapes: Record<string, z.ZodType>): Record<string, z.ZodType> {
  return Object.fromEntries(Object.entries(shapes).map(([k, v]) => [`${prefix} ${k}`, v]));
}

/**
 * The shapes of the commands still wired by hand (see table.ts): the table's commands declare
 * their own, and `jsonShapes()` gives both.
 */
export const JSON_SHAPES: Readonly<Record<string, z.ZodType>> = {
  'secrets-manager register': managerView,
  'secrets-manager list': z.strictObject({ managers: z.array(managerView.extend({ active: z.boolean() })) }),
  'secrets-manager describe': managerView.extend({ stacks: names }),
  'secrets-manager update': managerView,
  'secrets-manager delete': managerView.extend({ deleted: z.literal(true) }),
  'secrets-manager backup': z.strictObject({
    manager: z.string(),
    store: z.string(),
    out: z.string(),
    secrets: z.number().int(),
    keySource: z.enum(['key-file', 'env-key', 'passphrase']),
    createdAt: z.string(),
  }),
  'secrets-manager restore': z.strictObject({
    manager: z.string(),
    store: z.string(),
    from: z.string(),
    secrets: z.number().int(),
    keyFile: z.string().nullable(),
    movedAside: names,
    createdAt: z.string(),
  }),
  'secrets-manager flavor list': z.strictObject({
    flavors: z.array(z.strictObject({ name, scoping: z.boolean(), source: z.string(), description: z.string() })),
  }),
  'secrets-manager flavor describe': z.strictObject({
    name,
    description: z.string(),
    supportsScoping: z.boolean(),
    local: z.boolean(),
    nameRule: z.strictObject({ pattern: z.string(), maxLength: z.number().int(), description: z.string() }),
    maxContentBytes: z.number().int(),
    maxSecrets: z.number().int().nullable(),
    readsValues: z.boolean(),
    note: z.string().nullable(),
    /** Optional npm packages the flavor loads, with the tested version range. */
    packages: z.array(z.strictObject({ name, range: z.string() })),
    fields: z.array(
      z.strictObject({
        name,
        type: z.string(),
        required: z.boolean(),
        default: z.union([z.string(), z.boolean(), z.number()]).nullable(),
        choices: names.nullable(),
        env: z.string().nullable(),
        sensitive: z.boolean(),
        /** Decides where secrets live (changing it needs --force while the manager holds secrets). */
        location: z.boolean(),
        description: z.string(),
      }),
    ),
  }),
  'secrets-manager flavor register': pluginShape(z),
  'secrets-manager flavor unregister': z.strictObject({
    module: z.string(),
    flavors: names,
    unregistered: z.literal(true),
  }),
  ...group('secrets-manager secret', secretShapes),
  ...group('secret', secretShapes),
  status: z.strictObject({
    configDir: z.string(),
    configDirFrom: z.enum(['KEYSTACK_CONFIG_DIR', 'XDG_CONFIG_HOME', 'default']),
    stack: z.strictObject({ name, id: z.string() }),
    components: z.array(z.strictObject({ type: z.string(), name, flavor: z.string(), id: z.string() })),
    secretsManager: z
      .strictObject({
        name,
        id: z.string(),
        flavor: z.string(),
        scope: z.unknown(),
        namespace: z.unknown(),
        scopePrefix: z.unknown(),
        where: z.string(),
        /** The location fields' values (config, their variable, or default); sensitive ones `***`. */
        location: config,
        /** Where each credential field's value comes from; never the value. */
        credentials: z.record(z.string(), credentialSource),
        /** Local flavor: where the store key comes from. */
        key: z
          .union([
            z.strictObject({
              source: z.enum(['env-key', 'passphrase']),
              variable: z.enum(['KEYSTACK_LOCAL_KEY', 'KEYSTACK_PASSPHRASE']),
            }),
            z.strictObject({ source: z.literal('key-file'), file: z.string() }),
          ])
          .nullable(),
      })
      .nullable(),
  }),
  completion: z.strictObject({ shell: z.enum(['bash', 'zsh', 'fish']), script: z.string() }),
  /** Printed after the command's own output, which passes through untouched. */
  run: z.strictObject({ exitCode: z.number().int() }),
  /** Without -o the rendered text (values included, by design); with -o the file written. */
  inject: z.union([
    z.strictObject({ text: z.string(), references: names }),
    z.strictObject({ output: z.string(), references: names }),
  ]),
  /** With -o the file written; without, the exported text itself (values, by design). */
  export: z.union([
    z.strictObject({ format: z.enum(['env', 'json', 'yaml', 'shell']), file: z.string(), secrets: names }),
    z.strictObject({ format: z.enum(['env', 'json', 'yaml', 'shell']), secrets: names, content: z.string() }),
  ]),
  import: z.strictObject({ manager: z.string(), scope, dryRun: z.boolean(), plan: z.array(planEntry), written: names }),
};

/** Every command's `--json` result, keyed by its command path (without `keystack`). */
export async function jsonShapes(): Promise<Readonly<Record<string, z.ZodType>>> {
  const defined = await tableCommands();
  return { ...JSON_SHAPES, ...Object.fromEntries(defined.map((d) => [d.path, d.shape(z)])) };
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
