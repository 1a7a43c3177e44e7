/**
 * The only module that writes to stdout and stderr. In `--json` mode stdout carries exactly one
 * JSON document (a result or an error); otherwise results are human text and errors go to stderr.
 * Everything printed goes through one masker (support/masking.ts) that knows every secret value
 * this process has read or written and every sensitive config value it has used, so a value that
 * slips into a message is never printed. Only `raw` and results that reveal values by design
 * (`secret get`) are printed as they are. Masking runs on the text as produced, before lines are
 * joined or JSON is escaped.
 */
import { isKeystackError, KeystackError, type ErrorCode } from '../errors.js';
import { isReference } from '../secrets/reference.js';
import type StringWidth from 'string-width';
import { MASK, processMasker, type Masker } from '../support/masking.js';

export interface Output {
  readonly json: boolean;
  readonly stdoutIsTTY: boolean;
  /** Remembers values to mask in everything printed from now on. */
  sensitive(values: Iterable<string>): void;
  /**
   * Writes a command's result. `text` is used unless --json. Masked, unless `reveals` says that
   * showing secret values is the point of the result.
   */
  result(data: unknown, text?: string, options?: { reveals?: boolean | undefined }): void;
  /** Raw bytes for scripts (`secret get --key`), unmasked by design. */
  raw(value: string): void;
  /**
   * Passes on what a child process wrote (`keystack run --mask`), already masked by the caller.
   * Resolves once the stream has taken it, so that a slow reader slows the child down; false
   * when the stream failed (the reader went away), so that the child can be told in turn.
   */
  relay(stream: 'stdout' | 'stderr', text: string): Promise<boolean>;
  /** Progress and confirmations for humans; silent in --json mode. */
  note(message: string): void;
  warn(message: string): void;
  error(err: unknown, debug: boolean): void;
  /**
   * Waits until what was written to stdout is handed to the OS, and tells whether any write to
   * it failed (a full disk, a reader that went away): a command whose output was lost must not
   * exit 0 as if it had been delivered.
   */
  settle(): Promise<WriteFailure | undefined>;
}

/** A failed write to stdout: its errno code, and whether the command's work was still going on. */
export interface WriteFailure {
  code: string;
  /** True when the failure came while the result was being written, after all work was done. */
  duringResult: boolean;
}

/** Where output goes: process.stdout and process.stderr, or anything that writes strings. */
export interface OutputStreams {
  /** `isTTY` is absent, not false, on a pipe or file. */
  out: {
    write(s: string, done?: (e?: Error | null) => void): unknown;
    on?(event: 'error', listener: (e: Error) => void): unknown;
    readonly isTTY?: boolean | undefined;
    readonly destroyed?: boolean | undefined;
  };
  err: { write(s: string, done?: (e?: Error | null) => void): unknown };
}

export function createOutput(
  json: boolean,
  streams: OutputStreams = { out: process.stdout, err: process.stderr },
  masker: Masker = processMasker,
): Output {
  const stderr = (s: string) => streams.err.write(masker.mask(s) + '\n');
  let failure: WriteFailure | undefined;
  let writingResult = false;
  const failed = (e: Error | null | undefined) => {
    if (e) failure ??= { code: (e as NodeJS.ErrnoException).code ?? 'error', duringResult: writingResult };
  };
  // Also catches failed writes that do not come from here (a step's console.log).
  streams.out.on?.('error', failed);
  const stdout = (s: string) => {
    writingResult = true;
    streams.out.write(s, failed);
  };
  const document = (data: unknown) => stdout(JSON.stringify(data, null, 2) + '\n');
  return {
    json,
    stdoutIsTTY: Boolean(streams.out.isTTY),
    sensitive(values) {
      masker.add(values);
    },
    result(data, text, options = {}) {
      const reveal = options.reveals === true;
      if (json) document(reveal ? data : masker.maskData(data));
      else if (text !== undefined && text !== '') {
        const shown = reveal ? text : masker.mask(text);
        stdout(shown.endsWith('\n') ? shown : shown + '\n');
      }
    },
    raw(value) {
      stdout(value);
    },
    relay(stream, text) {
      return new Promise((resolve) => {
        if (stream === 'stdout') {
          streams.out.write(text, (e) => {
            failed(e);
            resolve(!e);
          });
        } else streams.err.write(text, (e) => resolve(!e));
      });
    },
    note(message) {
      if (!json) stderr(message);
    },
    warn(message) {
      stderr(`Warning: ${message}`);
    },
    error(err, debug) {
      const info = describeError(err, masker);
      // With stdout gone, the error can only be told on stderr.
      if (json && !failure) {
        // Masked as data: JSON escaping would turn a value with `"` into a form text masking misses.
        document({ error: masker.maskData(info) });
      } else {
        stderr(`Error: ${info.message}`);
        if (info.hint) stderr(`Hint: ${info.hint}`);
      }
      if (debug && err instanceof Error && err.stack) stderr(err.stack);
    },
    settle() {
      if (failure || streams.out.destroyed)
        return Promise.resolve(failure ?? { code: 'EPIPE', duringResult: writingResult });
      return new Promise((resolve) =>
        streams.out.write('', (e) => {
          failed(e);
          resolve(failure);
        }),
      );
    },
  };
}

/** The command's output could not be written; its work may well have been done. */
export class OutputError extends KeystackError {
  constructor(f: WriteFailure) {
    super(
      'io',
      f.code === 'EPIPE'
        ? 'standard output was closed while the command was still running (EPIPE); it finished its work, but its output was lost'
        : `cannot write the output to standard output (${f.code})`,
      {
        hint:
          f.code === 'EPIPE'
            ? 'Let the reader take all of the output (`| head` closes it early), or send the output to a file.'
            : 'Free some space, or send the output elsewhere, then run the command again to see its output.',
      },
    );
  }
}

export interface ErrorInfo {
  code: string;
  message: string;
  hint?: string;
  [k: string]: unknown;
}

/** An error as printed: one line each for message and hint, masked before the lines are joined. */
export function describeError(err: unknown, masker: Masker = processMasker): ErrorInfo {
  const line = (s: string) => oneLine(masker.mask(s));
  if (isKeystackError(err)) {
    const info: ErrorInfo = { code: err.code, message: line(err.message) };
    const hint = err.hint ?? FALLBACK_HINTS[err.code];
    if (hint) info.hint = line(hint);
    const issues = (err as { issues?: unknown }).issues;
    if (Array.isArray(issues)) info['issues'] = masker.maskData(issues);
    return info;
  }
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (code === 'EPIPE') return { code: 'io', message: 'output closed early' };
  const message = err instanceof Error ? err.message : String(err);
  return {
    code: 'internal',
    message: `unexpected ${err instanceof Error ? err.name : 'error'}: ${line(message)}`,
    hint: 'This is a bug in keystack. Run again with KEYSTACK_DEBUG=1 for the stack trace and report it.',
  };
}

/**
 * Every error prints a `Hint:` line. Most errors say best what to do next themselves; these are
 * for the ones that do not (a custom flavor's, a plain message from the core).
 */
const FALLBACK_HINTS: Readonly<Record<ErrorCode, string>> = {
  usage: 'Run the command with --help to see its usage and examples.',
  config:
    'Check the component with `keystack status` or `keystack secrets-manager describe`, and fix it with the matching `update` command.',
  not_found: 'Run the matching `list` command (e.g. `keystack stack list`) to see what exists.',
  secret_not_found: 'Run `keystack secret list` to see the secrets of this manager.',
  exists: 'Pick another name, or delete the existing one first.',
  in_use: 'Remove it from the stacks that use it first (`keystack stack list`).',
  invalid_name: 'Pick another name; `keystack secrets-manager flavor describe FLAVOR` shows the name rules.',
  schema_validation: 'Run `keystack schema describe SCHEMA` to see the keys it takes.',
  too_large: 'Store large data elsewhere (an artifact store) and keep only a reference or credential here.',
  input: 'Check the value given with @FILE or @-.',
  backend: 'Check the backend is reachable and the credentials are valid, then try again.',
  unsupported: 'Run `keystack secrets-manager flavor describe FLAVOR` to see what the flavor can do.',
  stack_validation: 'Run `keystack stack validate` for the details.',
  step_failed: 'Run `keystack pipeline runs list` and describe the run for the details.',
  conflict: 'Run the command again.',
  denied: "Declare the secret in the step's `secrets:` option.",
  secret_leak: "Remove the value from the step's outputs, or allow it with step({ allowSecretOutputs: ['NAME.KEY'] }).",
  io: 'Send the output somewhere it can be written.',
  secret_exists: 'Change it with `keystack secret update NAME --KEY=VALUE`, or delete it first.',
};

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** The core's own manager fields: never secret. */
const CORE_FIELDS: ReadonlySet<string> = new Set(['scope', 'namespace', 'scope_prefix']);

/**
 * A component's config as every view shows it: a plain value in a field the flavor marks
 * `sensitive` becomes `***`; references `{{name.key}}` stay, they are names, not secrets. Fields
 * the flavor does not declare (or every field, when the flavor is unknown: `fields` undefined)
 * are hidden too, since nothing says they are harmless.
 */
export function redactConfig(
  fields: Readonly<Record<string, { sensitive?: boolean | undefined }>> | undefined,
  config: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => {
      const field = fields?.[k];
      const safe =
        CORE_FIELDS.has(k) ||
        (field !== undefined && !field.sensitive) ||
        v === null ||
        v === undefined ||
        v === '' ||
        isReference(v);
      return [k, safe ? v : MASK];
    }),
  );
}

/**
 * A list for a message: all of it when short, else the first `max` items and a count of the rest,
 * so that a secret with 20,000 keys gives one readable line, not a megabyte (`--json` has them all).
 */
export function listText(items: readonly string[], max = 20): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${(items.length - max).toLocaleString('en-US')} more`;
}

/**
 * The width tables are fitted to: `COLUMNS`, else the terminal's width, else none (a pipe or a
 * file gets whole lines). Set once by main(); tables are rendered by commands, far from the streams.
 */
let tableWidth: number | undefined;

export function setTableWidth(width: number | undefined): void {
  tableWidth = width !== undefined && Number.isInteger(width) && width > 0 ? width : undefined;
}

const GAP = 2;
/** A column is never narrowed below this, so that a narrow terminal still reads. */
const MIN_COLUMN = 6;
/** A word longer than this (an id, a path) may be broken before other columns are narrowed further. */
const WORD_COLUMN = 16;

/**
 * A left-aligned table that fits the terminal: when it is too wide, the widest columns are
 * narrowed and their cells wrap (at spaces where possible), so nothing is cut off. `fit: false`
 * keeps every cell on one line, for values that must stay copyable (`secret get`).
 */
export function table(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  options: { fit?: boolean } = {},
): string {
  const cells = rows.map((r) => headers.map((_, i) => r[i] ?? ''));
  const widths = headers.map((h, i) => Math.max(displayWidth(h), ...cells.map((r) => displayWidth(r[i] ?? ''))));
  if (options.fit !== false && tableWidth !== undefined) {
    // First narrow columns only as far as their longest word (clean breaks), then, if the table
    // still does not fit, down to a few columns with words broken.
    const words = headers.map((h, i) => Math.max(longestWord(h), ...cells.map((r) => longestWord(r[i] ?? ''))));
    narrow(widths, tableWidth, (i) => Math.max(MIN_COLUMN, Math.min(words[i] ?? 0, WORD_COLUMN)));
    narrow(widths, tableWidth, () => MIN_COLUMN);
  }
  const line = (parts: readonly string[]) =>
    parts
      .map((c, i) => (i === parts.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(c)))))
      .join(' '.repeat(GAP))
      .trimEnd();
  const render = (row: readonly string[]) => {
    const wrapped = row.map((c, i) => (options.fit === false ? [firstLine(c)] : wrap(c, widths[i] ?? 0)));
    const height = Math.max(1, ...wrapped.map((w) => w.length));
    return Array.from({ length: height }, (_, k) => line(wrapped.map((w) => w[k] ?? ''))).join('\n');
  };
  return [render(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(render)].join('\n');
}

/** Prose that fits the terminal: each line wrapped at spaces to the table width (if any). */
export function paragraph(text: string): string {
  if (tableWidth === undefined) return text;
  const width = tableWidth;
  return text
    .split('\n')
    .map((l) => wrap(l, width).join('\n'))
    .join('\n');
}

/** Narrows the widest columns, one column at a time, until the table fits `max` or every column is at its floor. */
function narrow(widths: number[], max: number, floor: (i: number) => number): void {
  let over = widths.reduce((a, b) => a + b, 0) + GAP * (widths.length - 1) - max;
  while (over > 0) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      if ((widths[i] ?? 0) > floor(i) && (widest === -1 || (widths[i] ?? 0) > (widths[widest] ?? 0))) widest = i;
    }
    if (widest === -1) return;
    const second = Math.max(floor(widest), ...widths.filter((_, i) => i !== widest));
    const cut = Math.min(over, Math.max(1, (widths[widest] ?? 0) - second));
    widths[widest] = (widths[widest] ?? 0) - cut;
    over -= cut;
  }
}

/** The widest piece of a cell that `wrap` cannot break cleanly. */
function longestWord(cell: string): number {
  return Math.max(0, ...cell.split(/\s+|(?<=[A-Za-z][-/|_])/).map((w) => stringWidth(w)));
}

/**
 * string-width creates an ICU segmenter when it loads, which costs ~40 ms: more than the rest
 * of `secret get`. Printable ASCII is measured by its length, and string-width (and the
 * segmenter for wrapping) are loaded only for the first cell that is not plain ASCII. The CLI
 * bundle is CommonJS, where this require is bundled and runs lazily.
 */
const PLAIN = /^[\x20-\x7e]*$/;
let measure: typeof StringWidth | undefined;
let segmenter: Intl.Segmenter | undefined;

function stringWidth(s: string): number {
  if (PLAIN.test(s)) return s.length;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy, synchronous load (see above); import() would make every table async
  measure ??= (require('string-width') as { default: typeof StringWidth }).default;
  return measure(s);
}

function segments(s: string): Iterable<{ segment: string }> {
  if (PLAIN.test(s)) return Array.from(s, (segment) => ({ segment }));
  return (segmenter ??= new Intl.Segmenter()).segment(s);
}

/**
 * Where a cell may wrap: after a space (dropped at the break), or after one of `-/|_` that follows
 * a letter (`CONTAINER-REGISTRY`, `AWS_SECRET_ACCESS_KEY`, `none|global`; not inside a date).
 */
const breaksAfter = (segment: string, before: string) =>
  segment === ' ' || ('-/|_'.includes(segment) && /[A-Za-z]$/.test(before));

/** A cell as lines of at most `width` columns: breaks after spaces or dashes where it can, else anywhere. */
function wrap(cell: string, width: number): string[] {
  const out: string[] = [];
  for (const para of cell.split('\n')) {
    let lineText = '';
    let lineWidth = 0;
    let lastBreak = -1; // index in lineText just after the last space
    for (const { segment } of segments(para)) {
      const w = stringWidth(segment);
      if (lineWidth + w > width && lineText !== '') {
        if (lastBreak > 0 && segment !== ' ') {
          out.push(lineText.slice(0, lastBreak).trimEnd());
          lineText = lineText.slice(lastBreak);
        } else {
          out.push(lineText.trimEnd());
          lineText = '';
        }
        lineWidth = stringWidth(lineText);
        lastBreak = -1;
        if (segment === ' ') continue;
      }
      lineText += segment;
      lineWidth += w;
      if (breaksAfter(segment, lineText.slice(0, -segment.length))) lastBreak = lineText.length;
    }
    out.push(lineText);
  }
  return out;
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? '';
}

/** Terminal columns of the widest line: wide (CJK) characters count two, combining marks none. */
function displayWidth(s: string): number {
  return Math.max(0, ...s.split('\n').map((l) => stringWidth(l)));
}
