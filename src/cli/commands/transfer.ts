/**
 * `keystack secret copy`, and the plan rendering and `--on-conflict` reading it shares with
 * `keystack import` (commands/import/).
 */
import { UsageError } from '../../errors.js';
import { CONFLICT_POLICIES, copySecrets, type ConflictPolicy, type PlanEntry } from '../../transfer/transfer.js';
import { listText, table } from '../output.js';
import { selectManager } from '../select.js';
import type { CommandContext, CommandResult } from '../context.js';

export interface CopyCommandOptions {
  names: readonly string[];
  from: string;
  to: string;
  all?: boolean | undefined;
  onConflict?: string | undefined;
  deleteSource?: boolean | undefined;
  dryRun?: boolean | undefined;
}

export async function copyCommand(ctx: CommandContext, o: CopyCommandOptions): Promise<CommandResult> {
  const onConflict = policy(o.onConflict);
  const from = await selectManager(ctx, { manager: o.from });
  const to = await selectManager(ctx, { manager: o.to });
  const title = `Copy from ${from.where} to ${to.where}`;
  const report = await copySecrets(from, to, {
    names: o.names,
    all: o.all,
    onConflict,
    deleteSource: o.deleteSource,
    dryRun: o.dryRun,
    onPlan: (plan) => ctx.out.note(planText(plan, title)),
  });
  const data = {
    from: from.name,
    fromScope: from.scope.scope,
    to: to.name,
    toScope: to.scope.scope,
    dryRun: report.dryRun,
    plan: report.plan,
    written: report.written,
    deleted: report.deleted,
  };
  if (report.dryRun)
    return {
      data,
      text: `${planText(report.plan, title)}\nDry run: nothing was written${o.deleteSource ? ' or deleted' : ''}.`,
    };
  const deleted = o.deleteSource
    ? ` Deleted ${report.deleted.length} source secret${report.deleted.length === 1 ? '' : 's'} after verifying ${report.deleted.length === 1 ? 'its copy' : 'their copies'}.`
    : '';
  return {
    data,
    text: `Copied ${report.written.length} secret${report.written.length === 1 ? '' : 's'} to ${to.where}${report.written.length ? `: ${listText(report.written)}` : ''}${tail(report.plan)}.${deleted}`,
  };
}

// --- plan rendering ---

/** The plan as a table of names, actions and key names; never values. */
export function planText(plan: readonly PlanEntry[], title: string): string {
  const count = (a: PlanEntry['action']) => plan.filter((e) => e.action === a).length;
  const head = `${title}: ${count('create')} to create, ${count('update')} to update, ${count('unchanged')} unchanged, ${count('skip')} to skip, ${count('conflict')} conflicting`;
  if (plan.length === 0) return `${head}.`;
  const rows = plan.map((e) => [e.action, e.name, detail(e)]);
  return `${head}:\n${table(['ACTION', 'SECRET', 'DETAIL'], rows)}`;
}

function detail(e: PlanEntry): string {
  if (!e.differs) return e.action === 'unchanged' ? '' : `schema ${e.schema}; keys: ${listText(e.keys, 10) || 'none'}`;
  const d = e.differs;
  const parts: string[] = [];
  if (d.changed.length) parts.push(`differ: ${listText(d.changed, 10)}`);
  if (d.added.length) parts.push(`new: ${listText(d.added, 10)}`);
  if (d.removed.length)
    parts.push(`${e.action === 'update' ? 'removed' : 'only in target'}: ${listText(d.removed, 10)}`);
  if (d.schemaFrom !== undefined) parts.push(`schema ${d.schemaFrom} -> ${e.schema}`);
  return parts.join('; ');
}

export function tail(plan: readonly PlanEntry[]): string {
  const names = (a: PlanEntry['action']) => plan.filter((e) => e.action === a).map((e) => e.name);
  const parts = [];
  if (names('unchanged').length) parts.push(`unchanged: ${listText(names('unchanged'))}`);
  if (names('skip').length) parts.push(`skipped (exist with other content): ${listText(names('skip'))}`);
  return parts.length ? `; ${parts.join('; ')}` : '';
}

// --- arguments ---

export function policy(given: string | undefined): ConflictPolicy {
  if (given === undefined) return 'fail';
  if (!(CONFLICT_POLICIES as readonly string[]).includes(given))
    throw new UsageError(`unknown --on-conflict '${given}'`, `Use one of: ${CONFLICT_POLICIES.join(', ')}.`);
  return given as ConflictPolicy;
}
