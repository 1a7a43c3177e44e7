/** support/aead.ts: the layout seal writes, and the bounds on parameters read from files. */
import { describe, expect, it } from 'vitest';
import { createDecipheriv, randomBytes } from 'node:crypto';
import {
  decodeKdfParams,
  encodeKdfParams,
  KDF_POLICY,
  kdfParamsAcceptable,
  open,
  seal,
} from '../../src/support/aead.js';

describe('seal and open', () => {
  it('write head ‖ nonce ‖ tag ‖ ciphertext, as the local store has always laid out its rows', () => {
    const key = randomBytes(32);
    const aad = Buffer.from('keystack/local/v1:name');
    const sealed = seal(key, aad, Buffer.from('plain'), Buffer.from([1]));
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(13, 29));
    expect(Buffer.concat([d.update(sealed.subarray(29)), d.final()]).toString()).toBe('plain');
    expect(open(key, aad, sealed, 1)?.toString()).toBe('plain');
    expect(open(key, Buffer.from('another name'), sealed, 1)).toBeNull();
    expect(open(key, aad, sealed.subarray(0, 28), 1)).toBeNull();
  });
});

describe('KDF parameters', () => {
  it('encode in 4 bytes and decode back; what no keystack writes is refused', () => {
    expect([...encodeKdfParams(KDF_POLICY)]).toEqual([1, 15, 8, 1]);
    expect(decodeKdfParams(encodeKdfParams({ N: 2 ** 12, r: 4, p: 2 }))).toEqual({ N: 2 ** 12, r: 4, p: 2 });
    expect(decodeKdfParams(Buffer.from([2, 15, 8, 1]))).toBeNull();
    expect(decodeKdfParams(Buffer.from([1, 15, 8]))).toBeNull();
    expect(decodeKdfParams(Buffer.from([1, 21, 8, 1]))).toBeNull();
    expect(kdfParamsAcceptable({ N: 2 ** 20, r: 8, p: 1 })).toBe(false); // 1 GiB of memory
    expect(kdfParamsAcceptable({ N: 3 * 2 ** 10, r: 8, p: 1 })).toBe(false);
    expect(kdfParamsAcceptable({ N: 2 ** 15, r: 0, p: 1 })).toBe(false);
    expect(() => encodeKdfParams({ N: 2 ** 15, r: 8, p: 5 })).toThrow(RangeError);
  });
});
