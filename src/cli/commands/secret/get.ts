import { isKeystackError, NotFoundError } from '../../../errors.js';
import type { Secret, SecretsManager } from '../../../core/manager.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { listText, table } from '../../output.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

export default defineCommand({
  path: 'secret get',
  description: 'print a secret as a table of keys and values, or one raw value with --key',
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: [
    { flags: '-k, --key <key>', description: 'print only this raw value (for scripts)' },
    {
      flags: '--version <version>',
      description: 'read this version: a number or id as `secret history` lists it, previous or current',
    },
    ...managerOptions,
  ],
  help: "\nNAME.KEY (`keystack secret get db.password`) is short for `NAME --key KEY`. A secret whose own name is NAME.KEY (flavors whose names may contain '.', such as aws and vault) is read first; only when there is none is the name split at its first '.'.\n\n--version reads an older version (github keeps none). keystack's own version is `keystack --version` (before any command) or `keystack version`.\n",
  examples: [
    'keystack secret get db',
    'keystack secret get db --key password   # the raw value, for scripts',
    'keystack secret get db.password         # the same',
    'keystack secret get db --version previous --key password',
  ],
  shape: (z) => {
    const version = z.string();
    return z.union([
      ...views(z).secretShapes.get.options,
      // With `--version V`: the version read.
      z.strictObject({
        name: z.string(),
        version,
        schema: z.string(),
        values: z.record(z.string(), z.string()),
        data: z.record(z.string(), z.unknown()),
      }),
      z.strictObject({ name: z.string(), version, key: z.string(), value: z.string() }),
    ]);
  },
  run: async (
    ctx,
    { args, opts }: CommandInput<{ key?: string; version?: string; manager?: string; stack?: string }>,
  ) => {
    const { typedValues } = await import('../../../secrets/content.js');
    const { keyValue } = await import('./one-value.js');
    const manager = await selectManager(ctx, choice(opts));
    const at = opts.version;
    const reader = at === undefined ? undefined : (n: string) => manager.getVersion(n, at);
    const { secret, key } = await readNamed(manager, args['name'] ?? '', opts.key, reader);
    const version = 'version' in secret && typeof secret.version === 'string' ? { version: secret.version } : {};
    if (key !== undefined) {
      const value = keyValue(secret, key);
      return {
        data: { name: secret.name, ...version, key, value },
        raw: ctx.out.stdoutIsTTY ? `${value}\n` : value,
        reveals: true,
      };
    }
    const name = secret.name;
    const rows = Object.entries(secret.values).map(([k, v]) => [k, printable(v)]);
    // `values` stays all strings (the contract scripts rely on); `data` has each value with the JSON
    // type it is stored with (a typed schema's booleans and numbers, or what ZenML wrote).
    const data = {
      name: secret.name,
      ...version,
      schema: secret.schema,
      values: secret.values,
      data: typedValues(secret),
    };
    const which = version.version === undefined ? '' : `, version ${version.version}`;
    return {
      data,
      text: `Secret '${name}' (schema ${secret.schema}${which}):\n${table(['KEY', 'VALUE'], rows)}`,
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

/**
 * The secret `name` names, and the key to print. Without --key, a name with a '.' is first the
 * name of a secret (where the flavor allows '.' in names), then NAME.KEY split at the first '.'.
 */
async function readNamed(
  manager: SecretsManager,
  name: string,
  key: string | undefined,
  reader: (name: string) => Promise<Secret> = (n) => manager.get(n),
): Promise<{ secret: Secret; key: string | undefined }> {
  const { splitNameKey } = await import('./one-value.js');
  const split = key === undefined ? splitNameKey(name) : null;
  if (!split) return { secret: await reader(name), key };
  if (manager.flavor.nameRule.dots) {
    try {
      return { secret: await reader(name), key };
    } catch (e) {
      if (!(isKeystackError(e) && e.code === 'secret_not_found')) throw e;
    }
  }
  const secret = await reader(split.name).catch((e: unknown) => {
    if (!(isKeystackError(e) && e.code === 'secret_not_found')) throw e;
    throw new NotFoundError(
      `neither secret '${name}' nor secret '${split.name}' (to read key '${split.key}' of) exists in ${manager.where}`,
      `Read one key with \`keystack secret get NAME --key KEY\` or \`keystack read NAME.KEY\`; \`keystack secret list\` lists the secrets.`,
    );
  });
  if (!Object.hasOwn(secret.values, split.key)) {
    throw new NotFoundError(
      `secret '${split.name}' has no key '${split.key}'${manager.flavor.nameRule.dots ? ` (and there is no secret '${name}')` : ''}`,
      `Its keys are: ${listText(Object.keys(secret.values)) || 'none'}. Read one with \`keystack secret get ${split.name} --key KEY\` or \`keystack read ${split.name}.KEY\`.`,
    );
  }
  return { secret, key: split.key };
}
