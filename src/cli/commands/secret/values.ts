/** What `secret register` and `secret update` share: reading a name and values from the command line, stdin or prompts. */
import { UsageError } from '../../../errors.js';
import { validateSecretKey } from '../../../secrets/names.js';
import type { SecretsManager } from '../../../core/manager.js';
import { expandValue, isStdinValue, parseExtraArgs } from '../../input.js';
import type { CommandContext } from '../../context.js';

export function nameAndPairs(args: readonly string[]) {
  const { positionals, pairs } = parseExtraArgs(args);
  const [name, ...rest] = positionals;
  if (name === undefined)
    throw new UsageError(
      'a secret name is required',
      'Give the name first, e.g. `keystack secret register db --password=@-`.',
    );
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`, 'Values are given as --KEY=VALUE.');
  return { name, pairs };
}

/**
 * `--values=@FILE` is how ZenML imports a file of keys and values; here it stores the whole file
 * under one key named `values`. That is legal, so it is done, with a warning on stderr.
 */
export function warnValuesKey(
  ctx: CommandContext,
  name: string,
  pairs: ReadonlyMap<string, string>,
  existing = false,
): void {
  const value = pairs.get('values');
  if (value === undefined || !value.startsWith('@') || value.startsWith('@@') || value === '@') return;
  if (value.startsWith('@generate')) return;
  const stdin = isStdinValue(value);
  ctx.out.warn(
    `--values=${value} made a key named 'values' in secret '${name}' holding the whole ${stdin ? 'input' : 'file'}, not one key per entry; to store a file's keys and values as a secret, run \`keystack import ${stdin ? '-' : value.slice(1)} --as ${name}${existing ? ' --on-conflict update' : ''}\` instead.`,
  );
}

/**
 * `--KEY=@-` from a terminal would read what is typed with the terminal's echo on, and with no
 * prompt at all: there, ask for the value with hidden input instead, as `-i` does.
 */
export async function stdinReader(ctx: CommandContext, pairs: ReadonlyMap<string, string>): Promise<() => Buffer> {
  const key = [...pairs].find(([, v]) => isStdinValue(v))?.[0];
  if (key === undefined || !ctx.interactive) return ctx.readStdin;
  const typed = await ctx.prompt.secret(`Value for ${key} (input is hidden):`);
  const bytes = Buffer.from(typed, 'utf8');
  return () => bytes;
}

/** Asks for a key (visible) and its value (hidden); null when the key is not valid. */
export async function promptKeyValue(ctx: CommandContext, manager: SecretsManager): Promise<[string, string] | null> {
  const key = (await ctx.prompt.text('Secret key:')).trim();
  try {
    validateSecretKey(key, manager.scope.prefix);
  } catch (e) {
    ctx.out.warn((e as Error).message);
    return null;
  }
  return [key, expandValue(key, await ctx.prompt.secret(`Value for ${key}:`))];
}
