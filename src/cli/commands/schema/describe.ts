import { table } from '../../output.js';
import { defineCommand, type CommandInput } from '../../define.js';

export default defineCommand({
  path: 'schema describe',
  description: "show a schema's keys and types",
  arguments: [{ spec: '<name>', complete: 'schema' }],
  examples: ['keystack schema describe aws'],
  shape: (z) =>
    z.strictObject({
      name: z.string(),
      description: z.string(),
      fields: z.array(
        z.strictObject({
          key: z.string(),
          type: z.enum(['string', 'boolean', 'number', 'literal', 'enum', 'other']),
          required: z.boolean(),
          default: z.unknown().optional(),
          choices: z.array(z.string()).optional(),
          description: z.string().optional(),
        }),
      ),
    }),
  run: async (ctx, { args }: CommandInput) => {
    const { schemaFields } = await import('../../../secrets/schema.js');
    const schema = await ctx.keystack().schema(args['name'] ?? '');
    const fields = schemaFields(schema);
    const text = fields.length
      ? table(
          ['KEY', 'TYPE', 'REQUIRED', 'DEFAULT', 'DESCRIPTION'],
          fields.map((f) => [
            f.key,
            f.choices ? `${f.type} (${f.choices.join('|')})` : f.type,
            f.required ? 'yes' : 'no',
            f.default ?? '',
            f.description ?? '',
          ]),
        )
      : `Schema '${schema.name}' takes any keys; every value is a string.`;
    // `default` keeps its JSON type in --json (`false`, not `"false"`); the table shows the text.
    const typed = fields.map(({ defaultValue, ...f }) =>
      defaultValue === undefined ? f : { ...f, default: defaultValue },
    );
    return { data: { name: schema.name, description: schema.description, fields: typed }, text };
  },
});
