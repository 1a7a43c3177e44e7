// Cost of masking: building the forms of N known values (done once, on the first mask after new
// values), then masking a 1 KB message. Run: node --import tsx bench/masking.ts
import { randomBytes } from 'node:crypto';
import { Masker } from '../src/support/masking.js';

for (const n of [10, 100, 1000]) {
  const m = new Masker();
  m.add(Array.from({ length: n }, () => randomBytes(24).toString('base64')));
  const t0 = performance.now();
  m.mask('warm-up');
  const build = performance.now() - t0;
  const text = 'x'.repeat(200) + ' some error message with no values in it '.repeat(20);
  const runs = 200;
  const t1 = performance.now();
  for (let i = 0; i < runs; i++) m.mask(text);
  console.log(
    `${n} values of 32 chars: first mask (builds the forms) ${build.toFixed(1)} ms; then ${((performance.now() - t1) / runs).toFixed(3)} ms per ${text.length}-char message`,
  );
}
