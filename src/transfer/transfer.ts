/**
 * Whole secrets out of a manager into a file, from a file into a manager, and from one manager
 * into another (`keystack export`, `import`, `secret copy`). Every bulk write follows one plan:
 * read what is there, check every secret against the target (name rules, keys, schema, size)
 * before the first write, then write each secret as one backend object, so that an interrupted
 * run leaves each secret either complete or absent and a re-run finishes the job.
 */
import { KeystackError, SecretNotFoundError, UsageError, isKeystackError, type ErrorCode } from '../errors.js';
import type { ValueType } from '../secrets/content.js';
import type { Secret, SecretsManager } from '../core/manager.js';
import { mapLimit } from '../support/concurrency.js';
import { processMasker } from '../support/masking.js';
import { decodeSecrets, encodeSecrets, type ExportFormat, type ImportFormat, type PortableSecret } from './formats.js';

/** What to do with a secret that already exists in the target with other content. */
export type ConflictPolicy = 'fail' | 'skip' | 'update';
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['fail', 'skip', 'update'];

/**
 * A planned write, names and keys only (never values):
 * - create: absent in the target
 * - update: present with other content, replaced (`--on-conflict update`)
 * - unchanged: present with the same schema, values and types; nothing to write
 * - skip: present with other content, left alone (`--on-conflict skip`)
 * - conflict: present with other content (`--on-conflict fail`); nothing is written then
 */
export type PlanAction = 'create' | 'update' | 'unchanged' | 'skip' | 'conflict';

export interface PlanEntry {
  name: string;
  action: PlanAction;
  schema: string;
  keys: string[];
  /** For a secret that exists: how the target's copy differs (key names only). */
  differs?: KeyDiff | undefined;
}

export interface KeyDiff {
  added: string[];
  removed: string[];
  /** Keys whose value or JSON type differ. */
  changed: string[];
  /** The target's schema, when it is another one. */
  schemaFrom?: string | undefined;
}

/** Secrets read at once from a backend, and writes running at once. */
const CONCURRENCY = 8;

// --- export ---

export interface ExportOptions {
  /** The secrets to export. @default every secret of the manager's scope */
  names?: readonly string[] | undefined;
  format: ExportFormat;
  /** JSON/YAML: carry each secret's schema (`$schema`) and typed values. @default false */
  withSchema?: boolean | undefined;
  /** env/shell: variable names `SECRET_KEY`; false gives the key alone. @default true */
  secretPrefix?: boolean | undefined;
}

export interface ExportResult {
  /** The file's content. Holds secret values. */
  text: string;
  secrets: string[];
}

/** Renders secrets in a file format; every value reads back unchanged or this throws naming its key. */
export async function exportSecrets(manager: SecretsManager, o: ExportOptions): Promise<ExportResult> {
  if (o.withSchema && (o.format === 'env' || o.format === 'shell')) {
    throw new UsageError(
      `--with-schema needs --format json or yaml; ${o.format} files hold only variables`,
      'Use --format json or --format yaml to keep schemas.',
    );
  }
  const names = o.names && o.names.length > 0 ? unique(o.names) : await manager.list();
  const secrets = await mapLimit(names, CONCURRENCY, (name) => manager.get(name));
  const text = await encodeSecrets(secrets, o.format, { withSchema: o.withSchema, secretPrefix: o.secretPrefix });
  return { text, secrets: names };
}

// --- import ---

export interface ImportOptions {
  /** The file's content. */
  text: string;
  format: ImportFormat;
  /** The whole file is this one secret (required for env files). */
  as?: string | undefined;
  /** What the text is, in errors: `'app.env'`, `standard input`. @default 'the env file' */
  source?: string | undefined;
  /** Schema for secrets the file does not give one (`$schema`). @default arbitrary */
  schema?: string | undefined;
  /** @default 'fail' */
  onConflict?: ConflictPolicy | undefined;
  /** Plan only: nothing is written. */
  dryRun?: boolean | undefined;
  /** Called with the plan before the first write (not on a dry run, whose plan is the result). */
  onPlan?: ((plan: readonly PlanEntry[]) => void) | undefined;
}

export interface TransferReport {
  plan: PlanEntry[];
  /** Names written, in plan order. */
  written: string[];
  dryRun: boolean;
}

/** Writes the secrets of a file into a manager: all checked first, then each written whole. */
export async function importSecrets(manager: SecretsManager, o: ImportOptions): Promise<TransferReport> {
  const incoming = await decodeSecrets(o.text, o.format, { as: o.as, source: o.source });
  // From here on no message may show them, whatever fails.
  for (const s of incoming) processMasker.add(Object.values(s.values));
  for (const s of incoming) {
    if (o.schema !== undefined && s.schema !== undefined && s.schema !== o.schema) {
      throw new UsageError(
        `secret '${s.name}' says schema '${s.schema}' in the file, not '${o.schema}' as -s asks`,
        'Drop -s to keep the schemas the file gives, or edit the file.',
      );
    }
  }
  const withSchema = incoming.map((s) => ({ ...s, schema: s.schema ?? o.schema }));
  const planned = await planWrites(manager, withSchema, o.onConflict ?? 'fail');
  return carryOut('import', manager, planned, o);
}

// --- copy ---

export interface CopyOptions {
  /** The secrets to copy; with `all`, every secret of the source's scope. */
  names?: readonly string[] | undefined;
  all?: boolean | undefined;
  /** @default 'fail' */
  onConflict?: ConflictPolicy | undefined;
  /** Delete each source secret once its copy has been read back from the target and found equal. */
  deleteSource?: boolean | undefined;
  dryRun?: boolean | undefined;
  onPlan?: ((plan: readonly PlanEntry[]) => void) | undefined;
}

export interface CopyReport extends TransferReport {
  /** Source secrets deleted (`deleteSource`), each after its copy was verified. */
  deleted: string[];
}

/**
 * Copies secrets with their schemas and typed values between two managers of any flavors and
 * scopes. Re-running after an interruption finishes the job: secrets already copied are
 * `unchanged`, so any conflict policy may be used again.
 */
export async function copySecrets(from: SecretsManager, to: SecretsManager, o: CopyOptions): Promise<CopyReport> {
  if (from.uuid === to.uuid)
    throw new UsageError(
      `--from and --to are the same secrets manager ('${from.name}')`,
      'Copy between two different managers.',
    );
  const given = o.names ?? [];
  if (o.all && given.length > 0)
    throw new UsageError('give secret names or --all, not both', 'Drop the names to copy every secret, or drop --all.');
  if (!o.all && given.length === 0)
    throw new UsageError(
      'no secrets to copy',
      'Name the secrets to copy, or pass --all for every secret of the source.',
    );
  const names = o.all ? await from.list() : unique(given);
  const sources = await mapLimit(names, CONCURRENCY, (name) => from.get(name));
  const planned = await planWrites(to, sources, o.onConflict ?? 'fail');
  const report = await carryOut('copy', to, planned, o);
  if (!o.deleteSource || report.dryRun) return { ...report, deleted: [] };

  // Only secrets whose target now holds exactly what the source has may lose their source.
  const settled = planned.filter(
    (p) => p.entry.action === 'create' || p.entry.action === 'update' || p.entry.action === 'unchanged',
  );
  const deleted: string[] = [];
  try {
    await mapLimit(settled, CONCURRENCY, async (p) => {
      const copy = await to.get(p.entry.name);
      if (!sameContent(copy, p.stored)) {
        throw new VerifyError(p.entry.name, to.where);
      }
      await from.delete(p.entry.name);
      deleted.push(p.entry.name);
    });
  } catch (e) {
    const left = settled.map((p) => p.entry.name).filter((n) => !deleted.includes(n));
    throw new TransferError(e, {
      what: `deleting the sources stopped (the copies were all written): ${deleted.length} source${deleted.length === 1 ? '' : 's'} deleted${deleted.length ? ` (${list(sorted(deleted))})` : ''}, not deleted: ${list(left)}`,
      hint: 'Fix the cause, then run the same command again with --on-conflict skip (or update): copied secrets show as unchanged and their sources are deleted then.',
    });
  }
  return { ...report, deleted: sorted(deleted) };
}

// --- rename ---

export interface RenameOptions {
  /** Plan only: nothing is written or deleted. */
  dryRun?: boolean | undefined;
  /**
   * Called with the plan once every check has passed, before the first write (not on a dry run).
   * May ask for confirmation and throw to stop: nothing has been written then.
   */
  beforeWrite?: ((plan: readonly PlanEntry[]) => Promise<void> | void) | undefined;
}

export interface RenameReport {
  /** The one write: `to` created with the schema, keys and typed values of `from`. */
  plan: PlanEntry[];
  dryRun: boolean;
}

/**
 * Renames a secret within one manager: writes `to` with the schema and typed values of `from`,
 * reads it back and compares, and only then deletes `from`. Every failure says which of the two
 * exist; none leaves the secret only half there.
 */
export async function renameSecret(
  manager: SecretsManager,
  from: string,
  to: string,
  o: RenameOptions = {},
): Promise<RenameReport> {
  if (from === to)
    throw new UsageError(`'${from}' is already the secret's name`, 'Give the new name as the second argument.');
  const source = await manager.get(from);
  if (await manager.has(to))
    throw new KeystackError('secret_exists', `secret '${to}' already exists in ${manager.where}; nothing was renamed`, {
      hint: `Pick another new name, or delete '${to}' first (keystack secret delete ${to} -m ${manager.name}).`,
    });
  const planned = await planWrites(
    manager,
    [{ name: to, schema: source.schema, values: source.values, types: source.types }],
    'fail',
  );
  const plan = planned.map((p) => p.entry);
  const [target] = planned;
  if (o.dryRun || target === undefined) return { plan, dryRun: true };
  await o.beforeWrite?.(plan);
  const { stored } = target;
  try {
    await manager.register(to, stored.values, { schema: stored.schema, types: stored.types });
  } catch (e) {
    throw new TransferError(e, {
      what: `rename stopped: writing '${to}' failed, so '${from}' was kept as it is`,
      hint: `Fix the cause and run the rename again; if '${to}' shows up in \`keystack secret list\`, delete it first.`,
    });
  }
  let copy: Secret;
  try {
    copy = await manager.get(to);
  } catch (e) {
    throw new TransferError(e, {
      what: `rename stopped: '${to}' was written but could not be read back to verify it, so '${from}' was kept; both exist in ${manager.where}`,
      hint: `Compare the two once the cause is fixed, then delete '${from}' (keystack secret delete ${from} -m ${manager.name}).`,
    });
  }
  if (!sameContent(copy, stored))
    throw new KeystackError(
      'conflict',
      `rename stopped: '${to}' read back from ${manager.where} differs from '${from}', so '${from}' was kept; both exist`,
      { hint: `Another writer may have changed '${to}'; compare the two, delete '${to}', and run the rename again.` },
    );
  try {
    await manager.delete(from);
  } catch (e) {
    throw new TransferError(e, {
      what: `'${to}' was written and verified, but deleting '${from}' failed: both '${from}' and '${to}' now exist in ${manager.where}, with the same content`,
      hint: `Once the cause is fixed, delete the old name: keystack secret delete ${from} -m ${manager.name}.`,
    });
  }
  return { plan, dryRun: false };
}

// --- the shared plan ---

interface Planned {
  entry: PlanEntry;
  /** What will be in the target: the checked, converted content. */
  stored: Secret;
}

async function planWrites(
  target: SecretsManager,
  incoming: readonly PortableSecret[],
  policy: ConflictPolicy,
): Promise<Planned[]> {
  const seen = new Set<string>();
  for (const s of incoming) {
    if (seen.has(s.name)) throw new UsageError(`secret '${s.name}' is given twice`, 'Give each secret once.');
    seen.add(s.name);
  }
  // Every secret is checked before anything is written; all problems are reported at once.
  const problems: string[] = [];
  // (undefined only where a problem was recorded, and then this returns before using it)
  const checked: (Secret | undefined)[] = await Promise.all(
    incoming.map((s) =>
      target
        .validate(s.name, s.values, { ...(s.schema === undefined ? {} : { schema: s.schema }), types: s.types })
        .catch((e: unknown) => {
          problems.push(isKeystackError(e) ? e.message : `secret '${s.name}': ${String(e)}`);
          return undefined;
        }),
    ),
  );
  if (problems.length > 0) {
    throw new InvalidInputError(problems);
  }
  const existing = new Set(await target.list());
  const pairs = incoming.map((s, i) => ({ s, stored: checked[i] as Secret }));
  return mapLimit(pairs, CONCURRENCY, async ({ s, stored }) => {
    const keys = Object.keys(stored.values);
    if (!existing.has(s.name))
      return { entry: { name: s.name, action: 'create', schema: stored.schema, keys }, stored };
    const current = await target.get(s.name).catch((e: unknown) => {
      // Listed a moment ago and gone now: it is simply absent.
      if (e instanceof SecretNotFoundError) return null;
      throw e;
    });
    if (current === null) return { entry: { name: s.name, action: 'create', schema: stored.schema, keys }, stored };
    const differs = diff(current, stored);
    const action: PlanAction =
      differs === undefined ? 'unchanged' : policy === 'update' ? 'update' : policy === 'skip' ? 'skip' : 'conflict';
    return { entry: { name: s.name, action, schema: stored.schema, keys, ...(differs ? { differs } : {}) }, stored };
  });
}

async function carryOut(
  op: 'import' | 'copy',
  target: SecretsManager,
  planned: readonly Planned[],
  o: { dryRun?: boolean | undefined; onPlan?: ((plan: readonly PlanEntry[]) => void) | undefined },
): Promise<TransferReport> {
  const plan = planned.map((p) => p.entry);
  if (o.dryRun) return { plan, written: [], dryRun: true };
  o.onPlan?.(plan);
  const conflicts = plan.filter((e) => e.action === 'conflict').map((e) => e.name);
  if (conflicts.length > 0) throw new ConflictingSecretsError(conflicts, target.where);
  const writes = planned.filter((p) => p.entry.action === 'create' || p.entry.action === 'update');
  const written = new Set<string>();
  try {
    await mapLimit(writes, CONCURRENCY, async ({ entry, stored }) => {
      const options = { schema: stored.schema, types: stored.types };
      if (entry.action === 'create') await target.register(entry.name, stored.values, options);
      else await target.update(entry.name, stored.values, options);
      written.add(entry.name);
    });
  } catch (e) {
    const done = writes.map((p) => p.entry.name).filter((n) => written.has(n));
    const notDone = writes.map((p) => p.entry.name).filter((n) => !written.has(n));
    throw new TransferError(e, {
      what: `${op} stopped after writing ${done.length} of ${writes.length} secrets; written (complete): ${list(done) || 'none'}; not written: ${list(notDone)}`,
      hint: 'Fix the cause, then run the same command again with --on-conflict skip (or update): secrets already written show as unchanged.',
    });
  }
  return { plan, written: writes.map((p) => p.entry.name), dryRun: false };
}

function diff(current: Secret, wanted: Secret): KeyDiff | undefined {
  const added = Object.keys(wanted.values).filter((k) => !Object.hasOwn(current.values, k));
  const removed = Object.keys(current.values).filter((k) => !Object.hasOwn(wanted.values, k));
  const changed = Object.keys(wanted.values).filter(
    (k) =>
      Object.hasOwn(current.values, k) &&
      (current.values[k] !== wanted.values[k] || typeOf(current, k) !== typeOf(wanted, k)),
  );
  const schemaFrom = current.schema !== wanted.schema ? current.schema : undefined;
  if (added.length + removed.length + changed.length === 0 && schemaFrom === undefined) return undefined;
  return { added, removed, changed, ...(schemaFrom === undefined ? {} : { schemaFrom }) };
}

function sameContent(a: Secret, b: Secret): boolean {
  return diff(a, b) === undefined;
}

function typeOf(s: { types?: Record<string, ValueType> | undefined }, key: string): ValueType | 'string' {
  return s.types?.[key] ?? 'string';
}

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}

function sorted(names: readonly string[]): string[] {
  return [...names].sort();
}

function list(names: readonly string[], max = 20): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

// --- errors ---

/** Some secrets of a file or source failed the target's checks; nothing was written. */
export class InvalidInputError extends KeystackError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(
      'schema_validation',
      `nothing was written: ${problems.length} secret${problems.length === 1 ? '' : 's'} would not be accepted: ${problems.join('; ')}`,
      {
        hint: 'Fix these secrets (or leave them out), then run the command again.',
      },
    );
    this.problems = problems;
  }
}

/** Secrets exist in the target with other content and the policy is `fail`; nothing was written. */
export class ConflictingSecretsError extends KeystackError {
  readonly names: readonly string[];
  constructor(names: readonly string[], where: string) {
    super(
      'secret_exists',
      `nothing was written: ${names.length} secret${names.length === 1 ? '' : 's'} already exist${names.length === 1 ? 's' : ''} in ${where} with other content: ${list(names)}`,
      {
        hint: 'Pass --on-conflict update to replace them or --on-conflict skip to leave them; --dry-run shows which keys differ.',
      },
    );
    this.names = names;
  }
}

/** A copy read back from the target was not what was written. */
class VerifyError extends KeystackError {
  constructor(name: string, where: string) {
    super(
      'conflict',
      `the copy of secret '${name}' read back from ${where} differs from the source, so the source was kept`,
      {
        hint: 'Another writer may have changed it; compare the two, then run the copy again.',
      },
    );
  }
}

/** A bulk write that stopped part-way: says exactly which secrets were written. */
export class TransferError extends KeystackError {
  constructor(cause: unknown, o: { what: string; hint: string }) {
    const code: ErrorCode = isKeystackError(cause) && cause.code !== 'usage' ? cause.code : 'backend';
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(code, `${o.what}. Cause: ${reason}`, { hint: o.hint, cause });
  }
}
