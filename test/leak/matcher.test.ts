import { describe, expect, it } from 'vitest';
import { DEFAULT_MIN_LEAK_LENGTH, leakForms, MultiMatcher } from '../../src/support/leak-match.js';

const SECRET = 'pa$$w0rd?>>~~/with+slash&eq=';

function tags(m: MultiMatcher<string>, text: string | Uint8Array): string[] {
  return [...m.scan(typeof text === 'string' ? Buffer.from(text) : text)].map((x) => x.tag);
}

describe('MultiMatcher', () => {
  it('finds every pattern, overlapping ones too, with byte offsets', () => {
    const m = new MultiMatcher([
      { text: 'abcdef', tag: 'a' },
      { text: 'cdefgh', tag: 'c' },
      { text: 'zzzz', tag: 'z' },
    ]);
    const hits = [...m.scan(Buffer.from('xxabcdefghzzzzz'))];
    expect(hits).toEqual([
      { start: 2, end: 8, tag: 'a' },
      { start: 4, end: 10, tag: 'c' },
      { start: 10, end: 14, tag: 'z' },
      { start: 11, end: 15, tag: 'z' },
    ]);
    expect(m.first(Buffer.from('nothing here'))).toBeUndefined();
    expect(m.size).toBe(3);
  });

  it('keeps patterns sharing their first 4 bytes apart, and matches at the very end', () => {
    const m = new MultiMatcher([
      { text: 'same-prefix-1', tag: '1' },
      { text: 'same-prefix-2', tag: '2' },
    ]);
    expect(tags(m, 'same-prefix-2')).toEqual(['2']);
    expect(tags(m, 'same-prefix-')).toEqual([]);
  });

  it('matches non-ASCII text by its UTF-8 bytes, and inside binary data', () => {
    const m = new MultiMatcher([{ text: 'clé-secrète', tag: 'k' }]);
    const bin = Buffer.concat([Buffer.from([0, 255, 7]), Buffer.from('clé-secrète'), Buffer.from([0])]);
    expect(tags(m, bin)).toEqual(['k']);
  });

  it('finds exactly what a naive search finds, in order, whatever the shortest pattern (every stride)', () => {
    // A small alphabet, so that patterns overlap, share 4-byte groups and repeat themselves.
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const word = (len: number, letters = 'abc') =>
      Array.from({ length: len }, () => letters[rand(letters.length)]).join('');
    // Two letters and hundreds of patterns: most buckets are crowded, and are split.
    for (const [shortest, count, letters] of [
      [4, 40, 'abc'],
      [5, 40, 'abc'],
      [8, 40, 'abc'],
      [13, 40, 'abc'],
      [4, 300, 'ab'],
      [9, 300, 'ab'],
    ] as const) {
      const texts = [...new Set(Array.from({ length: count }, (_, i) => word(shortest + (i % 7), letters)))];
      texts.push('a'.repeat(shortest + 2));
      const m = new MultiMatcher(texts.map((text) => ({ text, tag: text })));
      const hay = Buffer.from(word(3000, letters) + 'a'.repeat(40));
      const naive: { start: number; tag: string }[] = [];
      for (let i = 0; i < hay.length; i++)
        for (const t of texts) if (hay.subarray(i, i + t.length).toString() === t) naive.push({ start: i, tag: t });
      const got = [...m.scan(hay)].map(({ start, tag }) => ({ start, tag }));
      expect(got.length, `shortest ${shortest}`).toBeGreaterThan(10);
      expect([...got].sort((a, b) => a.start - b.start || a.tag.localeCompare(b.tag))).toEqual(
        naive.sort((a, b) => a.start - b.start || a.tag.localeCompare(b.tag)),
      );
      // By start offset, as the guard's first hit and scan's line order need.
      expect(got.map((g) => g.start)).toEqual([...got.map((g) => g.start)].sort((a, b) => a - b));
    }
  });

  it('refuses a pattern under 4 bytes', () => {
    expect(() => new MultiMatcher([{ text: 'abc', tag: 'x' }])).toThrow(RangeError);
  });
});

describe('leakForms', () => {
  it('names each encoding, and each form is found in text that carries it', () => {
    const forms = leakForms(SECRET);
    const byEnc = (e: string) => forms.filter((f) => f.encoding === e).map((f) => f.form);
    expect(byEnc('raw')).toEqual([SECRET]);
    expect(byEnc('url')).toContain(encodeURIComponent(SECRET));
    expect(byEnc('hex')).toContain(Buffer.from(SECRET).toString('hex'));
    expect(byEnc('base64')).toContain(Buffer.from(SECRET).toString('base64'));
    expect(byEnc('base64url')).toContain(Buffer.from(SECRET).toString('base64url'));
    const m = new MultiMatcher(forms.map((f) => ({ text: f.form, tag: f.encoding })));
    expect(tags(m, `x=${Buffer.from(SECRET).toString('base64url')};`)).toContain('base64url');
    expect(tags(m, JSON.stringify({ p: 'a"b' + SECRET.replace('/', '\\') }))).not.toContain('raw');
    // Inside a longer base64 text (a base64 config that contains the value), at every alignment.
    for (const lead of ['', 'a', 'ab', 'abc']) {
      const b64 = Buffer.from(`${lead}{"password":"${SECRET}"}`).toString('base64');
      expect(
        tags(m, b64).some((t) => t === 'base64'),
        lead,
      ).toBe(true);
    }
  });

  it('has a JSON-escaped form for a value with quotes and a line form for each line', () => {
    const value = 'line-one-"quoted"\n  second-line-here  ';
    const forms = leakForms(value);
    expect(forms).toContainEqual({ form: JSON.stringify(value).slice(1, -1), encoding: 'json' });
    expect(forms).toContainEqual({ form: 'second-line-here', encoding: 'line' });
  });

  it('looks for nothing in a value under the minimum, and the minimum is a parameter', () => {
    expect(DEFAULT_MIN_LEAK_LENGTH).toBe(8);
    expect(leakForms('admin')).toEqual([]);
    expect(leakForms('localhost', 10)).toEqual([]);
    expect(leakForms('admin', 4).map((f) => f.encoding)).toContain('raw');
  });
});
