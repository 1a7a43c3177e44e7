/**
 * The candidates of `keystack __complete -- WORD…`, which the scripts of `keystack completion`
 * call on each Tab. They come from the commander tree itself (commands and options, whoever added
 * them) and from the config store (stacks, managers, components, flavors, schemas); secret names
 * are listed from the backend only when the word being completed is a secret name. No library:
 * none that is kept up fits commander 14's tree, and the scripts are a few lines each.
 */
import type { Command, Option } from 'commander';
import { componentFlavors, type StackComponentType } from '../../../stack/components.js';
import { VALIDATION_LEVELS } from '../../../stack/validation.js';
import { selectManager } from '../../select.js';
import { definitionOf, type CompletionKind as Kind } from '../../define.js';
import type { CommandContext, CommandResult } from '../../context.js';
import { SHELLS } from './scripts.js';

/** What the shell offers for the last word of `words` (the one being typed, maybe ''). */
export async function complete(
  ctx: CommandContext,
  program: Command,
  words: readonly string[],
): Promise<CommandResult<{ candidates: string[] }>> {
  const candidates = await candidatesFor(ctx, program, words);
  return { data: { candidates }, raw: candidates.length ? `${candidates.join('\n')}\n` : '' };
}

// --- Internal helpers ---

/** What the options of a command line chose so far, for names that depend on them. */
interface Chosen {
  manager?: string;
  stack?: string;
  role?: string;
}

/** The kind of name an option's value is, as its definition says. */
function optionKind(cmd: Command, long: string): Kind | undefined {
  return definitionOf(cmd)?.options?.find((o) => o.flags.split(/[ ,]+/).includes(long))?.complete;
}

function findOption(cmd: Command, flag: string): Option | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const found = c.options.find((o) => o.long === flag || o.short === flag);
    if (found) return found;
  }
  return undefined;
}

async function candidatesFor(ctx: CommandContext, program: Command, typed: readonly string[]): Promise<string[]> {
  const words = joinEquals(typed);
  const current = words.at(-1) ?? '';
  let cmd = program;
  let positionals = 0;
  let pending: Option | undefined;
  const chosen: Chosen = {};
  for (const w of words.slice(0, -1)) {
    if (pending) {
      if (pending.long === '--manager') chosen.manager = w;
      if (pending.long === '--stack') chosen.stack = w;
      if (pending.long === '--role') chosen.role = w;
      pending = undefined;
      continue;
    }
    if (w.startsWith('-')) {
      const [flag, value] = w.split(/=(.*)/s);
      const opt = findOption(cmd, flag ?? w);
      if (opt && value !== undefined && opt.long === '--manager') chosen.manager = value;
      else if (opt && value !== undefined && opt.long === '--stack') chosen.stack = value;
      else if (opt && value !== undefined && opt.long === '--role') chosen.role = value;
      else if (opt && (opt.required || opt.optional) && value === undefined) pending = opt;
      continue;
    }
    // `keystack help secret get` completes like `keystack secret get`.
    if (cmd === program && w === 'help' && positionals === 0) continue;
    const sub = positionals === 0 ? visible(cmd).find((c) => c.name() === w || c.aliases().includes(w)) : undefined;
    if (sub) cmd = sub;
    else positionals++;
  }
  const starts = (xs: readonly string[]) => [...new Set(xs)].filter((x) => x.startsWith(current)).sort();
  if (pending) {
    const kind = pending.long ? optionKind(cmd, pending.long) : undefined;
    return starts(kind ? await names(ctx, kind, chosen) : (pending.argChoices ?? []));
  }
  if (current.startsWith('-')) {
    const opts = [...cmd.options, ...(cmd === program ? [] : program.options)].filter((o) => !o.hidden);
    return starts([
      ...opts.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined)),
      '--help',
      '--json',
    ]);
  }
  const subs = visible(cmd);
  if (subs.length > 0 && positionals === 0) return starts(subs.map((c) => c.name()));
  const kind = definitionOf(cmd)?.arguments?.[positionals]?.complete;
  return kind ? starts(await names(ctx, kind, chosen)) : [];
}

/**
 * bash splits `--manager=team` at `=` (it is in COMP_WORDBREAKS) into `--manager`, `=`, `team`,
 * and completes `team` alone: read that as `--manager team`.
 */
function joinEquals(words: readonly string[]): string[] {
  const out: string[] = [];
  words.forEach((w, i) => {
    const afterOption = out.at(-1)?.startsWith('--') === true;
    if (w === '=' && afterOption) {
      if (i === words.length - 1) out.push('');
    } else out.push(w);
  });
  return out;
}

function visible(cmd: Command): Command[] {
  // Hidden commands (`__complete`, a step worker) are not offered; `_hidden` has no public getter.
  return cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden && !c.name().startsWith('__'));
}

async function names(ctx: CommandContext, kind: Kind, chosen: Chosen): Promise<string[]> {
  const ks = ctx.keystack();
  switch (kind) {
    case 'secret':
      // The only candidates that cost a backend call: asked for only at a secret-name position.
      return (await selectManager(ctx, chosen)).list();
    case 'manager':
      return ks.store.listComponents('secrets_manager').map((c) => c.name);
    case 'stack':
      return ks.store.listStacks().map((s) => s.name);
    case 'schema':
      return (await ks.schemas.list()).map((s) => s.name);
    case 'manager-flavor':
      return (await ks.flavors.list()).map((f) => f.flavor.name);
    case 'shell':
      return [...SHELLS];
    case 'level':
      return [...VALIDATION_LEVELS];
    case 'key-role':
      return ['client', 'worker'];
    case 'trusted-key': {
      // `keys untrust` takes an id or a name of the trust list of --role (default worker).
      const { listTrusted } = await import('../../../pipeline/remote/keys.js');
      const role = chosen.role === 'client' ? 'client' : 'worker';
      return listTrusted(ks.configDir, role).flatMap((k) => [k.id, ...(k.name === null ? [] : [k.name])]);
    }
    default: {
      const [what, type] = kind.split(':') as ['component' | 'flavor', StackComponentType];
      return what === 'component'
        ? ks.store.listComponents(type).map((c) => c.name)
        : componentFlavors(type).map((f) => f.name);
    }
  }
}
