import { describe, expect, it } from 'vitest';
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

  it('holds back no more than the longest form needs, so long output flows', () => {
    const s = new MaskingStream(masker());
    const out = s.push('x'.repeat(10_000));
    expect(out.length).toBeGreaterThan(10_000 - 4 * VALUE.length);
    expect(s.holding).toBe(true);
    expect(out + s.flush()).toBe('x'.repeat(10_000));
  });

  it('with no values known, holds nothing back', () => {
    const s = new MaskingStream(new Masker());
    expect(s.push('abc')).toBe('abc');
    expect(s.holding).toBe(false);
  });
});
