/** `--KEY=@generate:N[:ALPHABET]`: random values in src/cli/input.ts, without a build. */
import { describe, expect, it } from 'vitest';
import { expandValue, expandValues, GENERATE_ALPHABETS, randomString } from '../../src/cli/input.js';

describe('@generate values', () => {
  it('makes N characters of the alphabet asked, 32 alnum by default', () => {
    expect(expandValue('k', '@generate')).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(expandValue('k', '@generate:7')).toMatch(/^[A-Za-z0-9]{7}$/);
    expect(expandValue('k', '@generate:64:hex')).toMatch(/^[0-9a-f]{64}$/);
    expect(expandValue('k', '@generate:43:base64url')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expandValue('k', '@generate:4096:ascii')).toMatch(/^[!-~]{4096}$/);
    expect(expandValue('k', '@generate:1')).toHaveLength(1);
  });

  it('differs between calls', () => {
    const seen = new Set(Array.from({ length: 20 }, () => expandValue('k', '@generate:16')));
    expect(seen.size).toBe(20);
  });

  it('@@generate stays the literal text', () => {
    expect(expandValue('k', '@@generate:3')).toBe('@generate:3');
    expect(expandValues(new Map([['k', '@@generate']]))).toEqual({ k: '@generate' });
  });

  it('refuses bad lengths and alphabets with a usage error that names the spec', () => {
    for (const spec of [
      '@generate:0',
      '@generate:4097',
      '@generate:',
      '@generate:abc',
      '@generate:1.5',
      '@generate:-3',
    ])
      expect(() => expandValue('tok', spec)).toThrow(
        /length in '@generate:.*' for 'tok' must be a whole number from 1 to 4096/,
      );
    expect(() => expandValue('tok', '@generate:8:emoji')).toThrow(/unknown alphabet 'emoji'/);
    expect(() => expandValue('tok', '@generate:8:hex:x')).toThrow(/too many parts/);
    try {
      expandValue('tok', '@generate:8:emoji');
    } catch (e) {
      expect((e as { hint?: string }).hint).toContain('alnum, hex, base64url, ascii');
    }
  });

  it('draws without modulo bias: bytes at or above the largest multiple of the alphabet size are skipped', () => {
    // 62 characters: 248 = 4 × 62, so bytes 248..255 would favour the first 8 characters.
    const alnum = GENERATE_ALPHABETS.alnum;
    const fed = Buffer.from([255, 248, 0, 250, 61, 62, 247]);
    let calls = 0;
    const out = randomString(4, alnum, (n) => {
      calls++;
      return Buffer.concat([fed, Buffer.alloc(Math.max(0, n - fed.length), 255)]).subarray(0, Math.max(n, fed.length));
    });
    expect(out).toBe(`${alnum[0]}${alnum[61]}${alnum[0]}${alnum[247 % 62]}`);
    expect(calls).toBe(1);
    // Power-of-two alphabets use every byte.
    expect(
      randomString(3, GENERATE_ALPHABETS.hex, () => Buffer.from([255, 16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
    ).toBe('f01');
  });

  it('is roughly uniform over a large draw', () => {
    const text = randomString(62 * 2000, GENERATE_ALPHABETS.alnum);
    const counts = new Map<string, number>();
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // Expected 2000 each (sd ≈ 44); a modulo-biased draw gives the first 8 about 2258.
    for (const n of counts.values()) expect(Math.abs(n - 2000)).toBeLessThan(250);
  });
});
