import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import local from '../../src/flavors/local/index.js';
import { testFlavor } from '../../src/testing/index.js';
import { vitestRunner } from '../support/runner.js';

const dir = mkdtempSync(join(tmpdir(), 'keystack-local-'));
testFlavor({
  flavor: local,
  config: { path: join(dir, 'secrets.db') },
  configDir: dir,
  env: {},
  runner: vitestRunner,
  faults: {
    skip: 'the local flavor is an SQLite file: there is no server to fail (its failures are tested in test/reliability)',
  },
});
