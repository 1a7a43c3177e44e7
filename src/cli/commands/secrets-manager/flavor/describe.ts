/**
 * Every config field a secrets-manager flavor takes (type, default, environment variable, whether
 * it is sensitive or decides where secrets live), its name rules, size limit and the optional SDK
 * packages it loads. (The other component types have theirs in component.ts.)
 */
import type { ConfigField, FlavorDefinition } from '../../../../core/types.js';
import { DEFAULT_SCOPE_PREFIX, SCOPES } from '../../../../secrets/scope.js';
import type { CommandContext } from '../../../context.js';
import { defineCommand, type CommandInput } from '../../../define.js';
import { paragraph, table } from '../../../output.js';

export default defineCommand({
  path: 'secrets-manager flavor describe',
  description: "show a flavor's config fields (type, default, env var, sensitive, location), name rules and size limit",
  arguments: [{ spec: '<flavor>', complete: 'manager-flavor' }],
  examples: ['keystack secrets-manager flavor describe vault', 'keystack secrets-manager flavor describe aws --json'],
  shape: (z) => {
    const names = z.array(z.string());
    return z.strictObject({
      name: z.string(),
      description: z.string(),
      supportsScoping: z.boolean(),
      local: z.boolean(),
      nameRule: z.strictObject({ pattern: z.string(), maxLength: z.number().int(), description: z.string() }),
      maxContentBytes: z.number().int(),
      maxSecrets: z.number().int().nullable(),
      readsValues: z.boolean(),
      note: z.string().nullable(),
      /** Optional npm packages the flavor loads, with the tested version range. */
      packages: z.array(z.strictObject({ name: z.string(), range: z.string() })),
      fields: z.array(
        z.strictObject({
          name: z.string(),
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
    });
  },
  run: async (ctx, { args }: CommandInput) => describeFlavor(ctx, args['flavor'] ?? ''),
});

interface FieldView {
  name: string;
  type: string;
  required: boolean;
  default: string | number | boolean | null;
  choices: string[] | null;
  env: string | null;
  sensitive: boolean;
  location: boolean;
  description: string;
}

async function describeFlavor(ctx: CommandContext, name: string) {
  const flavor = await ctx.keystack().flavors.get(name);
  const location = new Set(flavor.locationFields ?? Object.keys(flavor.config));
  const own = Object.entries(flavor.config).map(([name, f]) => fieldView(name, f, location.has(name)));
  const fields = [...coreFields(flavor), ...own];
  const rule = flavor.nameRule;
  const data = {
    name: flavor.name,
    description: flavor.description,
    supportsScoping: flavor.supportsScoping,
    local: flavor.isLocal,
    nameRule: { pattern: rule.pattern.source, maxLength: rule.maxLength, description: rule.description },
    maxContentBytes: flavor.maxContentBytes,
    maxSecrets: flavor.capabilities.maxSecrets ?? null,
    readsValues: flavor.capabilities.readValues,
    note: flavor.capabilities.note ?? null,
    packages: Object.entries(flavor.dependencies).map(([name, range]) => ({ name, range })),
    fields,
  };
  const head = [
    `Flavor '${flavor.name}' (secrets manager): ${flavor.description}`,
    `Scoping: ${flavor.supportsScoping ? `yes (scopes ${SCOPES.join(', ')}; default component)` : 'no (scope none only)'}. ${flavor.isLocal ? 'Only on this machine (remote orchestrators refuse it).' : 'Reachable from other machines.'}`,
    `Secret names: ${rule.description}, at most ${rule.maxLength} characters. Largest secret: ${flavor.maxContentBytes.toLocaleString('en-US')} bytes of stored JSON.${flavor.capabilities.maxSecrets ? ` At most ${flavor.capabilities.maxSecrets} secrets per backend domain.` : ''}`,
    ...(flavor.capabilities.note ? [`Note: ${flavor.capabilities.note}.`] : []),
    `Packages: ${data.packages.map((p) => `${p.name}@${p.range}`).join(', ') || 'none (built in)'}${data.packages.length ? ' (optional; install them to use this flavor)' : ''}.`,
  ];
  return {
    data,
    text: `${paragraph(head.join('\n'))}\n\n${fieldsTable(fields)}\n\n${paragraph(`Set fields with: keystack secrets-manager register NAME --flavor=${flavor.name} --FIELD=VALUE ...`)}`,
  };
}

// --- Internal helpers ---

/** The fields the core adds to every secrets manager. */
function coreFields(flavor: FlavorDefinition<unknown>): FieldView[] {
  const common = { required: false, env: null, sensitive: false, location: true };
  return [
    {
      ...common,
      name: 'scope',
      type: 'string',
      default: flavor.supportsScoping ? 'component' : 'none',
      choices: flavor.supportsScoping ? [...SCOPES] : ['none'],
      description: 'how names map into the backend (set with --scope)',
    },
    {
      ...common,
      name: 'namespace',
      type: 'string',
      default: null,
      choices: null,
      description: 'shared namespace, for scope namespace (set with --namespace)',
    },
    {
      ...common,
      name: 'scope_prefix',
      type: 'string',
      default: DEFAULT_SCOPE_PREFIX,
      choices: null,
      description: 'first part of scoped backend names (zenml reads ZenML 0.30 secrets)',
    },
  ];
}

function fieldView(name: string, f: ConfigField, location: boolean): FieldView {
  return {
    name,
    type: f.type,
    required: f.required ?? false,
    default: f.default ?? null,
    choices: f.choices ? [...f.choices] : null,
    env: f.env ?? null,
    sensitive: f.sensitive ?? false,
    location,
    description: f.description,
  };
}

/** Like the other component types' `flavor describe`, with ENV, and REQUIRED folded into NOTES to fit a terminal. */
function fieldsTable(fields: readonly FieldView[]): string {
  const notes = (f: FieldView) =>
    [f.required ? 'required' : '', f.sensitive ? 'sensitive' : '', f.location ? 'location' : '']
      .filter(Boolean)
      .join(', ');
  return table(
    ['FIELD', 'TYPE', 'DEFAULT', 'ENV', 'NOTES', 'DESCRIPTION'],
    fields.map((f) => [
      f.name,
      f.choices ? `${f.type} (${f.choices.join('|')})` : f.type,
      f.default === null ? '' : String(f.default),
      f.env ?? '',
      notes(f),
      f.description,
    ]),
  );
}
