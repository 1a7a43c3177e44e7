/**
 * The leak guard: what a step would leave in the run's history (its output, its parameters, its
 * error text) is checked, before any of it is stored, against every value delivered to the run,
 * in every form `leakForms` knows. It runs in the process that stores the step's result: the
 * runner for `local` and `local_process`, the worker for remote steps (a step child only sends).
 *
 * One MultiMatcher per run and minimum length, rebuilt only when the run was given new values.
 */
import { SecretLeakError } from '../errors.js';
import type { DeliveredValue } from '../stack/references.js';
import { DEFAULT_MIN_LEAK_LENGTH, leakForms, MultiMatcher, type LeakEncoding } from '../support/leak-match.js';
import type { StepNode } from './step.js';

export { DEFAULT_MIN_LEAK_LENGTH };

/** What a match stands for. */
export interface LeakTag {
  secret: string;
  key: string;
  encoding: LeakEncoding;
}

/** Where the run's values come from: the run's ReferenceResolver. */
export interface DeliveredSource {
  delivered(): DeliveredValue[];
  readonly deliveredCount: number;
}

/** What the guard checks of one step. */
export interface StepLeakCheck {
  stepName: string;
  /** The step's output (undefined: none to check, e.g. the step failed). */
  output?: unknown;
  /**
   * The bytes the artifact store will write for `output` (`encodeArtifact(output).json`). Given,
   * the guard scans them once instead of gathering every field of the output first, and names
   * the field only after a hit.
   */
  stored?: Uint8Array | undefined;
  /** The step's parameters as the run history keeps them. */
  params?: Readonly<Record<string, unknown>> | undefined;
  /** The step's error text, unmasked. */
  error?: string | undefined;
  /** The step's `allowSecretOutputs` (outputs only). */
  allowSecretOutputs?: readonly string[] | undefined;
}

/** Counters, for the benchmark and the docs' cost figure. */
export interface LeakGuardStats {
  patterns: number;
  bytesScanned: number;
  builds: number;
}

export class LeakGuard {
  readonly #source: DeliveredSource;
  readonly minLength: number;
  #matcher: MultiMatcher<LeakTag> = new MultiMatcher([]);
  #builtAt = 0;
  readonly stats: LeakGuardStats = { patterns: 0, bytesScanned: 0, builds: 0 };

  constructor(source: DeliveredSource, minLength: number = DEFAULT_MIN_LEAK_LENGTH) {
    this.#source = source;
    this.minLength = minLength;
  }

  /** The matcher of every form of every value delivered so far. */
  matcher(): MultiMatcher<LeakTag> {
    if (this.#source.deliveredCount !== this.#builtAt) {
      this.#builtAt = this.#source.deliveredCount;
      const needles: { text: string; tag: LeakTag }[] = [];
      for (const { secret, key, value } of this.#source.delivered()) {
        for (const { form, encoding } of leakForms(value, this.minLength))
          needles.push({ text: form, tag: { secret, key, encoding } });
      }
      this.#matcher = new MultiMatcher(needles);
      this.stats.patterns = this.#matcher.size;
      this.stats.builds++;
    }
    return this.#matcher;
  }

  /** The first leak in what the step would store, or undefined when there is none. Never throws it. */
  check(c: StepLeakCheck): SecretLeakError | undefined {
    const matcher = this.matcher();
    if (matcher.size === 0) return undefined;
    const allow = c.allowSecretOutputs ?? [];
    const allowed = (t: LeakTag) => allow.includes(t.secret) || allow.includes(`${t.secret}.${t.key}`);
    const found = (where: string, t: LeakTag) => new SecretLeakError(c.stepName, where, t.secret, t.key, t.encoding);
    // One pass over everything first; the walk that names the field runs only after a hit.
    if (c.output !== undefined) {
      const stored = c.stored === undefined ? undefined : this.#storedHit(matcher, c.output, c.stored, allowed);
      if (stored !== undefined || (c.stored === undefined && this.#anyHit(matcher, c.output, allowed))) {
        const hit = this.#walk(matcher, c.output, '$', allowed, new Set());
        if (hit) return found(hit.path === '$' ? 'output' : `output at ${hit.path}`, hit.tag);
        // What would be stored holds the value where no field does (a toJSON, say): still a leak.
        if (stored?.tag) return found('output', stored.tag);
      }
    }
    if (c.params && this.#anyHit(matcher, c.params, () => false)) {
      for (const [name, v] of Object.entries(c.params)) {
        const hit = this.#walk(matcher, v, '$', () => false, new Set());
        if (hit) return found(hit.path === '$' ? `parameter '${name}'` : `parameter '${name}' at ${hit.path}`, hit.tag);
      }
    }
    if (c.error !== undefined) {
      const tag = this.#scan(matcher, Buffer.from(c.error, 'utf8'), () => false);
      if (tag) return found('error', tag);
    }
    return undefined;
  }

  /**
   * Whether any text or bytes in `v` hold a form that is not allowed: its strings, numbers and
   * keys joined by NUL (no form of a value spans two fields then) and scanned once, and each
   * binary value scanned on its own. Scanning field by field costs a call per field.
   */
  #anyHit(matcher: MultiMatcher<LeakTag>, v: unknown, allowed: (t: LeakTag) => boolean): boolean {
    const texts: string[] = [];
    const binaries: Uint8Array[] = [];
    collect(v, texts, binaries, new Set());
    if (this.#scan(matcher, Buffer.from(texts.join('\0'), 'utf8'), allowed)) return true;
    return binaries.some((b) => this.#scan(matcher, b, allowed) !== undefined);
  }

  /**
   * Whether the stored bytes of the output, or one of its binary values (which JSON stores as
   * lists of numbers), hold a form that is not allowed; and, for the case where no field holds it
   * (a toJSON, say), the first such form that means the same in JSON text as in the value. A form
   * with a quote, a backslash or a control character can line up across JSON's own punctuation
   * and escapes by chance; its escaped form is a pattern of its own.
   */
  #storedHit(
    matcher: MultiMatcher<LeakTag>,
    output: unknown,
    stored: Uint8Array,
    allowed: (t: LeakTag) => boolean,
  ): { tag: LeakTag | undefined } | undefined {
    this.stats.bytesScanned += stored.length;
    let hit: { tag: LeakTag | undefined } | undefined;
    for (const m of matcher.scan(stored)) {
      if (allowed(m.tag)) continue;
      if (jsonSafe(stored, m.start, m.end)) return { tag: m.tag };
      hit = { tag: undefined };
    }
    if (hit) return hit;
    const binaries: Uint8Array[] = [];
    findBinaries(output, binaries, 0);
    for (const b of binaries) if (this.#scan(matcher, b, allowed)) return { tag: undefined };
    return undefined;
  }

  #scan(matcher: MultiMatcher<LeakTag>, bytes: Uint8Array, allowed: (t: LeakTag) => boolean): LeakTag | undefined {
    this.stats.bytesScanned += bytes.length;
    for (const m of matcher.scan(bytes)) if (!allowed(m.tag)) return m.tag;
    return undefined;
  }

  /** Field by field, so that the error names the path; keys are checked too. */
  #walk(
    matcher: MultiMatcher<LeakTag>,
    v: unknown,
    path: string,
    allowed: (t: LeakTag) => boolean,
    seen: Set<object>,
  ): { path: string; tag: LeakTag } | undefined {
    const text = scalarText(v);
    if (text !== undefined) {
      const tag = this.#scan(matcher, Buffer.from(text, 'utf8'), allowed);
      return tag && { path, tag };
    }
    if (typeof v !== 'object' || v === null || seen.has(v)) return undefined;
    const bytes = binaryBytes(v);
    if (bytes) {
      const tag = this.#scan(matcher, bytes, allowed);
      return tag && { path, tag };
    }
    seen.add(v);
    try {
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const hit = this.#walk(matcher, v[i], `${path}[${i}]`, allowed, seen);
          if (hit) return hit;
        }
        return undefined;
      }
      for (const [k, x] of Object.entries(v)) {
        const at = fieldPath(path, k);
        const keyTag = this.#scan(matcher, Buffer.from(k, 'utf8'), allowed);
        if (keyTag) return { path: `${at} (its name)`, tag: keyTag };
        const hit = this.#walk(matcher, x, at, allowed, seen);
        if (hit) return hit;
      }
      return undefined;
    } finally {
      seen.delete(v);
    }
  }
}

/** No quote, backslash or control character: bytes JSON text holds only inside a string as they are. */
function jsonSafe(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i] ?? 0;
    if (c === 0x22 || c === 0x5c || c < 0x20) return false;
  }
  return true;
}

/** Beyond this depth the walk stops looking and says there may be binaries (a cycle, say). */
const MAX_DEPTH = 200;

/**
 * The binary values in `v` (see binaryBytes), without gathering its texts: the stored JSON has
 * those. Cheaper than `collect` by far on outputs of many small fields. Too deep a structure
 * (a cycle) is handed to `collect`, which keeps track of what it has seen.
 */
function findBinaries(v: unknown, out: Uint8Array[], depth: number): void {
  if (typeof v !== 'object' || v === null) return;
  if (depth > MAX_DEPTH) {
    collect(v, [], out, new Set());
    return;
  }
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || maybeBinaryJson(v)) {
    const bytes = binaryBytes(v);
    if (bytes) {
      out.push(bytes);
      return;
    }
  }
  if (Array.isArray(v)) {
    for (const x of v) findBinaries(x, out, depth + 1);
    return;
  }
  // for…in also visits inherited enumerable keys: looking at more costs nothing here, and
  // checking each key's ownership cost a fifth of the walk.
  for (const k in v) findBinaries((v as Record<string, unknown>)[k], out, depth + 1);
}

/** Quick test before binaryBytes' full one: a Buffer's or typed array's JSON form. */
function maybeBinaryJson(v: object): boolean {
  return (v as { type?: unknown }).type === 'Buffer' || (!Array.isArray(v) && Object.hasOwn(v, '0'));
}

/** The texts (strings, numbers, object keys) and binary values in `v`, in walk order. */
function collect(v: unknown, texts: string[], binaries: Uint8Array[], seen: Set<object>): void {
  const text = scalarText(v);
  if (text !== undefined) {
    texts.push(text);
    return;
  }
  if (typeof v !== 'object' || v === null || seen.has(v)) return;
  const bytes = binaryBytes(v);
  if (bytes) {
    binaries.push(bytes);
    return;
  }
  seen.add(v);
  if (Array.isArray(v)) for (const x of v) collect(x, texts, binaries, seen);
  else
    for (const [k, x] of Object.entries(v)) {
      texts.push(k);
      collect(x, texts, binaries, seen);
    }
  seen.delete(v);
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  // A numeric secret (a PIN, an account number) returned as a number is the same digits.
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}

/**
 * The bytes of a binary value: a Buffer or typed array as the step returned it (in process), or
 * as JSON carried it from a step child (`{ type: 'Buffer', data: [...] }`, a typed array's
 * `{ "0": n, "1": n, … }`).
 */
function binaryBytes(v: object): Uint8Array | undefined {
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  const o = v as { type?: unknown; data?: unknown };
  if (o.type === 'Buffer' && Array.isArray(o.data) && o.data.every(isByte)) return Uint8Array.from(o.data as number[]);
  if (Array.isArray(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length >= 4 && keys.every((k, i) => k === String(i))) {
    const values = Object.values(v);
    if (values.every(isByte)) return Uint8Array.from(values as number[]);
  }
  return undefined;
}

function isByte(x: unknown): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 255;
}

function fieldPath(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

const guards = new WeakMap<DeliveredSource, Map<number, LeakGuard>>();

/** The run's guard: one per resolver (one resolver lives for one run) and minimum length. */
export function leakGuardFor(source: DeliveredSource, minLength: number = DEFAULT_MIN_LEAK_LENGTH): LeakGuard {
  let byLength = guards.get(source);
  if (!byLength) guards.set(source, (byLength = new Map<number, LeakGuard>()));
  let g = byLength.get(minLength);
  if (!g) byLength.set(minLength, (g = new LeakGuard(source, minLength)));
  return g;
}

/** A `--leak-min-length` / RunOptions.leakMinLength value checked: an integer of at least 1. */
export function isLeakMinLength(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 1_000_000;
}

/** The guard's check of one step node: its output or error, and its parameters. */
export function checkStep(
  guard: LeakGuard,
  node: StepNode,
  r: { output?: unknown; stored?: Uint8Array | undefined; error?: string | undefined },
): SecretLeakError | undefined {
  return guard.check({
    stepName: node.id,
    output: r.output,
    stored: r.stored,
    params: node.params,
    error: r.error,
    allowSecretOutputs: node.step.allowSecretOutputs,
  });
}

/** The leak was in the step's parameters: the run history drops them. */
export function leakInParams(e: unknown): boolean {
  return e instanceof SecretLeakError && e.where.startsWith('parameter');
}
