/**
 * `keystack export` and `keystack import`: whole secrets in and out. The plan rendering and the
 * --on-conflict policy serve `secret copy` too (commands/secret/copy.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ExistsError, InputError, UsageError } from '../../errors.js';
import {
  EXPORT_FORMATS,
  IMPORT_FORMATS,
  formatOfPath,
  type ExportFormat,
  type ImportFormat,
} from '../../transfer/formats.js';
import {
  CONFLICT_POLICIES,
  exportSecrets,
  importSecrets,
  type ConflictPolicy,
  type PlanEntry,
} from '../../transfer/transfer.js';
import { writePrivateFileAtomic } from '../../support/atomic-file.js';
import { listText, table } from '../output.js';
import { selectManager, type ManagerChoice } from '../select.js';
import type { CommandContext, CommandResult } from '../context.js';

/** A file to import larger than this is refused before it is parsed. */
const MAX_IMPORT_BYTES = 16 * 1024 * 1024;

export interface ExportCommandOptions extends ManagerChoice {
  names: readonly string[];
  format?: string | undefined;
  output?: string | undefined;
  force?: boolean | undefined;
  withSchema?: boolean | undefined;
  /** commander's `--no-prefix`: false drops the secret name from variable names. */
  prefix?: boolean | undefined;
}

export async function exportCommand(ctx: CommandContext, o: ExportCommandOptions): Promise<CommandResult> {
  const format = exportFormat(o.format, o.output);
  const manager = await selectManager(ctx, o);
  const { text, secrets } = await exportSecrets(manager, {
    names: o.names,
    format,
    withSchema: o.withSchema,
    secretPrefix: o.prefix,
  });
  const summary = `${secrets.length} secret${secrets.length === 1 ? '' : 's'} (${listText(secrets) || 'none'}) from ${manager.where} as ${format}`;
  if (o.output !== undefined && o.output !== '-') {
    const file = resolve(ctx.cwd, o.output);
    writePrivateFile(file, text, o.force === true);
    return { data: { format, file, secrets }, text: `Exported ${summary} to ${file} (mode 0600).` };
  }
  if (ctx.out.stdoutIsTTY)
    ctx.out.warn(
      'secret values are being printed to the terminal; pass -o FILE to write them to a private file instead',
    );
  return { data: { format, secrets, content: text }, raw: text, reveals: true };
}

export interface ImportCommandOptions extends ManagerChoice {
  file: string;
  format?: string | undefined;
  as?: string | undefined;
  split?: boolean | undefined;
  schema?: string | undefined;
  onConflict?: string | undefined;
  dryRun?: boolean | undefined;
}

export async function importCommand(ctx: CommandContext, o: ImportCommandOptions): Promise<CommandResult> {
  const stdin = o.file === '-';
  const format = importFormat(o.format, stdin ? undefined : o.file);
  if (o.as !== undefined && o.split)
    throw new UsageError(
      '--as and --split cannot be used together',
      '--as NAME makes the whole file one secret; --split makes each top-level entry a secret.',
    );
  if (o.split && format === 'env')
    throw new UsageError(
      'an env file cannot be split: it has no secret names, only variables',
      'Import it as one secret with --as NAME.',
    );
  let as = o.as;
  if (format === 'env' && as === undefined) {
    as = stdin ? undefined : envSecretName(o.file);
    if (as === undefined)
      throw new UsageError(
        `cannot name the secret from ${stdin ? 'standard input' : `'${o.file}'`}`,
        'Pass --as NAME.',
      );
  }
  const onConflict = policy(o.onConflict);
  const text = utf8(stdin ? ctx.readStdin() : readInput(resolve(ctx.cwd, o.file)), stdin ? 'standard input' : o.file);
  const source = stdin ? 'standard input' : `'${o.file}'`;
  const manager = await selectManager(ctx, o);
  const report = await importSecrets(manager, {
    text,
    format,
    as,
    source,
    schema: o.schema,
    onConflict,
    dryRun: o.dryRun,
    onPlan: (plan) => ctx.out.note(planText(plan, `Import into ${manager.where}`)),
  });
  const data = {
    manager: manager.name,
    scope: manager.scope.scope,
    dryRun: report.dryRun,
    plan: report.plan,
    written: report.written,
  };
  if (report.dryRun)
    return { data, text: `${planText(report.plan, `Import into ${manager.where}`)}\nDry run: nothing was written.` };
  return {
    data,
    text: `Imported ${report.written.length} secret${report.written.length === 1 ? '' : 's'} into ${manager.where}${report.written.length ? `: ${listText(report.written)}` : ''}${tail(report.plan)}.`,
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

function exportFormat(given: string | undefined, output: string | undefined): ExportFormat {
  if (given !== undefined) {
    if (!(EXPORT_FORMATS as readonly string[]).includes(given))
      throw new UsageError(`unknown format '${given}'`, `Use one of: ${EXPORT_FORMATS.join(', ')}.`);
    return given as ExportFormat;
  }
  const fromPath = output === undefined || output === '-' ? null : formatOfPath(output);
  return fromPath ?? 'env';
}

function importFormat(given: string | undefined, path: string | undefined): ImportFormat {
  if (given !== undefined) {
    if (given === 'shell')
      throw new UsageError(
        'shell files cannot be imported (they are scripts)',
        'Export as env, json or yaml to import again.',
      );
    if (!(IMPORT_FORMATS as readonly string[]).includes(given))
      throw new UsageError(`unknown format '${given}'`, `Use one of: ${IMPORT_FORMATS.join(', ')}.`);
    return given as ImportFormat;
  }
  const fromPath = path === undefined ? null : formatOfPath(path);
  if (fromPath === null)
    throw new UsageError(
      `cannot tell the format of ${path === undefined ? 'standard input' : `'${path}'`}`,
      `Pass --format ${IMPORT_FORMATS.join('|')}.`,
    );
  return fromPath;
}

export function policy(given: string | undefined): ConflictPolicy {
  if (given === undefined) return 'fail';
  if (!(CONFLICT_POLICIES as readonly string[]).includes(given))
    throw new UsageError(`unknown --on-conflict '${given}'`, `Use one of: ${CONFLICT_POLICIES.join(', ')}.`);
  return given as ConflictPolicy;
}

/** `prod.env` → `prod`, `.env.staging` → `staging`; `.env` itself names nothing. */
function envSecretName(path: string): string | undefined {
  const base = basename(path);
  const name = base.startsWith('.env.')
    ? base.slice('.env.'.length)
    : base.toLowerCase().endsWith('.env')
      ? base.slice(0, -'.env'.length)
      : base;
  return name === '' || name === '.env' ? undefined : name;
}

function readInput(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError(
      `cannot read '${file}' (${code})`,
      code === 'ENOENT' ? 'Check the path.' : 'Check that the file is readable.',
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new InputError(`'${file}' is not a regular file`, 'Give a file, or - to read standard input.');
    if (st.size > MAX_IMPORT_BYTES)
      throw new InputError(
        `'${file}' is ${st.size} bytes; at most ${MAX_IMPORT_BYTES} can be imported at once`,
        'Split the file.',
      );
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

function utf8(bytes: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new InputError(`${what} is not UTF-8 text`, 'Convert it to UTF-8 first.');
  }
}

/** The export file, through the one atomic 0600 writer; its errors in this command's words. */
function writePrivateFile(file: string, text: string, force: boolean): void {
  let written: boolean;
  try {
    written = writePrivateFileAtomic(file, text, { overwrite: force });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // Creating the temporary file beside the target is the first thing that touches the directory.
    if (err.syscall === 'open')
      throw new InputError(
        `cannot write to ${dirname(file)} (${err.code ?? 'error'})`,
        'Check that the directory exists and is writable.',
      );
    throw e;
  }
  if (!written) throw new ExistsError(`'${file}' already exists`, 'Pass -f to overwrite it, or choose another file.');
}
