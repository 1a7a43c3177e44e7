/**
 * Which stack and secrets manager a command works on. Every command that reads or writes secrets,
 * or runs on a stack, goes through here, so the choices mean the same thing everywhere. The first
 * of these that names one wins:
 *   1. the flags: `-m/--manager NAME|UUID`, `--stack NAME` (that stack's manager);
 *   2. the variables `KEYSTACK_MANAGER` and `KEYSTACK_STACK`;
 *   3. the project file `keystack.toml` (project-file.ts), nearest at or above the working directory;
 *   4. the active stack (`keystack stack set`).
 * Within one level a manager beats a stack for secret commands, and the stack alone decides what
 * `pipeline run`, `stack describe` and `status` show: a project may run on stack `dev` and keep
 * its secrets in manager `team`.
 */
import { NotFoundError, UsageError, isKeystackError } from '../errors.js';
import type { SecretsManager } from '../core/manager.js';
import type { StackRecord } from '../stack/config-store.js';
import type { CommandContext } from './context.js';
import type { OptionSpec } from './define.js';
import { readProjectFile, type ProjectFile } from './project-file.js';

export interface ManagerChoice {
  manager?: string | undefined;
  stack?: string | undefined;
}

export async function selectManager(ctx: CommandContext, choice: ManagerChoice = {}): Promise<SecretsManager> {
  if (choice.manager !== undefined && choice.stack !== undefined) {
    throw new UsageError(
      '--manager and --stack cannot be used together',
      'Give one: --manager NAME picks a secrets manager, --stack NAME picks the manager of that stack.',
    );
  }
  const pick = await managerContext(ctx, choice);
  const ks = ctx.keystack();
  return named(pick, () => {
    if (pick.kind === 'manager') return ks.secretsManager(pick.name);
    return ks.stackSecretsManager(pick.kind === 'stack' ? pick.name : undefined);
  });
}

/** Where a choice came from: a flag, a variable, the project file, or the active stack. */
export type ContextFrom = 'flag' | 'KEYSTACK_MANAGER' | 'KEYSTACK_STACK' | 'keystack.toml' | 'active-stack';

export interface ContextPick {
  /** `manager` or `stack` names one; `active` is the active stack. */
  kind: 'manager' | 'stack' | 'active';
  name?: string | undefined;
  from: ContextFrom;
  /** The project file, when `from` is `keystack.toml`. */
  file?: string | undefined;
}

/** The secrets manager secret commands use, as a name and where it came from (nothing is opened). */
export async function managerContext(ctx: CommandContext, choice: ManagerChoice = {}): Promise<ContextPick> {
  if (choice.manager !== undefined && choice.stack !== undefined) {
    throw new UsageError(
      '--manager and --stack cannot be used together',
      'Give one: --manager NAME picks a secrets manager, --stack NAME picks the manager of that stack.',
    );
  }
  return contextChain(ctx, choice, true);
}

/** The stack `pipeline run`, `stack describe` and `status` use: `--stack`, KEYSTACK_STACK, keystack.toml, or the active one. */
export function stackContext(ctx: CommandContext, flag?: string): Promise<ContextPick> {
  return contextChain(ctx, { stack: flag }, false);
}

/** The precedence, once: flags, then the variables, then the project file, then the active stack. */
async function contextChain(ctx: CommandContext, choice: ManagerChoice, managers: boolean): Promise<ContextPick> {
  if (managers && choice.manager !== undefined) return { kind: 'manager', name: choice.manager, from: 'flag' };
  if (choice.stack !== undefined) return { kind: 'stack', name: choice.stack, from: 'flag' };
  const manager = managers ? variable(ctx, 'KEYSTACK_MANAGER') : undefined;
  if (manager !== undefined) return { kind: 'manager', name: manager, from: 'KEYSTACK_MANAGER' };
  const stack = variable(ctx, 'KEYSTACK_STACK');
  if (stack !== undefined) return { kind: 'stack', name: stack, from: 'KEYSTACK_STACK' };
  const project = await projectFile(ctx);
  if (managers && project?.manager !== undefined)
    return { kind: 'manager', name: project.manager, from: 'keystack.toml', file: project.file };
  if (project?.stack !== undefined)
    return { kind: 'stack', name: project.stack, from: 'keystack.toml', file: project.file };
  return { kind: 'active', from: 'active-stack' };
}

/** The stack record of a `stackContext` pick; a missing stack is named with where its name came from. */
export function contextStack(ctx: CommandContext, pick: ContextPick): Promise<StackRecord> {
  const ks = ctx.keystack();
  return named(pick, () => Promise.resolve(pick.name === undefined ? ks.activeStack() : ks.store.getStack(pick.name)));
}

/** How a pick's source reads in text: `--stack`, `KEYSTACK_STACK`, `/repo/keystack.toml`, `active stack`. */
export function contextFromText(pick: ContextPick): string {
  if (pick.from === 'keystack.toml') return pick.file ?? 'keystack.toml';
  if (pick.from === 'flag') return pick.kind === 'manager' ? '--manager' : '--stack';
  if (pick.from === 'active-stack') return 'the active stack';
  return pick.from;
}

/** The commander flags for `selectManager`, so that every command spells them the same way. */
export const MANAGER_OPTION = [
  '-m, --manager <name>',
  "secrets manager to use, by name or UUID (default: $KEYSTACK_MANAGER, $KEYSTACK_STACK, keystack.toml, else the active stack's)",
] as const;
export const STACK_OPTION = [
  '--stack <name>',
  'use the secrets manager of this stack instead of the current one',
] as const;

/** `MANAGER_OPTION` and `STACK_OPTION` as command-table options, with the names they complete. */
export const CHOOSER_OPTIONS: readonly OptionSpec[] = [
  { flags: MANAGER_OPTION[0], description: MANAGER_OPTION[1], complete: 'manager' },
  { flags: STACK_OPTION[0], description: STACK_OPTION[1], complete: 'stack' },
];

// --- Internal helpers ---

function variable(ctx: CommandContext, name: 'KEYSTACK_MANAGER' | 'KEYSTACK_STACK'): string | undefined {
  const v = ctx.env[name];
  return v === undefined || v === '' ? undefined : v;
}

// Read once per command: `status` asks for both the stack and the manager context.
const PROJECT_FILES = new WeakMap<CommandContext, Promise<ProjectFile | undefined>>();

function projectFile(ctx: CommandContext): Promise<ProjectFile | undefined> {
  let p = PROJECT_FILES.get(ctx);
  if (!p) PROJECT_FILES.set(ctx, (p = readProjectFile(ctx.cwd, ctx.env['HOME'])));
  return p;
}

/** Runs `open`; a name that is not registered says which variable or file gave it, so that the user can fix that. */
export async function named<T>(pick: ContextPick, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (e) {
    if (pick.from === 'flag' || pick.from === 'active-stack' || !isKeystackError(e) || e.code !== 'not_found') throw e;
    const where = pick.from === 'keystack.toml' ? (pick.file ?? 'keystack.toml') : `$${pick.from}`;
    throw new NotFoundError(
      `${e.message} (named by ${where})`,
      pick.from === 'keystack.toml'
        ? `Fix the name in ${where} (or rewrite it with \`keystack init --force\`), or override it with -m/--stack.`
        : `Unset ${pick.from} or set it to a registered name (\`keystack ${pick.kind === 'manager' ? 'secrets-manager' : 'stack'} list\`).`,
    );
  }
}
