/**
 * Turning command-line input into secret values: `--KEY=VALUE` arguments, `@FILE`, `@-` (stdin),
 * `@generate:N` (a random value), `@@` (a literal `@`), and hidden interactive prompts.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { InputError, UsageError } from '../errors.js';

/** Reading more than this from a file or stdin is refused before any backend limit applies. */
export const MAX_INPUT_BYTES = 1024 * 1024;

export interface ParsedArgs {
  /** Positional arguments, in order. */
  positionals: string[];
  /** `--KEY=VALUE` pairs, in order; a repeated key keeps its last value. */
  pairs: Map<string, string>;
}

const KEY_ARG = /^--([^=\s]+)=([\s\S]*)$/u;

/** Splits commander's pass-through arguments into positionals and `--KEY=VALUE` pairs. */
export function parseExtraArgs(args: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const pairs = new Map<string, string>();
  for (const a of args) {
    if (a === '--') continue;
    const m = KEY_ARG.exec(a);
    if (m && m[1] !== undefined && m[2] !== undefined) {
      // Collected into plain objects later, where this key would silently vanish.
      if (m[1] === '__proto__') throw new UsageError("'--__proto__' cannot be used as a key", 'Pick another key name.');
      pairs.set(m[1], m[2]);
    } else if (a.startsWith('-') && a.length > 1) {
      throw new UsageError(
        `unexpected option '${a.split('=')[0]}'`,
        'Secret values are given as --KEY=VALUE (with the equals sign), --KEY=@FILE or --KEY=@-.',
      );
    } else {
      positionals.push(a);
    }
  }
  return { positionals, pairs };
}

export interface ValueSources {
  /** Standard input, as bytes (at most MAX_INPUT_BYTES; see readStdin). */
  readStdin: () => Buffer;
}

/**
 * Paths that name this process's standard input. They read the same stream as `@-`, so they
 * follow its rules (one trailing line ending stripped, at most one key).
 */
const STDIN_PATHS = new Set(['-', '/dev/stdin', '/proc/self/fd/0', '/dev/fd/0']);

/**
 * Expands `@FILE`, `@-` and `@@` in argument values. At most one value may come from stdin.
 * `@FILE` keeps the file's bytes exactly; `@-` strips exactly one trailing line ending (as
 * `docker login --password-stdin` does) and refuses empty input. Values must be UTF-8 text.
 */
export function expandValues(
  pairs: ReadonlyMap<string, string>,
  sources: ValueSources = { readStdin },
): Record<string, string> {
  // A usage mistake is reported before anything is read.
  const fromStdin = [...pairs].filter(([, v]) => isStdinValue(v)).map(([k]) => k);
  if (fromStdin.length > 1)
    throw new UsageError(
      `both --${fromStdin[0]} and --${fromStdin[1]} read standard input`,
      'Only one key can use @- (or @/dev/stdin); read the others from files.',
    );
  const out: Record<string, string> = {};
  for (const [key, value] of pairs)
    out[key] = isStdinValue(value) ? stdinValue(key, sources.readStdin()) : expandValue(key, value);
  return out;
}

/** Whether an argument value reads standard input (`@-`, `@/dev/stdin`, …). */
export function isStdinValue(value: string): boolean {
  return value.startsWith('@') && !value.startsWith('@@') && STDIN_PATHS.has(value.slice(1));
}

/** The text of `@-`: UTF-8, without one trailing "\n" or "\r\n", and not empty. */
export function stdinValue(key: string, bytes: Buffer): string {
  const text = decodeUtf8(key, bytes, 'standard input');
  const value = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
  if (value === '') {
    throw new InputError(
      `standard input for '${key}' is empty`,
      `Pipe the value in, e.g. \`printf %s "$VALUE" | keystack secret register NAME --${key}=@-\`; for an empty value pass --${key}= instead.`,
    );
  }
  return value;
}

/**
 * `@@x` → `@x`; `@generate[:N[:ALPHABET]]` → a random value; `@path` → the file's contents, byte
 * for byte; anything else unchanged.
 */
export function expandValue(key: string, value: string): string {
  if (value.startsWith('@@')) return value.slice(1);
  if (!value.startsWith('@') || value === '@') return value;
  if (GENERATE.test(value)) return generateValue(key, value);
  if (isStdinValue(value)) {
    throw new InputError(
      `the value of '${key}' cannot be read from standard input here`,
      'Type the value, or give @FILE; @- works only in --KEY=@- arguments.',
    );
  }
  const file = resolve(expandHome(value.slice(1)));
  return decodeUtf8(
    key,
    readBoundedFile(
      file,
      `the value of '${key}'`,
      'Check the path after @, or write @@ for a value that starts with a literal @.',
    ),
    file,
  );
}

/** The alphabets of `@generate:N:ALPHABET`; the first is the default. */
export const GENERATE_ALPHABETS = {
  alnum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  hex: '0123456789abcdef',
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  // Printable ASCII without the space: '!' (0x21) to '~' (0x7e).
  ascii: Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join(''),
} as const;

export type GenerateAlphabet = keyof typeof GENERATE_ALPHABETS;

export const GENERATE_DEFAULT_LENGTH = 32;
export const GENERATE_MAX_LENGTH = 4096;

/** `@generate`, `@generate:N`, `@generate:N:ALPHABET` (and malformed tails, which are reported). */
const GENERATE = /^@generate(?::|$)/u;

/**
 * `@generate[:N[:ALPHABET]]`: N characters (default 32) drawn from `crypto.randomBytes`. A byte
 * is used only when it is below the largest multiple of the alphabet's size that fits in a byte,
 * so every character is equally likely (no modulo bias). Errors name the spec, never a value.
 */
export function generateValue(key: string, spec: string): string {
  const [, lengthText = String(GENERATE_DEFAULT_LENGTH), alphabetName = 'alnum', ...extra] = spec.split(':');
  const usage = `Write @generate:N or @generate:N:ALPHABET, e.g. --${key}=@generate:32:hex (N from 1 to ${GENERATE_MAX_LENGTH}; ALPHABET one of ${Object.keys(GENERATE_ALPHABETS).join(', ')}; default 32 alnum). For a file named like this, write @./${spec.slice(1)}.`;
  if (extra.length > 0) throw new UsageError(`'${spec}' for '${key}' has too many parts`, usage);
  const length = /^[0-9]+$/u.test(lengthText) ? Number(lengthText) : Number.NaN;
  if (!(length >= 1 && length <= GENERATE_MAX_LENGTH))
    throw new UsageError(
      `the length in '${spec}' for '${key}' must be a whole number from 1 to ${GENERATE_MAX_LENGTH}`,
      usage,
    );
  if (!Object.hasOwn(GENERATE_ALPHABETS, alphabetName))
    throw new UsageError(`unknown alphabet '${alphabetName}' in '${spec}' for '${key}'`, usage);
  return randomString(length, GENERATE_ALPHABETS[alphabetName as GenerateAlphabet]);
}

/** `length` characters of `alphabet` (at most 256 characters), each equally likely. */
export function randomString(length: number, alphabet: string, bytes: (n: number) => Buffer = randomBytes): string {
  const size = alphabet.length;
  const limit = 256 - (256 % size);
  let out = '';
  while (out.length < length) {
    for (const b of bytes(Math.max(16, (length - out.length) * 2))) {
      if (b >= limit) continue;
      out += alphabet.charAt(b % size);
      if (out.length === length) break;
    }
  }
  return out;
}

function expandHome(path: string): string {
  return path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

/**
 * Secret values are text. Decoding bytes that are not UTF-8 would replace them (32 random
 * bytes would come back as 60 different ones), so they are refused instead.
 */
function decodeUtf8(key: string, bytes: Buffer, from: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InputError(
      `the value of '${key}' from ${from} is not valid UTF-8 text; keystack stores text and would alter these bytes`,
      `Store binary data as text, e.g. \`base64 -w0 FILE | keystack secret register NAME --${key}=@-\`, and decode it when you read it.`,
    );
  }
}

/**
 * Reads a file of any kind (regular file, FIFO, character device, terminal) through its fd,
 * reading at most `limit + 1` bytes: the size a file reports is not what it yields (`/dev/zero`
 * reports 0 and never ends, a FIFO reports 0), so only bytes actually read are counted.
 */
export function readBoundedFile(file: string, what: string, hint: string, limit = MAX_INPUT_BYTES): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new InputError(`cannot read ${what} from ${file} (${errCode(e)})`, hint);
  }
  try {
    if (fstatSync(fd).isDirectory())
      throw new InputError(
        `${what} names ${file}, which is a directory`,
        'Give the path of a file, or write @@ for a value that starts with a literal @.',
      );
    return readBounded(
      fd,
      limit,
      () =>
        new InputError(
          `${what} from ${file} is over ${limit} bytes, the most keystack reads`,
          'Store large files elsewhere (an artifact store) and keep only a reference or credential here.',
        ),
    );
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot read ${what} from ${file} (${errCode(e)})`, 'Check that the file is readable.');
  } finally {
    closeSync(fd);
  }
}

/** Standard input as bytes, at most MAX_INPUT_BYTES. */
export function readStdin(): Buffer {
  try {
    return readBounded(
      0,
      MAX_INPUT_BYTES,
      () =>
        new InputError(
          `standard input is over ${MAX_INPUT_BYTES} bytes, the most keystack reads`,
          'Store large files elsewhere and keep only a reference or credential here.',
        ),
    );
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(
      `cannot read standard input (${errCode(e)})`,
      'Pipe the value in, e.g. `printf %s "$VALUE" | keystack ...`.',
    );
  }
}

function readBounded(fd: number, limit: number, tooLarge: () => InputError): Buffer {
  const buf = Buffer.alloc(limit + 1);
  let total = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, total, buf.length - total, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A non-blocking stdin (inherited from a parent) has no data yet: wait for it.
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 5);
        continue;
      }
      if (code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    total += n;
    if (total > limit) throw tooLarge();
  }
  return buf.subarray(0, total);
}

const pause = new Int32Array(new SharedArrayBuffer(4));

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'error';
}

/** Hidden and visible prompts; @inquirer/prompts is loaded only when a prompt is shown. */
export interface Prompter {
  secret(message: string): Promise<string>;
  text(message: string): Promise<string>;
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
}

/** Input ended at a prompt (Ctrl-D, or the terminal went away) before it was answered. */
export class PromptClosedError extends InputError {
  constructor() {
    super(
      'input ended at a prompt (Ctrl-D): aborted; nothing was changed or deleted',
      'Answer the prompt, or pass the values as arguments (and -y to skip confirmations).',
    );
  }
}

/** Prompts waiting for an answer; see cancelPendingPrompts. */
const pending = new Set<{ cancel(): void }>();

/**
 * Cancels the prompts that wait for input which can no longer come: when the input closes
 * (Ctrl-D), inquirer's prompt neither resolves nor rejects, so the process would just end.
 * Returns whether there was one.
 */
export function cancelPendingPrompts(): boolean {
  const had = pending.size > 0;
  for (const p of pending) p.cancel();
  pending.clear();
  return had;
}

async function answer<T>(p: Promise<T> & { cancel(): void }): Promise<T> {
  pending.add(p);
  try {
    return await p;
  } catch (e) {
    if ((e as Error | null)?.name === 'CancelPromptError') throw new PromptClosedError();
    throw e;
  } finally {
    pending.delete(p);
  }
}

export function terminalPrompter(): Prompter {
  const lib = () => import('@inquirer/prompts');
  const guard = () => {
    if (!process.stdin.isTTY) {
      throw new UsageError(
        'this needs an interactive terminal',
        'Pass values as --KEY=VALUE, --KEY=@FILE or --KEY=@- instead of -i, or -y to skip confirmations.',
      );
    }
  };
  return {
    async secret(message) {
      guard();
      return answer((await lib()).password({ message, mask: false }));
    },
    async text(message) {
      guard();
      return answer((await lib()).input({ message }));
    },
    async confirm(message, defaultValue = false) {
      guard();
      return answer((await lib()).confirm({ message, default: defaultValue }));
    },
  };
}
