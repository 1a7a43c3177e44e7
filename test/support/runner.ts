/** The conformance suite's runner for vitest: skipped groups are reported as skipped, with the reason. */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { TestRunner } from '../../src/testing/index.js';

export const vitestRunner: TestRunner = {
  describe,
  it,
  beforeAll,
  afterAll,
  skip(name, reason) {
    it(name, (ctx) => {
      ctx.skip(reason);
    });
  },
};
