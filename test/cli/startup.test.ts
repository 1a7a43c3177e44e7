/**
 * Start-up loads only what the invoked command needs (issue 19): the command table loads one
 * group's definitions, and a definition builds its `--json` shape from the zod it is given, so
 * zod (about 55 ms to load) is required only by commands that validate with it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tempEnv } from '../support/cli.js';

// A preload that reports every require of zod; the CLI bundle keeps zod external.
const dir = mkdtempSync(join(tmpdir(), 'keystack-startup-'));
const watch = join(dir, 'zod-watch.cjs');
writeFileSync(
  watch,
  `const M = require('node:module'); const load = M._load;
M._load = function (req, ...rest) {
  if (req === 'zod' || req.startsWith('zod/')) process.stderr.write('[zod loaded]\\n');
  return load.call(this, req, ...rest);
};\n`,
);

describe('start-up', () => {
  const e = tempEnv({ KEYSTACK_PASSPHRASE: 'correct-horse-battery-staple', NODE_OPTIONS: `--require ${watch}` });
  const loadsZod = (args: string[]) => {
    const r = cli(e, args);
    expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stderr.includes('[zod loaded]');
  };

  it('loads no zod for commands that do not validate with it', () => {
    for (const args of [
      ['--help'],
      ['status'],
      ['secret', 'list'],
      ['secret', 'register', 'db', '--user=admin'],
      ['secret', '--help'],
      ['stack', 'list'],
      ['orchestrator', 'list'],
      ['keys', 'list'],
      ['pipeline', 'runs', 'list'],
    ])
      expect(loadsZod(args), args.join(' ')).toBe(false);
  });

  it('does load it where a schema validates (so the check above can see a load)', () => {
    expect(loadsZod(['schema', 'describe', 'aws'])).toBe(true);
  });
});
