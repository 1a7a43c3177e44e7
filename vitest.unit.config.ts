import { defineConfig } from 'vitest/config';
import { UNIT_TESTS } from './test/unit-tier.js';

/**
 * `npm run test:unit`: the files listed in test/unit-tier.ts (the rule is there), with no build
 * first (no globalSetup) and no emulators. `npm test` runs vitest.config.ts, which has them all.
 */
export default defineConfig({
  test: {
    include: [...UNIT_TESTS],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    pool: 'forks',
  },
});
