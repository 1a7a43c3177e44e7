// How a flavor's author runs keystack's conformance suite against their flavor (here with
// vitest; any runner with describe/it/afterAll works). Run with: npx vitest run examples/custom-flavor
import { afterAll, beforeAll, describe, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testFlavor } from 'keystack/testing';
import directory from './directory-flavor.js';

const dir = mkdtempSync(join(tmpdir(), 'keystack-directory-'));
testFlavor({
  flavor: directory,
  config: { path: join(dir, 'store') },
  configDir: dir,
  env: {},
  runner: {
    describe,
    it,
    beforeAll,
    afterAll,
    // Groups your flavor cannot run are then reported as skipped, with the reason.
    skip(name, reason) {
      it(name, (ctx) => {
        ctx.skip(reason);
      });
    },
  },
  // A directory has no server that could fail; an HTTP backend would pass
  // faults: proxyFaults({ target: serverUrl, config: (url) => ({ url }) }) instead.
  faults: { skip: 'a local directory: there is no server to fail' },
});
