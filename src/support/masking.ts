/**
 * Masking of secret values: the one mechanism in front of everything keystack prints or stores
 * (CLI text and JSON, run history, step errors, backend errors and their causes).
 *
 * A Masker knows a set of values and replaces, in any text, each of these forms with `***`:
 * - the value itself, and each line of a multi-line value (a PEM key printed line by line);
 * - their common encodings: JSON-string-escaped (once and twice), base64 and base64url (with and
 *   without padding, and the stable middle of the value's base64 when it sits inside a longer
 *   base64 text, as GitHub Actions masks it), URL-encoded (encodeURIComponent and form encoding)
 *   and hex (lower and upper case);
 * - any run of FRAGMENT_LENGTH or more characters copied out of a value: this covers the part of
 *   the input that `JSON.parse(value)` quotes in its error (`Unexpected token 'x', "abcdefghij"...
 *   is not valid JSON`: the first 10 characters, or a window of up to 20 around the error) and
 *   any other truncated echo.
 * Longer forms are replaced first, so a value that contains another is masked whole.
 *
 * Values (and lines) shorter than MIN_MASK_LENGTH are not masked: masking `ab` or `1` would
 * garble every message while protecting nothing (a value that short can be guessed), as GitHub
 * Actions also documents. Fragments are taken from the first FRAGMENT_SCAN characters of each
 * value and line, which bounds memory for very large values.
 *
 * Masking must run on the text as produced, before any reformatting (joining lines, JSON
 * escaping): those change the forms above into ones it no longer recognises.
 */

export const MASK = '***';
/** Values and lines shorter than this are not masked. */
export const MIN_MASK_LENGTH = 4;
/** Any run of at least this many characters taken from a known value is masked. */
export const FRAGMENT_LENGTH = 10;
const FRAGMENT_SCAN = 64 * 1024;

export class Masker {
  readonly #values = new Set<string>();
  #added: string[] = [];
  /** Every maskable form, longest first; rebuilt lazily after `add`. */
  #forms: string[] = [];
  readonly #formSet = new Set<string>();
  readonly #fragments = new Set<string>();
  #patterns: string[] | undefined;

  /** Remembers values to mask. Empty strings and non-strings are ignored. */
  add(values: Iterable<unknown>): void {
    for (const v of values) {
      if (typeof v !== 'string' || v === '' || this.#values.has(v)) continue;
      this.#values.add(v);
      this.#added.push(v);
    }
  }

  /** Every value this masker knows. */
  values(): ReadonlySet<string> {
    return this.#values;
  }

  /** `text` with every known value, line, encoding and fragment replaced by `***`. */
  mask(text: string): string {
    if (this.#values.size === 0 || text === '') return text;
    this.#build();
    let out = text;
    // Longest first; a form longer than the text cannot be in it (the stream masks a few
    // characters at a time when output comes slowly, and there are thousands of forms).
    for (let i = this.#firstFormWithin(text.length); i < this.#forms.length; i++) {
      const form = this.#forms[i] ?? '';
      if (out.includes(form)) out = out.split(form).join(MASK);
    }
    return this.#maskFragments(out);
  }

  /**
   * A copy of JSON-like data with every string (and object key) masked, for output that is
   * serialised afterwards: masking the serialised text would miss values that JSON escaping
   * changed (a `"` becomes `\"`). `toJSON` is honoured as JSON.stringify would.
   */
  maskData(data: unknown): unknown {
    if (this.#values.size === 0) return data;
    return this.#maskData(data, new Set());
  }

  #maskData(data: unknown, seen: Set<object>): unknown {
    if (typeof data === 'string') return this.mask(data);
    if (data === null || typeof data !== 'object') return data;
    const withJson = data as { toJSON?: unknown };
    if (typeof withJson.toJSON === 'function')
      return this.#maskData((withJson.toJSON as () => unknown).call(data), seen);
    if (seen.has(data)) return data; // JSON.stringify reports the cycle
    seen.add(data);
    const out = Array.isArray(data)
      ? data.map((x: unknown) => this.#maskData(x, seen))
      : Object.fromEntries(Object.entries(data).map(([k, v]) => [this.mask(k), this.#maskData(v, seen)]));
    seen.delete(data);
    return out;
  }

  /**
   * Every string `mask` replaces (each form, and each FRAGMENT_LENGTH run of a value or line), once
   * each and sorted by UTF-16 code unit: what a stream must recognise the start of. The same array
   * until values are added.
   */
  patterns(): readonly string[] {
    this.#build();
    return (this.#patterns ??= [...new Set([...this.#forms, ...this.#fragments])].sort());
  }

  /** The index of the first form no longer than `length` (forms are sorted longest first). */
  #firstFormWithin(length: number): number {
    let lo = 0;
    let hi = this.#forms.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#forms[mid] ?? '').length > length) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #build(): void {
    if (this.#added.length === 0) return;
    for (const value of this.#added) {
      for (const base of basesOf(value)) {
        for (const form of encodingsOf(base)) if (form.length >= MIN_MASK_LENGTH) this.#formSet.add(form);
        const scan = base.slice(0, FRAGMENT_SCAN);
        for (let i = 0; i + FRAGMENT_LENGTH <= scan.length; i++)
          this.#fragments.add(scan.slice(i, i + FRAGMENT_LENGTH));
      }
    }
    this.#added = [];
    this.#forms = [...this.#formSet].sort((a, b) => b.length - a.length);
    this.#patterns = undefined;
  }

  #maskFragments(text: string): string {
    if (this.#fragments.size === 0 || text.length < FRAGMENT_LENGTH) return text;
    // Mark every character covered by some fragment, then replace each marked run once.
    let out = '';
    let coveredTo = 0;
    let runStart = -1;
    for (let i = 0; i < text.length; i++) {
      if (i + FRAGMENT_LENGTH <= text.length && this.#fragments.has(text.slice(i, i + FRAGMENT_LENGTH)))
        coveredTo = i + FRAGMENT_LENGTH;
      if (i < coveredTo) {
        if (runStart === -1) {
          runStart = i;
          out += MASK;
        }
      } else {
        runStart = -1;
        out += text.charAt(i);
      }
    }
    return out;
  }
}

/** The value, and each line of it (also without surrounding blanks), when at least the minimum long. */
function basesOf(value: string): string[] {
  const bases = new Set<string>();
  if (value.length >= MIN_MASK_LENGTH) bases.add(value);
  if (/[\r\n]/.test(value)) {
    for (const line of value.split(/\r\n|\r|\n/)) {
      for (const l of [line, line.trim()]) if (l.length >= MIN_MASK_LENGTH) bases.add(l);
    }
  }
  return [...bases];
}

function encodingsOf(s: string): string[] {
  const bytes = Buffer.from(s, 'utf8');
  const json = JSON.stringify(s).slice(1, -1);
  const b64 = bytes.toString('base64');
  const hex = bytes.toString('hex');
  return [
    s,
    json,
    JSON.stringify(json).slice(1, -1),
    b64,
    b64.replace(/=+$/, ''),
    toUrl(b64),
    toUrl(b64).replace(/=+$/, ''),
    ...embeddedBase64(bytes),
    encodeURIComponent(s),
    new URLSearchParams({ v: s }).toString().slice(2),
    hex,
    hex.toUpperCase(),
  ];
}

/**
 * The characters of the value's base64 that stay the same wherever the value sits inside a
 * longer base64 text: for each of the three alignments, the groups made only of the value's bits.
 */
function embeddedBase64(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    const whole = Math.floor(padded.length / 3) * 4;
    // With one leading byte the first 2 characters carry its bits, with two the first 3.
    const skip = shift === 0 ? 0 : shift + 1;
    const core = padded.toString('base64').slice(skip, whole);
    if (core.length >= 2 * MIN_MASK_LENGTH) out.push(core, toUrl(core));
  }
  return out;
}

function toUrl(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * The masker of this process: every value it has read from or written to a secrets manager,
 * every sensitive config value it has used, and (in a step process) the values its run had read
 * before. Output, run history and backend errors all mask through it.
 */
export const processMasker = new Masker();
