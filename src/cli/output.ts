/**
 * The only module that writes to stdout and stderr. In `--json` mode stdout carries exactly one
 * JSON document (a result or an error); otherwise results are human text and errors go to stderr.
 * Diagnostics (errors, warnings, notes) are masked against every secret value this process has
 * seen, so a value that slips into a message is never printed.
 */
import { isKeystackError } from '../secrets/errors.js';

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
}

export function createOutput(json: boolean, streams = { out: process.stdout, err: process.stderr }): Output {
  const secrets = new Set<string>();
  const mask = (s: string) => {
    let out = s;
    for (const v of secrets) if (v.length >= 3) out = out.split(v).join('***');
    return out;
  };
  const stderr = (s: string) => streams.err.write(mask(s) + '\n');
  return {
    json,
    stdoutIsTTY: Boolean(streams.out.isTTY),
    sensitive(values) {
      for (const v of values) if (v) secrets.add(v);
    },
    result(data, text) {
      if (json) streams.out.write(JSON.stringify(data, null, 2) + '\n');
      else if (text !== undefined && text !== '') streams.out.write(text.endsWith('\n') ? text : text + '\n');
    },
    raw(value) {
      streams.out.write(value);
    },
    note(message) {
      if (!json) stderr(message);
    },
    warn(message) {
      stderr(`Warning: ${message}`);
    },
    error(err, debug) {
      const info = describeError(err);
      if (json) {
        streams.out.write(mask(JSON.stringify({ error: info }, null, 2)) + '\n');
      } else {
        stderr(`Error: ${info.message}`);
        if (info.hint) stderr(`Hint: ${info.hint}`);
      }
      if (debug && err instanceof Error && err.stack) stderr(err.stack);
    },
  };
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
