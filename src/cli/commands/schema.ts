/** `keystack schema …`: the built-in and user-registered secret schemas. */
import { schemaFields } from '../../secrets/schema.js';
import { table } from '../output.js';
import type { CommandContext, CommandResult } from '../context.js';

export async function schemaList(ctx: CommandContext): Promise<CommandResult> {
  const schemas = await ctx.keystack().schemas.list();
  // A module that was refused (or no longer loads) takes its schemas with it: say so here too.
  for (const b of await ctx.keystack().pluginFailures()) {
    const reason = (b.error instanceof Error ? b.error.message : String(b.error)).split('\n', 1)[0] ?? '';
    ctx.out.warn(`registered module ${b.module} failed to load, so its schemas are missing: ${reason}.`);
  }
  const items = schemas.map((s) => ({ name: s.name, description: s.description, keys: schemaFields(s).map((f) => f.key) }));
  return {
    data: { schemas: items },
    text: table(['SCHEMA', 'KEYS', 'DESCRIPTION'], items.map((i) => [i.name, i.keys.join(', ') || '(any)', i.description])),
  };
}

export async function schemaDescribe(ctx: CommandContext, o: { name: string }): Promise<CommandResult> {
  const schema = await ctx.keystack().schema(o.name);
  const fields = schemaFields(schema);
  const text = fields.length
    ? table(['KEY', 'TYPE', 'REQUIRED', 'DEFAULT', 'DESCRIPTION'], fields.map((f) => [f.key, f.choices ? `${f.type} (${f.choices.join('|')})` : f.type, f.required ? 'yes' : 'no', f.default ?? '', f.description ?? '']))
    : `Schema '${schema.name}' takes any keys; every value is a string.`;
  // `default` keeps its JSON type in --json (`false`, not `"false"`); the table shows the text.
  const typed = fields.map(({ defaultValue, ...f }) => (defaultValue === undefined ? f : { ...f, default: defaultValue }));
  return { data: { name: schema.name, description: schema.description, fields: typed }, text };
}

export async function schemaRegister(ctx: CommandContext, o: { module: string }): Promise<CommandResult> {
  const exported = await ctx.keystack().registerPlugin(o.module, ctx.cwd);
  const schemas = exported.schemas.map((s) => s.name);
  return {
    data: { module: exported.module, schemas, flavors: exported.flavors.map((f) => f.name) },
    text: `Registered ${exported.module}: schemas ${schemas.join(', ') || '(none)'}.`,
  };
}
