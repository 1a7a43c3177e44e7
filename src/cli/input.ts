/**
 * Turning command-line input into secret values: `--KEY=VALUE` arguments, `@FILE`, `@-` (stdin),
 * `@@` (a literal `@`), and hidden interactive prompts.
 */
import { readFileSync, readSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { InputError, UsageError } from '../secrets/errors.js';

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
      throw new UsageError(`unexpected option '${a.split('=')[0]}'`, 'Secret values are given as --KEY=VALUE (with the equals sign), --KEY=@FILE or --KEY=@-.');
    } else {
      positionals.push(a);
    }
  }
  return { positionals, pairs };
}

export interface ValueSources {
  readStdin: () => string;
}

/** Expands `@FILE`, `@-` and `@@` in argument values. At most one value may come from stdin. */
export function expandValues(pairs: ReadonlyMap<string, string>, sources: ValueSources = { readStdin }): Record<string, string> {
  const out: Record<string, string> = {};
  let stdinKey: string | undefined;
  for (const [key, value] of pairs) {
    if (value === '@-') {
      if (stdinKey !== undefined) throw new UsageError(`both --${stdinKey} and --${key} read standard input`, 'Only one key can use @-; read the others from files.');
      stdinKey = key;
      out[key] = sources.readStdin();
    } else {
      out[key] = expandValue(key, value);
    }
  }
  return out;
}

/** `@@x` → `@x`; `@path` → the file's contents; anything else unchanged. */
export function expandValue(key: string, value: string): string {
  if (value.startsWith('@@')) return value.slice(1);
  if (!value.startsWith('@') || value === '@') return value;
  return readValueFile(key, value.slice(1));
}

function readValueFile(key: string, path: string): string {
  const file = resolve(path.startsWith('~/') ? homedir() + path.slice(1) : path);
  let size: number;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new InputError(`the value of '${key}' names ${file}, which is a directory`, 'Give the path of a file, or write @@ for a value that starts with a literal @.');
    size = st.size;
  } catch (e) {
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new InputError(`cannot read the value of '${key}' from ${file} (${code})`, 'Check the path after @, or write @@ for a value that starts with a literal @.');
  }
  if (size > MAX_INPUT_BYTES) throw new InputError(`the value of '${key}' from ${file} is ${size} bytes; the most keystack reads is ${MAX_INPUT_BYTES}`);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read the value of '${key}' from ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, 'Check that the file is readable.');
  }
}

export function readStdin(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  let total = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync0(buf);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EOF') break;
      throw new InputError(`cannot read standard input (${code ?? 'error'})`);
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_INPUT_BYTES) throw new InputError(`standard input is over ${MAX_INPUT_BYTES} bytes`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function readSync0(buf: Buffer): number {
  return readSync(0, buf, 0, buf.length, null);
}

/** Hidden and visible prompts; @inquirer/prompts is loaded only when a prompt is shown. */
export interface Prompter {
  secret(message: string): Promise<string>;
  text(message: string): Promise<string>;
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
}

export function terminalPrompter(): Prompter {
  const lib = () => import('@inquirer/prompts');
  const guard = () => {
    if (!process.stdin.isTTY) {
      throw new UsageError('this needs an interactive terminal', 'Pass values as --KEY=VALUE, --KEY=@FILE or --KEY=@- instead of -i, or -y to skip confirmations.');
    }
  };
  return {
    async secret(message) {
      guard();
      return (await lib()).password({ message, mask: false });
    },
    async text(message) {
      guard();
      return (await lib()).input({ message });
    },
    async confirm(message, defaultValue = false) {
      guard();
      return (await lib()).confirm({ message, default: defaultValue });
    },
  };
}
