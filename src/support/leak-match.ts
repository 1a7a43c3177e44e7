/**
 * The leak guard's and `keystack scan`'s matcher: every form of every known secret value, found
 * in one pass over bytes (text or binary).
 *
 * Thousands of patterns (1,000 secrets in about 10 forms each) rule out one regex or one
 * `indexOf` per pattern. An Aho–Corasick automaton in JS measured about 15 MB/s here, slower than
 * `grep -F -f`. This matcher instead reads 4 bytes at every few positions as one integer, drops it
 * unless its bit is set in a 2 Mbit filter of the patterns' 4-byte groups (a few percent of
 * positions pass on real text), and only then compares the candidate patterns byte by byte.
 */

/** A pattern and what it stands for (the secret, key and encoding it is a form of). */
export interface Needle<T> {
  text: string;
  tag: T;
}

/** One occurrence: byte offsets into the scanned buffer, end exclusive. */
export interface Match<T> {
  start: number;
  end: number;
  tag: T;
}

/** Patterns shorter than this cannot be matched (the filter reads 4 bytes). */
export const MIN_NEEDLE_BYTES = 4;

const FILTER_BITS = 21;

interface Entry<T> {
  bytes: Uint8Array;
  tag: T;
  /** Where in the pattern the indexed 4 bytes sit. */
  offset: number;
  /** The pattern's last 4 bytes: one comparison rules out most candidates that share the indexed ones. */
  tail: number;
}

/**
 * A crowded bucket (many patterns share 4 bytes, such as the hex of a common prefix), split by
 * the 4 bytes next to the indexed ones: those after them (`ahead`) or, near a pattern's end,
 * before them (`behind`). Either sits at the same place in the text for every entry (i + 4 and
 * i - 4), so one lookup each replaces a comparison per entry.
 */
interface Split<T> {
  ahead: Map<number, Entry<T>[]>;
  behind: Map<number, Entry<T>[]>;
  /** Patterns under 8 bytes, which have no 4 bytes beside the indexed ones. */
  rest: Entry<T>[];
}

/** Buckets longer than this are split. */
const CROWDED = 8;

export class MultiMatcher<T> {
  readonly #filter = new Uint8Array(1 << (FILTER_BITS - 3));
  /** 4 bytes (as read by `quadAt`) → the patterns holding them at one of the first `#stride` offsets. */
  readonly #byQuad = new Map<number, Entry<T>[] | Split<T>>();
  readonly #size: number;
  /**
   * Only every `#stride`-th position of the text is looked up. Every pattern is at least
   * `#stride + 3` bytes long, so each occurrence covers one looked-up position within its first
   * `#stride` bytes, and each pattern is indexed at each of those offsets. With the leak guard's
   * minimum of 8 characters this reads a fifth of the positions.
   */
  readonly #stride: number;

  /** Throws a RangeError for a pattern under MIN_NEEDLE_BYTES bytes; the same text twice keeps both tags. */
  constructor(needles: Iterable<Needle<T>>) {
    const all: { bytes: Uint8Array; tag: T }[] = [];
    let shortest = Number.POSITIVE_INFINITY;
    for (const { text, tag } of needles) {
      const bytes = Buffer.from(text, 'utf8');
      if (bytes.length < MIN_NEEDLE_BYTES)
        throw new RangeError(`a pattern must be at least ${MIN_NEEDLE_BYTES} bytes long`);
      shortest = Math.min(shortest, bytes.length);
      all.push({ bytes, tag });
    }
    this.#size = all.length;
    this.#stride = all.length === 0 ? 1 : shortest - MIN_NEEDLE_BYTES + 1;
    for (const { bytes, tag } of all) {
      const tail = quadAt(bytes, bytes.length - MIN_NEEDLE_BYTES);
      for (let offset = 0; offset < this.#stride; offset++) {
        const quad = quadAt(bytes, offset);
        const h = hash(quad);
        this.#filter[h >>> 3] = (this.#filter[h >>> 3] ?? 0) | (1 << (h & 7));
        const entry = { bytes, tag, offset, tail };
        const list = this.#byQuad.get(quad) as Entry<T>[] | undefined;
        if (list) list.push(entry);
        else this.#byQuad.set(quad, [entry]);
      }
    }
    for (const [quad, list] of this.#byQuad) {
      if (Array.isArray(list) && list.length > CROWDED) this.#byQuad.set(quad, split(list));
    }
  }

  /** How many patterns it holds. */
  get size(): number {
    return this.#size;
  }

  /** Every occurrence of every pattern in `hay`, by start offset (overlapping ones included). */
  *scan(hay: Uint8Array): Generator<Match<T>> {
    const found: Match<T>[] = [];
    for (let from = 0; from < hay.length; ) {
      from = this.#collect(hay, from, found);
      yield* found;
      found.length = 0;
    }
  }

  /**
   * The occurrences in `hay` found from position `from` on, added to `found`, until some are
   * found (so that a caller who wants the first stops early); returns where to go on from. A
   * plain loop: a generator's step per position costs more than the lookups.
   */
  #collect(hay: Uint8Array, from: number, found: Match<T>[]): number {
    if (this.#size === 0) return hay.length;
    const filter = this.#filter;
    const stride = this.#stride;
    const byQuad = this.#byQuad;
    const last = hay.length - MIN_NEEDLE_BYTES;
    for (let i = from; i <= last; i += stride) {
      const quad = quadAt(hay, i);
      const h = hash(quad);
      if (((filter[h >>> 3] ?? 0) & (1 << (h & 7))) === 0) continue;
      const bucket = byQuad.get(quad);
      if (!bucket) continue;
      if (Array.isArray(bucket)) verify(hay, i, bucket, found);
      else {
        verify(hay, i, bucket.rest, found);
        const ahead = i + 8 <= hay.length ? bucket.ahead.get(quadAt(hay, i + 4)) : undefined;
        if (ahead) verify(hay, i, ahead, found);
        const behind = i >= 4 ? bucket.behind.get(quadAt(hay, i - 4)) : undefined;
        if (behind) verify(hay, i, behind, found);
      }
      if (found.length > 0) {
        // Occurrences found here start in (i - stride, i], after all those found at earlier positions.
        if (found.length > 1) found.sort((a, b) => a.start - b.start);
        return i + stride;
      }
    }
    return hay.length;
  }

  /** The first occurrence in `hay`, or undefined when there is none. */
  first(hay: Uint8Array): Match<T> | undefined {
    for (const m of this.scan(hay)) return m;
    return undefined;
  }
}

/** The entries of a bucket that occur with their indexed 4 bytes at `i`, added to `found`. */
function verify<T>(hay: Uint8Array, i: number, entries: readonly Entry<T>[], found: Match<T>[]): void {
  for (const { bytes, tag, offset, tail } of entries) {
    const start = i - offset;
    const end = start + bytes.length;
    if (start < 0 || end > hay.length || quadAt(hay, end - MIN_NEEDLE_BYTES) !== tail) continue;
    if (startsAt(hay, start, bytes)) found.push({ start, end, tag });
  }
}

function split<T>(list: readonly Entry<T>[]): Split<T> {
  const s: Split<T> = { ahead: new Map(), behind: new Map(), rest: [] };
  const add = (m: Map<number, Entry<T>[]>, key: number, e: Entry<T>) => {
    const l = m.get(key);
    if (l) l.push(e);
    else m.set(key, [e]);
  };
  for (const e of list) {
    if (e.offset + 8 <= e.bytes.length) add(s.ahead, quadAt(e.bytes, e.offset + 4), e);
    else if (e.offset >= 4) add(s.behind, quadAt(e.bytes, e.offset - 4), e);
    else s.rest.push(e);
  }
  return s;
}

function quadAt(b: Uint8Array, i: number): number {
  return ((b[i] ?? 0) | ((b[i + 1] ?? 0) << 8) | ((b[i + 2] ?? 0) << 16) | ((b[i + 3] ?? 0) << 24)) >>> 0;
}

function hash(quad: number): number {
  return Math.imul(quad, 0x9e3779b1) >>> (32 - FILTER_BITS);
}

/** Whether `needle` is at `i` (the caller checked that it fits). */
function startsAt(hay: Uint8Array, i: number, needle: Uint8Array): boolean {
  for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) return false;
  return true;
}

/** How a value appears in a form the guard and `scan` look for. */
export type LeakEncoding = 'raw' | 'line' | 'json' | 'base64' | 'base64url' | 'url' | 'hex';

export interface LeakForm {
  form: string;
  encoding: LeakEncoding;
}

/** Values (and lines of values) shorter than this are not looked for by default. */
export const DEFAULT_MIN_LEAK_LENGTH = 8;

/**
 * The forms of `value` to look for, each once (the first encoding that produces a text names
 * it): the value; each line of a multi-line value, also trimmed; JSON-string-escaped (once, and
 * twice for JSON inside JSON); base64 and base64url with and without padding, and the middle of
 * its base64 that stays the same inside a longer base64 text; URL-encoded (encodeURIComponent and
 * form encoding); hex in lower and upper case. A value or line shorter than `minLength`
 * characters contributes nothing.
 */
export function leakForms(value: string, minLength = DEFAULT_MIN_LEAK_LENGTH): LeakForm[] {
  const out = new Map<string, LeakEncoding>();
  const add = (form: string, encoding: LeakEncoding): void => {
    if (Buffer.byteLength(form) >= MIN_NEEDLE_BYTES && !out.has(form)) out.set(form, encoding);
  };
  const bases: [string, 'raw' | 'line'][] = [];
  if (value.length >= minLength) bases.push([value, 'raw']);
  if (/[\r\n]/.test(value)) {
    for (const line of value.split(/\r\n|\r|\n/)) {
      for (const l of [line, line.trim()]) if (l.length >= minLength) bases.push([l, 'line']);
    }
  }
  for (const [base, kind] of bases) {
    add(base, kind);
    const json = JSON.stringify(base).slice(1, -1);
    add(json, 'json');
    add(JSON.stringify(json).slice(1, -1), 'json');
    const bytes = Buffer.from(base, 'utf8');
    const b64 = bytes.toString('base64');
    add(b64, 'base64');
    add(b64.replace(/=+$/, ''), 'base64');
    add(toUrl(b64), 'base64url');
    add(toUrl(b64).replace(/=+$/, ''), 'base64url');
    for (const core of embeddedBase64(bytes, minLength)) {
      add(core, 'base64');
      add(toUrl(core), 'base64url');
    }
    add(encodeURIComponent(base), 'url');
    add(new URLSearchParams({ v: base }).toString().slice(2), 'url');
    const hex = bytes.toString('hex');
    add(hex, 'hex');
    add(hex.toUpperCase(), 'hex');
  }
  return [...out].map(([form, encoding]) => ({ form, encoding }));
}

/**
 * The characters of the value's base64 that stay the same wherever the value sits inside a
 * longer base64 text: for each of the three alignments, the groups made only of the value's bits.
 */
function embeddedBase64(bytes: Buffer, minLength: number): string[] {
  const out: string[] = [];
  for (let shift = 1; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    const whole = Math.floor(padded.length / 3) * 4;
    // With one leading byte the first 2 characters carry its bits, with two the first 3.
    const core = padded.toString('base64').slice(shift + 1, whole);
    if (core.length >= minLength) out.push(core);
  }
  // Aligned at a multiple of 3 bytes, the value's own base64 without its last partial group.
  const aligned = bytes.toString('base64').slice(0, Math.floor(bytes.length / 3) * 4);
  if (aligned.length >= minLength) out.push(aligned);
  return out;
}

function toUrl(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_');
}
