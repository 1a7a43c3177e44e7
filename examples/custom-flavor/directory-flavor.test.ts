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
  runner: { describe, it, beforeAll, afterAll },
});
