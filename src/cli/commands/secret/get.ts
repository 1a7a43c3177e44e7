import { NotFoundError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { listText, table } from '../../output.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret get',
  description: 'print a secret as a table of keys and values, or one raw value with --key',
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: [{ flags: '-k, --key <key>', description: 'print only this raw value (for scripts)' }, ...managerOptions],
  examples: ['keystack secret get db', 'keystack secret get db --key password   # the raw value, for scripts'],
  shape: (z) => views(z).secretShapes.get,
  run: async (ctx, { args, opts }: CommandInput<{ key?: string; manager?: string; stack?: string }>) => {
    const { typedValues } = await import('../../../secrets/content.js');
    const name = args['name'] ?? '';
    const manager = await selectManager(ctx, choice(opts));
    const secret = await manager.get(name);
    if (opts.key !== undefined) {
      const value = Object.hasOwn(secret.values, opts.key) ? secret.values[opts.key] : undefined;
      if (value === undefined) {
        throw new NotFoundError(
          `secret '${name}' has no key '${opts.key}'`,
          `Its keys are: ${listText(Object.keys(secret.values)) || 'none'}.`,
        );
      }
      return {
        data: { name, key: opts.key, value },
        raw: ctx.out.stdoutIsTTY ? `${value}\n` : value,
        reveals: true,
      };
    }
    const rows = Object.entries(secret.values).map(([k, v]) => [k, printable(v)]);
    // `values` stays all strings (the contract scripts rely on); `data` has each value with the JSON
    // type it is stored with (a typed schema's booleans and numbers, or what ZenML wrote).
    const data = { name: secret.name, schema: secret.schema, values: secret.values, data: typedValues(secret) };
    return {
      data,
      text: `Secret '${name}' (schema ${secret.schema}):\n${table(['KEY', 'VALUE'], rows)}`,
      reveals: true,
    };
  },
});

/** Control characters would garble the table; show them escaped (`--key` prints raw bytes). */
function printable(v: string): string {
  return v.replace(/[\u0000-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
