/**
 * The only module that writes to stdout and stderr. In `--json` mode stdout carries exactly one
 * JSON document (a result or an error); otherwise results are human text and errors go to stderr.
 * Everything printed goes through one masker (support/masking.ts) that knows every secret value
 * this process has read or written and every sensitive config value it has used, so a value that
 * slips into a message is never printed. Only `raw` and results that reveal values by design
 * (`secret get`) are printed as they are. Masking runs on the text as produced, before lines are
 * joined or JSON is escaped.
 */
import { isKeystackError, KeystackError } from '../secrets/errors.js';
import { isReference } from '../secrets/reference.js';
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

export function createOutput(json: boolean, streams: OutputStreams = { out: process.stdout, err: process.stderr }, masker: Masker = processMasker): Output {
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
      if (failure || streams.out.destroyed) return Promise.resolve(failure ?? { code: 'EPIPE', duringResult: writingResult });
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
        hint: f.code === 'EPIPE'
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
    if (err.hint) info.hint = line(err.hint);
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
      const safe = CORE_FIELDS.has(k) || (field !== undefined && !field.sensitive) || v === null || v === undefined || v === '' || isReference(v);
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

/** A plain left-aligned table; cells never wrap, so values stay copyable. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - displayWidth(c)))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function displayWidth(s: string): number {
  const first = s.split('\n', 1)[0] ?? '';
  return Array.from(first).length; // code points, not UTF-16 units
}
