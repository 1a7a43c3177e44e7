import { describe, expect, it } from 'vitest';
import { createOutput } from '../../src/cli/output.js';
import { ConfigError } from '../../src/errors.js';
import { FRAGMENT_LENGTH, MASK, Masker, MIN_MASK_LENGTH } from '../../src/support/masking.js';

const masker = (...values: string[]) => {
  const m = new Masker();
  m.add(values);
  return m;
};

const VALUE = 'tok"en\\with/slash+plus?&= ü-0123456789~~>?';

describe('Masker', () => {
  it.each<[string, (v: string) => string]>([
    ['the value itself', (v) => v],
    ['JSON-escaped', (v) => JSON.stringify(v).slice(1, -1)],
    ['JSON-escaped twice', (v) => JSON.stringify(JSON.stringify(v).slice(1, -1)).slice(1, -1)],
    ['base64', (v) => Buffer.from(v).toString('base64')],
    ['base64 without padding', (v) => Buffer.from(v).toString('base64').replace(/=+$/, '')],
    ['base64url', (v) => Buffer.from(v).toString('base64url')],
    ['base64url with padding', (v) => Buffer.from(v).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')],
    ['URL-encoded', (v) => encodeURIComponent(v)],
    ['form-encoded', (v) => new URLSearchParams({ v }).toString().slice(2)],
    ['hex', (v) => Buffer.from(v).toString('hex')],
    ['HEX', (v) => Buffer.from(v).toString('hex').toUpperCase()],
  ])('masks %s', (_label, encode) => {
    const form = encode(VALUE);
    const out = masker(VALUE).mask(`before ${form} after`);
    expect(out).toBe(`before ${MASK} after`);
  });

  it('the encodings under test really differ from each other', () => {
    const b64 = Buffer.from(VALUE).toString('base64');
    expect(b64).not.toBe(Buffer.from(VALUE).toString('base64url'));
    expect(encodeURIComponent(VALUE)).not.toBe(VALUE);
    expect(JSON.stringify(VALUE).slice(1, -1)).not.toBe(VALUE);
  });

  it('masks the value inside a longer base64 text, at every alignment', () => {
    const m = masker(VALUE);
    for (const before of ['', 'a', 'ab', 'abc']) {
      const b64 = Buffer.from(`${before}${VALUE}!tail`).toString('base64');
      const out = m.mask(b64);
      expect(out).toContain(MASK);
      // What is left is at most the edge characters that carry bits of the neighbours.
      expect(out.replace(MASK, '').length).toBeLessThan(16);
    }
  });

  it('masks each line of a multi-line value, and the value once its lines were joined', () => {
    const pem =
      '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n';
    const m = masker(pem);
    const lines = pem.split('\n').filter((l) => l.length >= MIN_MASK_LENGTH);
    expect(m.mask(pem)).toBe(MASK);
    expect(m.mask(`key: ${lines[1]}`)).toBe(`key: ${MASK}`);
    const joined = m.mask(pem.replace(/\s*\n\s*/g, ' '));
    for (const l of lines) expect(joined).not.toContain(l);
    expect(m.mask(JSON.stringify({ pem }))).not.toMatch(/MIIEvQ|BKcwgg/);
  });

  it('masks the prefix that JSON.parse quotes in its error', () => {
    const token = 'abcdefghij-klmnop-secret-token-value';
    let message = '';
    try {
      JSON.parse(token);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(token.slice(0, FRAGMENT_LENGTH));
    const out = masker(token).mask(message);
    expect(out).not.toContain(token.slice(0, FRAGMENT_LENGTH));
    expect(out).toContain(MASK);
  });

  it('masks any run of at least FRAGMENT_LENGTH characters taken from a value, and nothing shorter', () => {
    const value = 'Zq8-fragment-source-value-XY';
    const m = masker(value);
    expect(m.mask(`start ${value.slice(5, 5 + FRAGMENT_LENGTH)} end`)).toBe(`start ${MASK} end`);
    expect(m.mask(`start ${value.slice(3, 20)} end`)).toBe(`start ${MASK} end`);
    expect(m.mask(`start ${value.slice(5, 5 + FRAGMENT_LENGTH - 1)} end`)).toBe(
      `start ${value.slice(5, 5 + FRAGMENT_LENGTH - 1)} end`,
    );
  });

  it(`does not mask values (or lines) shorter than ${MIN_MASK_LENGTH} characters`, () => {
    const m = masker('abc', 'x\nyz\nlonger-line');
    expect(m.mask('abc and x and yz')).toBe('abc and x and yz');
    expect(m.mask('a longer-line here')).toBe(`a ${MASK} here`);
    expect(masker('abcd').mask('abcd')).toBe(MASK);
  });

  it('masks the longest value first', () => {
    expect(masker('secret', 'secret-plus-more').mask('x secret-plus-more y secret')).toBe(`x ${MASK} y ${MASK}`);
  });

  it('masks strings and keys of data before serialisation, so JSON escaping cannot hide a value', () => {
    const m = masker('has"quote-1');
    const data = { error: { message: 'bad has"quote-1 here', list: ['has"quote-1'], ['has"quote-1']: 1 } };
    const text = JSON.stringify(m.maskData(data));
    expect(text).not.toContain('quote-1');
    expect(JSON.parse(text)).toEqual({ error: { message: `bad ${MASK} here`, list: [MASK], [MASK]: 1 } });
  });

  it('leaves text alone when it knows no value', () => {
    expect(new Masker().mask('anything at all')).toBe('anything at all');
  });
});

describe('the output module masks before it reformats', () => {
  const capture = (json: boolean, values: string[]) => {
    const written = { out: '', err: '' };
    const stream = (k: 'out' | 'err') => ({ isTTY: false, write: (s: string) => ((written[k] += s), true) });
    const out = createOutput(json, { out: stream('out'), err: stream('err') }, new Masker());
    out.sensitive(values);
    return { out, written };
  };

  it('a value with a quote in a --json error', () => {
    const value = 'pass"word-with-quote';
    const { out, written } = capture(true, [value]);
    out.error(new ConfigError(`server said ${value}`, { hint: `retry without ${value}` }), false);
    expect(written.out).not.toContain('quote');
    expect(JSON.parse(written.out)).toEqual({
      error: { code: 'config', message: `server said ${MASK}`, hint: `retry without ${MASK}` },
    });
  });

  it('a multi-line value in a text error, whose lines the output joins', () => {
    const pem = '-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFF\n-----END KEY-----';
    const { out, written } = capture(false, [pem]);
    out.error(new Error(`cannot parse ${pem.replace(/\n/g, '\n   ')}`), false);
    for (const line of pem.split('\n')) expect(written.err).not.toContain(line);
    expect(written.err.split('\n').filter(Boolean)).toHaveLength(2); // still one line, plus the hint
  });

  it('notes, warnings and results are masked; results that reveal values by design are not', () => {
    const value = 'results-value-1234';
    const { out, written } = capture(false, [value]);
    out.note(`note ${value}`);
    out.warn(`warn ${value}`);
    out.result({}, `text ${value}`);
    expect(written.err + written.out).not.toContain(value);
    out.result({}, `shown ${value}`, { reveals: true });
    expect(written.out).toContain(`shown ${value}`);
    const j = capture(true, [value]);
    j.out.result({ message: `a "${value}"` });
    expect(j.written.out).not.toContain(value);
  });
});
