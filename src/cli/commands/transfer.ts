/**
 * What `keystack secret copy` (commands/secret/copy.ts) and `keystack import` (commands/import/)
 * share: the plan as text and the `--on-conflict` policy.
 */
import { UsageError } from '../../errors.js';
import { CONFLICT_POLICIES, type ConflictPolicy, type PlanEntry } from '../../transfer/transfer.js';
import { listText, table } from '../output.js';

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
