/**
 * `keystack export [NAMES...]`: secrets out of a manager, as env, json, yaml or shell text, to
 * stdout or to a 0600 file written atomically.
 */
import { dirname, resolve } from 'node:path';
import { ExistsError, InputError, UsageError } from '../../../errors.js';
import type * as Formats from '../../../transfer/formats.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { listText } from '../../output.js';
import { CHOOSER_OPTIONS, selectManager, type ManagerChoice } from '../../select.js';
import { views } from '../../shapes.js';

export interface ExportFlags extends ManagerChoice {
  format?: string;
  output?: string;
  force?: boolean;
  withSchema?: boolean;
  /** commander's `--no-prefix`: false drops the secret name from variable names. */
  prefix?: boolean;
}

export default defineCommand({
  path: 'export',
  description: 'write secrets to a file or stdout as env, json, yaml or shell (default: every secret of the manager)',
  arguments: [{ spec: '[names...]' }],
  options: [
    { flags: '--format <format>', description: 'env | json | yaml | shell (default: from the -o file name, else env)' },
    { flags: '-o, --output <file>', description: 'write to this file (mode 0600, atomically) instead of stdout' },
    { flags: '-f, --force', description: 'overwrite the -o file if it exists' },
    {
      flags: '--with-schema',
      description: "json/yaml: keep each secret's schema ($schema) and typed values, for import elsewhere",
    },
    { flags: '--no-prefix', description: 'env/shell: variable names from the keys alone (KEY, not SECRET_KEY)' },
    ...CHOOSER_OPTIONS,
  ],
  help: '\nOnly the current version of each secret is exported; read an older one with `keystack secret get NAME --version V`.\n',
  examples: [
    'keystack export db --format env -o db.env',
    'keystack export --format yaml --with-schema -m team > team.yaml',
  ],
  /** With -o the file written; without, the exported text itself (values, by design). */
  shape: (z) => {
    const { names } = views(z);
    const format = z.enum(['env', 'json', 'yaml', 'shell']);
    return z.union([
      z.strictObject({ format, file: z.string(), secrets: names }),
      z.strictObject({ format, secrets: names, content: z.string() }),
    ]);
  },
  run: async (ctx, { words, opts: o }: CommandInput<ExportFlags>) => {
    const [formats, { exportSecrets }] = await Promise.all([
      import('../../../transfer/formats.js'),
      import('../../../transfer/transfer.js'),
    ]);
    const format = exportFormat(formats, o.format, o.output);
    const manager = await selectManager(ctx, o);
    // `[names...]`: the words after the options (`args` types each argument as one string).
    const { text, secrets } = await exportSecrets(manager, {
      names: words,
      format,
      withSchema: o.withSchema,
      secretPrefix: o.prefix,
    });
    const summary = `${secrets.length} secret${secrets.length === 1 ? '' : 's'} (${listText(secrets) || 'none'}) from ${manager.where} as ${format}`;
    if (o.output !== undefined && o.output !== '-') {
      const file = resolve(ctx.cwd, o.output);
      await writePrivateFile(file, text, o.force === true);
      return { data: { format, file, secrets }, text: `Exported ${summary} to ${file} (mode 0600).` };
    }
    if (ctx.out.stdoutIsTTY)
      ctx.out.warn(
        'secret values are being printed to the terminal; pass -o FILE to write them to a private file instead',
      );
    return { data: { format, secrets, content: text }, raw: text, reveals: true };
  },
});

function exportFormat(
  formats: typeof Formats,
  given: string | undefined,
  output: string | undefined,
): Formats.ExportFormat {
  const { EXPORT_FORMATS, formatOfPath } = formats;
  if (given !== undefined) {
    if (!(EXPORT_FORMATS as readonly string[]).includes(given))
      throw new UsageError(`unknown format '${given}'`, `Use one of: ${EXPORT_FORMATS.join(', ')}.`);
    return given as Formats.ExportFormat;
  }
  const fromPath = output === undefined || output === '-' ? null : formatOfPath(output);
  return fromPath ?? 'env';
}

/** The export file, through the one atomic 0600 writer; its errors in this command's words. */
async function writePrivateFile(file: string, text: string, force: boolean): Promise<void> {
  const { writePrivateFileAtomic } = await import('../../../support/atomic-file.js');
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
