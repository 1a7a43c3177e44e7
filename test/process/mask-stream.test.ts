import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MaskingStream } from '../../src/support/mask-stream.js';
import { MASK, Masker } from '../../src/support/masking.js';

const VALUE = 'tok"en\\with/slash+plus?&= ü-0123456789~~>?';
const b = Buffer.from(VALUE);
const FORMS: [string, string][] = [
  ['the value itself', VALUE],
  ['JSON-escaped', JSON.stringify(VALUE).slice(1, -1)],
  ['JSON-escaped twice', JSON.stringify(JSON.stringify(VALUE).slice(1, -1)).slice(1, -1)],
  ['base64', b.toString('base64')],
  ['base64 without padding', b.toString('base64').replace(/=+$/, '')],
  ['base64url', b.toString('base64url')],
  ['URL-encoded', encodeURIComponent(VALUE)],
  ['form-encoded', new URLSearchParams({ v: VALUE }).toString().slice(2)],
  ['hex', b.toString('hex')],
  ['HEX', b.toString('hex').toUpperCase()],
];

const masker = () => {
  const m = new Masker();
  m.add([VALUE]);
  return m;
};

/** Feeds `bytes` split at `at` (and the rest in one chunk) and returns all that came out. */
const through = (m: Masker, bytes: Buffer, at: number[]) => {
  const s = new MaskingStream(m);
  let out = '';
  let from = 0;
  for (const cut of [...at, bytes.length]) {
    out += s.push(bytes.subarray(from, cut));
    from = cut;
  }
  return out + s.flush();
};

describe('MaskingStream', () => {
  it.each(FORMS)('masks %s wherever the stream is split, one or two times', (_label, form) => {
    const m = masker();
    const text = Buffer.from(`before ${form} after\n`);
    for (let i = 1; i < text.length; i++) {
      expect(through(m, text, [i])).toBe(`before ${MASK} after\n`);
      expect(through(m, text, [Math.floor(i / 2), i])).toBe(`before ${MASK} after\n`);
    }
  });

  it('the split test can fail: masking each chunk on its own leaks the value', () => {
    const m = masker();
    const text = `before ${VALUE} after`;
    const cut = 7 + VALUE.length - 4;
    expect(m.mask(text.slice(0, cut)) + m.mask(text.slice(cut))).toContain(`${VALUE.slice(-4)} after`);
    expect(through(m, Buffer.from(text), [Buffer.byteLength(text.slice(0, cut))])).toBe(`before ${MASK} after`);
  });

  it('passes other text on unchanged and whole, multi-byte characters split across chunks included', () => {
    const m = masker();
    const text = Buffer.from('plain ü text → with 🙂 emoji\n'.repeat(50));
    for (const i of [1, 7, 8, 9, 30, 31, 32, 33, 500]) expect(through(m, text, [i])).toBe(text.toString());
  });

  it('holds back nothing of long text that cannot begin a value, and a tail that can only while it can', () => {
    const s = new MaskingStream(masker());
    expect(s.push('x'.repeat(10_000))).toBe('x'.repeat(10_000));
    expect(s.holding).toBe(false);
    expect(s.push(`${'x'.repeat(10_000)}${VALUE.slice(0, -1)}`)).toBe('x'.repeat(10_000));
    expect(s.holding).toBe(true);
    expect(s.push(`${VALUE.slice(-1)}\n`)).toBe(`${MASK}\n`);
    expect(s.holding).toBe(false);
  });

  it('with no values known, holds nothing back', () => {
    const s = new MaskingStream(new Masker());
    expect(s.push('abc')).toBe('abc');
    expect(s.holding).toBe(false);
  });
});

/** What push() returns for `text` written one byte at a time (multi-byte characters split too), and what flush() adds. */
const paced = (m: Masker, text: string) => {
  const s = new MaskingStream(m);
  let pushed = '';
  for (const byte of Buffer.from(text)) pushed += s.push(Buffer.from([byte]));
  return { pushed, flushed: s.flush() };
};

describe('MaskingStream: output at any pace', () => {
  it.each(FORMS)(
    'masks %s written one byte at a time, and passes on what follows without waiting for flush',
    (_label, form) => {
      expect(paced(masker(), `before ${form} after\n`)).toEqual({ pushed: `before ${MASK} after\n`, flushed: '' });
    },
  );

  it('masks a 10-character run of a value, and a value with a character outside the BMP, written one byte at a time', () => {
    expect(paced(masker(), `x ${VALUE.slice(5, 17)} y\n`)).toEqual({ pushed: `x ${MASK} y\n`, flushed: '' });
    const m = new Masker();
    m.add(['emoji 🙂 in-0123456789']);
    expect(paced(m, 'a emoji 🙂 in-0123456789 b\n')).toEqual({ pushed: `a ${MASK} b\n`, flushed: '' });
  });

  it('passes on at once a prompt without a newline and a `\\r` progress bar that cannot begin a value', () => {
    const m = new Masker();
    m.add(['sk-live-0123456789abcdef']);
    const s = new MaskingStream(m);
    expect(s.push('Password: ')).toBe('Password: ');
    expect(s.holding).toBe(false);
    for (const step of ['\r 45%', '\r 46%', '\r100%']) {
      expect(s.push(step)).toBe(step);
      expect(s.holding).toBe(false);
    }
  });

  it('holds a tail that could begin a value and releases it on the character that rules that out', () => {
    const s = new MaskingStream(masker());
    expect(s.push('say tok')).toBe('say ');
    expect(s.holding).toBe(true);
    expect(s.push('"en')).toBe('');
    expect(s.push('!')).toBe('tok"en!');
    expect(s.holding).toBe(false);
    // A space can begin a 10-character run of this value (" ü-0123456"), so it waits for one more character.
    expect(s.push('Password: ')).toBe('Password:');
    expect(s.push('x')).toBe(' x');
  });

  it('holds no more than the longest pattern, even where masked runs chain on (a value repeated back to back)', () => {
    const m = new Masker();
    m.add(['abcabcabcabcab']);
    const longest = Math.max(...m.patterns().map((p) => p.length));
    const s = new MaskingStream(m);
    let out = '';
    for (let i = 0; i < 40; i++) {
      out += s.push('abc');
      if (i * 3 > longest) expect(out).not.toBe('');
    }
    expect(out + s.flush()).toBe(m.mask('abc'.repeat(40)));
  });

  it('masks values the masker learns while the stream runs', () => {
    const m = new Masker();
    const s = new MaskingStream(m);
    expect(s.push('early-value-0001 ')).toBe('early-value-0001 ');
    m.add(['later-value-0002']);
    expect(s.push('later-va') + s.push('lue-0002\n')).toBe(`${MASK}\n`);
  });
});

describe('MaskingStream (property-based)', () => {
  // Values of distinct characters, each form between dots (no value has one): past the cap (a
  // value that repeats itself, `abab…`, or forms that run into each other) the stream masks each
  // side of its cut on its own, which is not always what masking the whole text gives.
  const ALPHABET = Array.from('abcdefghijklmnopqrstuvwxyz0123456789 :%/+=-_\n\r"ü🙂');
  const valueArb = fc.shuffledSubarray(ALPHABET, { minLength: 4, maxLength: 24 }).map((cs) => cs.join(''));
  const noiseArb = fc.array(fc.constantFrom(...ALPHABET), { maxLength: 6 }).map((cs) => cs.join(''));
  const forms = (v: string) => {
    const b = Buffer.from(v);
    const cps = Array.from(v);
    const mid = cps.length >> 1;
    return [
      v,
      JSON.stringify(v).slice(1, -1),
      b.toString('base64'),
      b.toString('hex'),
      encodeURIComponent(v),
      cps.slice(mid).join(''),
      cps.slice(0, mid).join(''),
    ];
  };
  const merged = (s: string) => s.replace(/(\*\*\*)+/g, MASK);

  it('gives what masking the whole text gives (adjacent markers merged), however the bytes are split, and holds nothing after a character no value has', () => {
    fc.assert(
      fc.property(
        fc.array(valueArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(noiseArb, fc.nat(), fc.nat()), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 20 }),
        (values, parts, sizes) => {
          const m = new Masker();
          m.add(values);
          const text = parts
            .map(([noise, v, f]) => {
              const all = forms(values[v % values.length]!);
              return `${noise}.${all[f % all.length]!}.`;
            })
            .join('');
          const bytes = Buffer.from(text);
          const s = new MaskingStream(m);
          let out = '';
          for (let at = 0, i = 0; at < bytes.length; at += sizes[i++ % sizes.length]!)
            out += s.push(bytes.subarray(at, at + sizes[i % sizes.length]!));
          expect(s.flush()).toBe('');
          expect(merged(out)).toBe(merged(m.mask(text)));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
