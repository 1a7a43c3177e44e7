/**
 * The only module that writes to stdout and stderr. In `--json` mode stdout carries exactly one
 * JSON document (a result or an error); otherwise results are human text and errors go to stderr.
 * Diagnostics (errors, warnings, notes) are masked against every secret value this process has
 * seen, so a value that slips into a message is never printed.
 */
import { isKeystackError, KeystackError } from '../secrets/errors.js';

export interface Output {
  readonly json: boolean;
  readonly stdoutIsTTY: boolean;
  /** Remembers values to mask in diagnostics. */
  sensitive(values: Iterable<string>): void;
  /** Writes a command's result. `text` is used unless --json. */
  result(data: unknown, text?: string): void;
  /** Raw bytes for scripts (`secret get --key`), unmasked by design. */
  raw(value: string): void;
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

/** stdout as the output module needs it; `isTTY` is absent, not false, on a pipe or file. */
type OutStream = NodeJS.WritableStream & { isTTY?: boolean | undefined; destroyed?: boolean | undefined };

export function createOutput(json: boolean, streams: { out: OutStream; err: NodeJS.WritableStream } = { out: process.stdout, err: process.stderr }): Output {
  const secrets = new Set<string>();
  const mask = (s: string) => {
    let out = s;
    for (const v of secrets) if (v.length >= 3) out = out.split(v).join('***');
    return out;
  };
  const stderr = (s: string) => streams.err.write(mask(s) + '\n');
  let failure: WriteFailure | undefined;
  let writingResult = false;
  const failed = (e: Error | null | undefined) => {
    if (e) failure ??= { code: (e as NodeJS.ErrnoException).code ?? 'error', duringResult: writingResult };
  };
  // Also catches failed writes that do not come from here (a step's console.log).
  streams.out.on('error', failed);
  const stdout = (s: string) => {
    writingResult = true;
    streams.out.write(s, failed);
  };
  return {
    json,
    stdoutIsTTY: Boolean(streams.out.isTTY),
    sensitive(values) {
      for (const v of values) if (v) secrets.add(v);
    },
    result(data, text) {
      if (json) stdout(JSON.stringify(data, null, 2) + '\n');
      else if (text !== undefined && text !== '') stdout(text.endsWith('\n') ? text : text + '\n');
    },
    raw(value) {
      stdout(value);
    },
    note(message) {
      if (!json) stderr(message);
    },
    warn(message) {
      stderr(`Warning: ${message}`);
    },
    error(err, debug) {
      const info = describeError(err);
      // With stdout gone, the error can only be told on stderr.
      if (json && !failure) {
        stdout(mask(JSON.stringify({ error: info }, null, 2)) + '\n');
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

export function describeError(err: unknown): ErrorInfo {
  if (isKeystackError(err)) {
    const info: ErrorInfo = { code: err.code, message: oneLine(err.message) };
    if (err.hint) info.hint = oneLine(err.hint);
    const issues = (err as { issues?: unknown }).issues;
    if (Array.isArray(issues)) info['issues'] = issues;
    return info;
  }
  const code = (err as { code?: unknown })?.code;
  if (code === 'EPIPE') return { code: 'io', message: 'output closed early' };
  const message = err instanceof Error ? err.message : String(err);
  return {
    code: 'internal',
    message: `unexpected ${err instanceof Error ? err.name : 'error'}: ${oneLine(message)}`,
    hint: 'This is a bug in keystack. Run again with KEYSTACK_DEBUG=1 for the stack trace and report it.',
  };
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
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
  return [...first].length;
}
