/** What an app that installed keystack gets: ESM (which require() loads too), and `z` from the package itself. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

function app(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'keystack-app-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(resolve('.'), join(dir, 'node_modules/keystack'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
const node = (dir: string, file: string) =>
  spawnSync(process.execPath, [file], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', HOME: dir, KEYSTACK_CONFIG_DIR: join(dir, 'cfg') },
  });

describe('keystack as a dependency', () => {
  it('exports z, so a typed schema needs no zod install of its own, and keystack accepts it', () => {
    const dir = app({
      'app.mjs': `import { Keystack, defineSchema, z } from 'keystack';
const token = defineSchema('token', z.object({ token: z.string(), ttl: z.number().default(3600) }));
const ks = new Keystack();
const sm = await ks.secretsManager();
await sm.register('api', { token: 'tok-value-1' }, { schema: token });
const got = await sm.get('api', token);
console.log(JSON.stringify(got.data));
await ks.close();
`,
    });
    const r = node(dir, 'app.mjs');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ token: 'tok-value-1', ttl: 3600 });
  });

  it('require() loads the ESM entry through the default condition (Node 20.19 and later), as the README says', () => {
    const dir = app({
      'app.cjs': "const { Keystack, z } = require('keystack');\nconsole.log(typeof Keystack, typeof z.object);\n",
    });
    const r = node(dir, 'app.cjs');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('function function');
    expect(readFileSync('README.md', 'utf8')).toContain(
      "`require('keystack')`\nworks from CommonJS on Node 20.19 and later",
    );
  });
});
