/**
 * `keystack inject -i TEMPLATE [-o OUT] [-f]`: renders the `{{name.key}}` references of any text
 * file. Output goes to stdout, or to OUT written 0600 and atomically; an existing OUT is kept
 * unless -f. Every missing reference is reported at once, before anything is written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExistsError, InputError } from '../../errors.js';
import { formatReference } from '../../secrets/reference.js';
import { inject } from '../../process/env.js';
import { writePrivateFileAtomic } from '../../support/atomic-file.js';
import type { CommandContext, CommandResult } from '../context.js';
import { selectManager } from '../select.js';

export interface InjectOptions {
  /** A path, or `-` for standard input. */
  input: string;
  output?: string | undefined;
  force?: boolean | undefined;
  manager?: string | undefined;
  stack?: string | undefined;
}

/** Templates larger than this are refused (a template is a config file, not a data set). */
const MAX_TEMPLATE_BYTES = 16 * 1024 * 1024;

export async function injectCommand(ctx: CommandContext, o: InjectOptions): Promise<CommandResult> {
  const out = o.output === undefined ? undefined : resolve(ctx.cwd, o.output);
  // Checked before anything is read from the backend; the write itself refuses a file that
  // appears meanwhile.
  if (out !== undefined && !o.force && existsSync(out)) throw exists(o.output ?? out);
  const template =
    o.input === '-' ? ctx.readStdin().toString('utf8') : readTemplate(resolve(ctx.cwd, o.input), o.input);
  const r = await inject(() => selectManager(ctx, { manager: o.manager, stack: o.stack }), template);
  const references = r.references.map(formatReference);
  if (out === undefined) return { data: { text: r.text, references }, raw: r.text, reveals: true };
  let written: boolean;
  try {
    written = writePrivateFileAtomic(out, r.text, { overwrite: o.force === true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError(
      `cannot write ${o.output ?? out} (${code}); nothing was written`,
      'Check that its directory exists and that you may write to it.',
    );
  }
  if (!written) throw exists(o.output ?? out);
  const secrets = new Set(r.references.map((x) => x.name)).size;
  return {
    data: { output: out, references },
    text: `Wrote ${o.output ?? out} (mode 0600): ${references.length} reference${references.length === 1 ? '' : 's'} from ${secrets} secret${secrets === 1 ? '' : 's'}.`,
  };
}

function exists(path: string): ExistsError {
  return new ExistsError(
    `${path} already exists; it was not changed`,
    'Pass -f to overwrite it, or choose another -o path.',
  );
}

function readTemplate(path: string, shown: string): string {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError(`cannot read the template ${shown} (${code})`, 'Check the path given to -i.');
  }
  if (data.length > MAX_TEMPLATE_BYTES)
    throw new InputError(
      `the template ${shown} is ${data.length} bytes; at most ${MAX_TEMPLATE_BYTES} are read`,
      'Split it into smaller templates.',
    );
  const text = data.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(data))
    throw new InputError(`the template ${shown} is not UTF-8 text`, 'Convert it to UTF-8 (e.g. with iconv).');
  return text;
}
