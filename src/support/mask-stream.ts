/**
 * Masking for a byte stream (a child's stdout under `keystack run --mask`), whatever the pace of
 * its writes: a value may arrive one character at a time, or in parts seconds apart.
 *
 * The rule, and the only one: the stream holds back the tail of what it has read that could
 * still be the start of a string the masker replaces (a value, a line of one, one of their
 * encodings, or a run of FRAGMENT_LENGTH or more characters of one), and passes the rest on,
 * masked, at once. A run already that long is held while it can go on (`mask` replaces the whole
 * run as one). The tail is released on the first character that rules it out, so there is no
 * timer: a prompt or a `\r` progress bar that cannot begin a value is written as it comes. The
 * tail is at most the longest pattern's length: a chain of overlapping matches longer than that
 * (a run of a value that a form of it continues, or a value repeated back to back) is cut there,
 * or after the matches that cross that point, and each side is masked on its own. The text is
 * decoded as UTF-8 (a character split across chunks is kept whole).
 *
 * How: the masker's patterns, sorted, are a trie without the nodes (the patterns that begin with
 * a string are a range of the array). Each suffix of the pending text that is a proper prefix of
 * a pattern is a live candidate; each character narrows every candidate's range (tables for the
 * first two characters, then a binary search on the character at the candidate's depth) and may
 * start a new one. Cost per character: O(c · log r), c the live candidates (one or two on
 * ordinary output, at most the longest pattern's length on text made of one value repeated), r
 * the patterns that share a candidate's first two characters (1 or 2 with hundreds of values).
 * Measured: `node bench/run.mjs mask-stream`. Memory: the masker's sorted array, the tables (one
 * 128×128 pair of arrays), the held tail and its candidates and matches.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Masker } from './masking.js';

/** A suffix of the pending text from `start` that begins each of `patterns[lo..hi)`. */
interface Candidate {
  start: number;
  lo: number;
  hi: number;
}

/** A whole pattern at `start..end` of the pending text. */
interface Match {
  start: number;
  end: number;
}

export class MaskingStream {
  readonly #masker: Masker;
  readonly #decoder = new StringDecoder('utf8');
  #patterns: readonly string[] = [];
  #longest = 0;
  /** For each first character, the range of the patterns that begin with it. */
  #first = new Map<number, { lo: number; hi: number }>();
  /** The same for ASCII, where a lookup is an array index (the scan does one per character). */
  #asciiFirst: ({ lo: number; hi: number } | undefined)[] = [];
  /**
   * For each first two characters (`c0 * 0x10000 + c1`), the range of the patterns that begin with
   * them: the widest ranges are one character deep, and a lookup beats a binary search there.
   */
  #second = new Map<number, { lo: number; hi: number }>();
  /** The same for two ASCII characters (`c0 * 128 + c1`), as arrays: `lo`, and `hi` (0: none). */
  #asciiSecondLo = new Int32Array(0);
  #asciiSecondHi = new Int32Array(0);
  /** Each pattern's length, in one array: reading it from the strings costs a cache miss each. */
  #lengths = new Int32Array(0);
  #pending = '';
  /**
   * The live candidates are the first `#live` of these, ordered by `start`; the objects past
   * them are kept for reuse, so the scan allocates nothing on most characters.
   */
  #candidates: Candidate[] = [];
  #live = 0;
  /** Ordered by `end`: every match that ends in the pending text. */
  #matches: Match[] = [];

  constructor(masker: Masker) {
    this.#masker = masker;
  }

  /** Whether text is held back, waiting for what follows it. */
  get holding(): boolean {
    return this.#pending !== '';
  }

  /** Takes a chunk; returns the masked text that is safe to pass on now (maybe ''). */
  push(chunk: Buffer | string): string {
    const from = this.#sync();
    this.#pending += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    this.#scan(from);
    return this.#take(this.#cut());
  }

  /** Everything held back, masked: at the end of the stream. */
  flush(): string {
    const from = this.#sync();
    this.#pending += this.#decoder.end();
    this.#scan(from);
    return this.#take(this.#pending.length);
  }

  /**
   * Picks up values the masker learnt since the last call (a new array), rescanning the held
   * tail against them; returns where the scan of new text starts.
   */
  #sync(): number {
    const patterns = this.#masker.patterns();
    if (patterns === this.#patterns) return this.#pending.length;
    this.#patterns = patterns;
    this.#longest = patterns.reduce((n, p) => Math.max(n, p.length), 0);
    this.#first = new Map();
    this.#second = new Map();
    // Sorted, so the patterns that begin alike are next to each other.
    for (const [i, p] of patterns.entries()) {
      widen(this.#first, p.charCodeAt(0), i);
      if (p.length > 1) widen(this.#second, p.charCodeAt(0) * 0x10000 + p.charCodeAt(1), i);
    }
    this.#asciiFirst = Array.from({ length: 128 }, (_, c) => this.#first.get(c));
    this.#asciiSecondLo = new Int32Array(128 * 128);
    this.#asciiSecondHi = new Int32Array(128 * 128);
    for (const [key, range] of this.#second) {
      const c0 = Math.floor(key / 0x10000);
      const c1 = key % 0x10000;
      if (c0 >= 128 || c1 >= 128) continue;
      this.#asciiSecondLo[c0 * 128 + c1] = range.lo;
      this.#asciiSecondHi[c0 * 128 + c1] = range.hi;
    }
    this.#lengths = Int32Array.from(patterns, (p) => p.length);
    this.#live = 0;
    this.#matches = [];
    return 0;
  }

  /** Moves every candidate over the pending text from `from` on, recording the matches. */
  #scan(from: number): void {
    const text = this.#pending;
    const patterns = this.#patterns;
    const candidates = this.#candidates;
    let live = this.#live;
    for (let i = from; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let kept = 0;
      for (let j = 0; j < live; j++) {
        const k = candidates[j];
        if (!k) continue;
        if (i - k.start === 1) {
          const c0 = text.charCodeAt(k.start);
          if (c0 < 128 && c < 128) {
            k.lo = this.#asciiSecondLo[c0 * 128 + c] ?? 0;
            k.hi = this.#asciiSecondHi[c0 * 128 + c] ?? 0;
            if (k.hi === 0) continue;
          } else {
            const range = this.#second.get(c0 * 0x10000 + c);
            if (!range) continue;
            k.lo = range.lo;
            k.hi = range.hi;
          }
        } else if (!narrow(patterns, k, i - k.start, c)) continue;
        if (!this.#goesOn(k, i + 1)) continue;
        // Swap, not copy: the dropped object stays past `kept` for reuse.
        candidates[j] = candidates[kept] ?? k;
        candidates[kept++] = k;
      }
      live = kept;
      const first = c < 128 ? this.#asciiFirst[c] : this.#first.get(c);
      if (first) {
        const k = candidates[live] ?? { start: 0, lo: 0, hi: 0 };
        k.start = i;
        k.lo = first.lo;
        k.hi = first.hi;
        candidates[live] = k;
        if (this.#goesOn(k, i + 1)) live++;
      }
    }
    this.#live = live;
  }

  /** Records `k` as a match if it is a whole pattern at `..end`; whether a longer one may follow. */
  #goesOn(k: Candidate, end: number): boolean {
    // The shortest pattern of a range sorts first; one as long as the candidate is that candidate.
    if (this.#lengths[k.lo] !== end - k.start) return true;
    this.#matches.push({ start: k.start, end });
    return k.hi - k.lo > 1;
  }

  /**
   * Where the text may be cut: before the earliest live candidate and every match it overlaps
   * (the run `mask` replaces as one may go on into the candidate: windows of a value overlap),
   * and not between the halves of a surrogate pair. A chain longer than the longest pattern (a
   * run of one value that an encoded form or the value itself continues) is cut at that length.
   */
  #cut(): number {
    const text = this.#pending;
    const first = this.#live > 0 ? this.#candidates[0] : undefined;
    if (!first) return text.length;
    let cut = first.start;
    for (;;) {
      // Ordered by end: from the last, each match that reaches past `cut` and starts before it.
      for (let i = this.#matches.length - 1; i >= 0; i--) {
        const m = this.#matches[i];
        if (!m || m.end <= cut) break;
        cut = Math.min(cut, m.start);
      }
      if (!splitsPair(text, cut)) break;
      cut--;
    }
    if (text.length - cut <= this.#longest) return cut;
    // Past the cap: cut at it, or after the matches that cross it. A match split in two could
    // show; a candidate that started inside a match and is given up only might become one.
    cut = text.length - this.#longest;
    for (;;) {
      let moved = cut;
      for (const m of this.#matches) if (m.start < moved && m.end > moved) moved = m.end;
      if (splitsPair(text, moved)) moved++;
      if (moved === cut) return cut;
      cut = moved;
    }
  }

  #take(n: number): string {
    const text = this.#pending.slice(0, n);
    // The scan sees every occurrence of every pattern, and `mask` changes nothing in text without
    // one: most output is passed on without a call (matches are ordered by end).
    const first = this.#matches[0];
    const masked = first !== undefined && first.end <= n ? this.#masker.mask(text) : text;
    this.#pending = this.#pending.slice(n);
    const candidates = this.#candidates;
    let kept = 0;
    for (let j = 0; j < this.#live; j++) {
      const k = candidates[j];
      if (!k || k.start < n) continue;
      k.start -= n;
      candidates[j] = candidates[kept] ?? k;
      candidates[kept++] = k;
    }
    this.#live = kept;
    this.#matches = this.#matches.filter((m) => m.end > n);
    for (const m of this.#matches) {
      m.start -= n;
      m.end -= n;
    }
    return masked;
  }
}

/**
 * Narrows `k` (every pattern in its range begins with the same `depth` characters) to the patterns
 * whose next character is `c`; false when there is none.
 */
function narrow(patterns: readonly string[], k: Candidate, depth: number, c: number): boolean {
  if (k.hi - k.lo === 1) return (patterns[k.lo] ?? '').charCodeAt(depth) === c;
  const lo = firstFrom(patterns, k.lo, k.hi, depth, c);
  if (lo === k.hi || (patterns[lo] ?? '').charCodeAt(depth) !== c) return false;
  k.hi = firstFrom(patterns, lo, k.hi, depth, c + 1);
  k.lo = lo;
  return true;
}

/** The first index in `lo..hi` whose pattern has a character at `depth` of at least `c` (sorted, so a binary search). */
function firstFrom(patterns: readonly string[], lo: number, hi: number, depth: number, c: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const p = patterns[mid] ?? '';
    // A pattern that ends at `depth` sorts before those that go on.
    if ((p.length > depth ? p.charCodeAt(depth) : -1) < c) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function widen(ranges: Map<number, { lo: number; hi: number }>, key: number, i: number): void {
  const range = ranges.get(key);
  if (range) range.hi = i + 1;
  else ranges.set(key, { lo: i, hi: i + 1 });
}

function splitsPair(text: string, at: number): boolean {
  const before = text.charCodeAt(at - 1);
  const after = text.charCodeAt(at);
  return before >= 0xd800 && before <= 0xdbff && after >= 0xdc00 && after <= 0xdfff;
}
