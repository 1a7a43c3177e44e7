/** `keystack read NAME.KEY`: one secret value, raw, for scripts (as `op read` does). */
import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from '../secret/manager-options.js';

const FORM =
  "A reference is NAME.KEY or {{NAME.KEY}}, e.g. `keystack read db.password`; the name ends at the first '.'.";

export default defineCommand({
  path: 'read',
  description: 'print one secret value, raw, from a reference NAME.KEY or {{NAME.KEY}} (for scripts)',
  arguments: [{ spec: '<reference>', description: 'NAME.KEY or {{NAME.KEY}}' }],
  options: managerOptions,
  help: [
    '',
    "The secret name ends at the first '.', as in a {{NAME.KEY}} reference in a stack config, so the key may contain '.'. A secret whose name contains '.' (aws, vault) is read with `keystack secret get NAME --key KEY`.",
    'NAME@V.KEY reads version V (a number or id as `keystack secret history NAME` lists it, previous or current); the pin is what follows the last @.',
    'A newline is added only when stdout is a terminal; --json prints { name, key, value }.',
    '',
  ].join('\n'),
  examples: [
    'keystack read db.password',
    "keystack read '{{db.password}}' --stack prod",
    'keystack read db@previous.password',
    'PGPASSWORD="$(keystack read db.password)" psql -h db.internal',
  ],
  shape: (z) => views(z).secretShapes.read,
  run: async (ctx, { args, opts }: CommandInput<{ manager?: string; stack?: string }>) => {
    const { keyValue } = await import('../secret/one-value.js');
    const { parseReference } = await import('../../../secrets/reference.js');
    const written = args['reference'] ?? '';
    // The grammar of `{{NAME.KEY}}` in configs, with the braces optional here.
    const inner = /^\{\{(.*)\}\}$/su.exec(written)?.[1] ?? written;
    const ref = /[{}]/u.test(inner) ? null : parseReference(`{{${inner}}}`);
    if (!ref) throw new UsageError(`invalid reference '${written}': expected NAME.KEY`, FORM);
    const manager = await selectManager(ctx, choice(opts));
    const { splitPin } = await import('../../../secrets/pins.js');
    const pin = splitPin(ref.name);
    const secret =
      pin.version === undefined ? await manager.get(ref.name) : await manager.getVersion(pin.name, pin.version);
    const value = keyValue(secret, ref.key);
    return {
      data: { name: ref.name, key: ref.key, value },
      raw: ctx.out.stdoutIsTTY ? `${value}\n` : value,
      reveals: true,
    };
  },
});
