// The encoders against their own parsers, over arbitrary strings: whatever `export` writes reads
// back to exactly the same values (dotenv for env, bash for shell, the yaml library for yaml), or
// the export fails naming the key, never showing the value.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { parse as parseDotenv } from 'dotenv';
import YAML from 'yaml';
import { InputError } from '../../src/errors.js';
import { decodeSecrets, encodeSecrets } from '../../src/transfer/formats.js';

// Mostly the characters that matter to quoting, plus anything else.
const tricky = fc.oneof(
  fc.string({
    unit: fc.constantFrom("'", '"', '`', '\\', '\n', '\r', '$', '#', '=', ' ', '\t', 'n', 'r', 'a', '🙂', '\u2028'),
    maxLength: 12,
  }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

describe('export encoders', () => {
  it('env: dotenv reads back exactly what was written, or the export names the key and not the value', async () => {
    let written = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(tricky, { minLength: 1, maxLength: 4 }), async (vals) => {
        const values = Object.fromEntries(vals.map((v, i) => [`k${i}`, v]));
        try {
          const text = await encodeSecrets([{ name: 's', values }], 'env');
          written += 1;
          expect(parseDotenv(text)).toEqual(Object.fromEntries(vals.map((v, i) => [`S_K${i}`, v])));
          // And import gives the secret back.
          expect((await decodeSecrets(text, 'env', { as: 's' }))[0]?.values).toEqual(
            Object.fromEntries(vals.map((v, i) => [`S_K${i}`, v])),
          );
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
          expect((e as Error).message).toMatch(/secret 's' key 'k\d'/);
          for (const v of vals) if (v.length >= 4) expect((e as Error).message).not.toContain(v);
        }
      }),
      { numRuns: 400 },
    );
    // Refusing everything would pass the property: most values must be written.
    expect(written).toBeGreaterThan(200);
  });

  it('env: PEM, quotes of one kind, CR, =, $, unicode and empty values are all representable', async () => {
    const values = {
      pem: '-----BEGIN X-----\nab\n-----END X-----\n',
      q1: "it's",
      q2: 'say "hi"',
      crlf: 'a\r\nb',
      eq: 'a=b',
      dollar: '$X ${Y}',
      uni: 'ü🙂',
      empty: '',
    };
    const text = await encodeSecrets([{ name: 'db', values }], 'env', { secretPrefix: false });
    expect(parseDotenv(text)).toEqual(Object.fromEntries(Object.entries(values).map(([k, v]) => [k.toUpperCase(), v])));
  });

  it('shell: bash sources exactly the values (no NUL, which no variable can hold)', async () => {
    const vals = fc.sample(
      fc.string({
        unit: fc.constantFrom("'", '"', '`', '\\', '\n', '\r', '$', '!', '(', ' ', 'x', '🙂'),
        maxLength: 16,
      }),
      60,
    );
    const values = Object.fromEntries(vals.map((v, i) => [`k${i}`, v]));
    const text = await encodeSecrets([{ name: 's', values }], 'shell');
    const script = `set -eu; eval "$(cat)"; for i in ${vals.map((_, i) => i).join(' ')}; do v="S_K$i"; printf '%s\\0' "\${!v}"; done`;
    const r = spawnSync('bash', ['-c', script], { input: text, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(vals);
    await expect(encodeSecrets([{ name: 's', values: { nul: 'a\0b' } }], 'shell')).rejects.toThrow(
      /key 'nul' contains a NUL/,
    );
  });

  // fast-check found it: the yaml library writes " \n" as a block scalar that reads back "\n".
  it('yaml: a value whose line holds only spaces round-trips (written double-quoted)', async () => {
    for (const v of [' \n', '  \n\n', 'a\n \nb', ' ']) {
      const text = await encodeSecrets([{ name: 's', values: { k: v } }], 'yaml');
      expect(await decodeSecrets(text, 'yaml')).toEqual([{ name: 's', values: { k: v } }]);
    }
  });

  it('yaml and json: arbitrary strings round-trip through the libraries, typed values keep their types', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tricky, { minLength: 1, maxLength: 4 }), async (vals) => {
        const values = Object.fromEntries(vals.map((v, i) => [`k${i}`, v]));
        for (const format of ['yaml', 'json'] as const) {
          const text = await encodeSecrets([{ name: 's', values }], format);
          expect(format === 'yaml' ? YAML.parse(text) : JSON.parse(text)).toEqual({ s: values });
          expect(await decodeSecrets(text, format)).toEqual([{ name: 's', values }]);
        }
      }),
      { numRuns: 200 },
    );
    const typed = {
      name: 't',
      schema: 'mysql',
      values: { port: '3306', ok: 'true', user: 'u' },
      types: { port: 'number' as const, ok: 'boolean' as const },
    };
    const text = await encodeSecrets([typed], 'yaml', { withSchema: true });
    expect(text).toBe('t:\n  $schema: mysql\n  port: 3306\n  ok: true\n  user: u\n');
    expect(await decodeSecrets(text, 'yaml')).toEqual([typed]);
  });

  it('import refuses null values and non-maps, naming the secret and key', async () => {
    await expect(decodeSecrets('{"a": {"k": null}}', 'json')).rejects.toThrow(/secret 'a' key 'k' has no value/);
    await expect(decodeSecrets('[1]', 'json')).rejects.toThrow(/is a list, not a map of secret names/);
    await expect(decodeSecrets('a: [x]', 'yaml')).rejects.toThrow(/secret 'a' is a list/);
    await expect(decodeSecrets('{"a": {"k": "secret-value"', 'json')).rejects.toThrow(/not valid JSON/);
    await expect(decodeSecrets('a:\n  k: v\n  k: w\n', 'yaml')).rejects.toThrow(/not valid YAML \(DUPLICATE_KEY/);
  });

  it('env import: a line dotenv would silently skip is refused by number, a multi-line value with = is not', async () => {
    await expect(decodeSecrets('A=1\nMY VAR=secret-value\nB=2\n', 'env', { as: 's' })).rejects.toThrow(
      /^line 2 of the env file is not an assignment dotenv can read/,
    );
    await expect(decodeSecrets('A=1\nMY VAR=secret-value\n', 'env', { as: 's' })).rejects.not.toThrow(/secret-value/);
    const pem = "KEY='-----BEGIN-----\na=b\nc==\n-----END-----'\nexport B = 2 # note\n# C=3\n";
    expect(await decodeSecrets(pem, 'env', { as: 's' })).toEqual([
      { name: 's', values: { KEY: '-----BEGIN-----\na=b\nc==\n-----END-----', B: '2' } },
    ]);
  });

  it("env import: a line without `=` (a value pasted alone) is refused by number, never quoted; `NAME: value` is dotenv's and is read", async () => {
    const refusal = async (text: string) =>
      (await decodeSecrets(text, 'env', { as: 's', source: "'app.env'" }).then(
        () => null,
        (e: unknown) => e,
      )) as InputError | null;
    const pasted = await refusal('A=1\n# the token:\nsk-pasted-alone-0123\nB=2\n');
    expect(pasted).toMatchObject({
      code: 'input',
      message: "line 3 of 'app.env' is not an assignment dotenv can read, so it would be left out",
    });
    expect(JSON.stringify(pasted)).not.toContain('sk-pasted');
    expect(await refusal('A=1\r\nexport TOKEN\r\n')).toMatchObject({
      message: expect.stringMatching(/^line 2 of 'app\.env'/),
    });
    expect(await refusal("K='one\ntwo'\nthree\n")).toMatchObject({ message: expect.stringMatching(/^line 3 /) });
    expect(await decodeSecrets('A: 1\nB: x=y\nexport C: c\n', 'env', { as: 's' })).toEqual([
      { name: 's', values: { A: '1', B: 'x=y', C: 'c' } },
    ]);
  });

  it('names variables as `run -s` does (envName), or by the key alone with --no-prefix', async () => {
    const vars = async (secretPrefix: boolean) =>
      Object.keys(
        parseDotenv(
          await encodeSecrets([{ name: 'my-app.v1', values: { 'api.key': 'a', '1st': 'b' } }], 'env', { secretPrefix }),
        ),
      );
    expect(await vars(true)).toEqual(['MY_APP_V1_API_KEY', 'MY_APP_V1_1ST']);
    expect(await vars(false)).toEqual(['API_KEY', '_1ST']);
  });
});
