/**
 * Masking for a byte stream (a child's stdout under `keystack run --mask`). A write may end in
 * the middle of a value, so the stream keeps back the last `longestForm - 1` characters, plus any
 * form that crosses that point, until more arrives: a value split across chunks is still masked
 * whole. The text is decoded as UTF-8 (a character split across chunks is kept whole too).
 */
import { StringDecoder } from 'node:string_decoder';
import type { Masker } from './masking.js';

export class MaskingStream {
  readonly #masker: Masker;
  readonly #decoder = new StringDecoder('utf8');
  #pending = '';

  constructor(masker: Masker) {
    this.#masker = masker;
  }

  /** Whether text is held back, waiting for what follows it. */
  get holding(): boolean {
    return this.#pending !== '';
  }

  /** Takes a chunk; returns the masked text that is safe to pass on now (maybe ''). */
  push(chunk: Buffer | string): string {
    this.#pending += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const keep = this.#masker.longestForm() - 1;
    if (keep < 0) return this.#take(this.#pending.length);
    let cut = this.#pending.length - keep;
    if (cut <= 0) return '';
    cut = this.#masker.safeCut(this.#pending, cut);
    // Never between the two halves of a surrogate pair (the decoder only ever gives whole pairs).
    while (cut < this.#pending.length && isHighSurrogate(this.#pending.charCodeAt(cut - 1))) cut = this.#masker.safeCut(this.#pending, cut + 1);
    return this.#take(cut);
  }

  /** Everything held back, masked: at the end of the stream, or when it went quiet. */
  flush(): string {
    this.#pending += this.#decoder.end();
    return this.#take(this.#pending.length);
  }

  #take(n: number): string {
    const text = this.#pending.slice(0, n);
    this.#pending = this.#pending.slice(n);
    return this.#masker.mask(text);
  }
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
