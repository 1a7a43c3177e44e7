// Custom flavors end to end through the built CLI: register the example module, list it, use it
// in a stack with its own schema; and the failure paths (clashes, a module that disappears).
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cli, tempEnv, type CliEnv } from '../support/cli.js';

const MODULE = resolve('examples/custom-flavor/directory-flavor.ts');

function ok(e: CliEnv, args: string[], cwd?: string): string {
  const r = cli(e, args, cwd === undefined ? {} : { cwd });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const flavorModule = (name: string) =>
  `export const f = { kind: 'keystack.flavor', name: ${JSON.stringify(name)}, description: 'plain module', supportsScoping: false, separator: '/', nameRule: { pattern: /.+/, maxLength: 9, description: '' }, maxContentBytes: 9, capabilities: { readValues: true }, dependencies: {}, isLocal: true, config: {}, create: () => ({}) };`;

describe('keystack secrets-manager flavor register', () => {
  it('registers the example TypeScript module and uses its flavor and schema in a stack', () => {
    const e = tempEnv();
    const store = join(e.configDir, 'dir-store');
    // A relative path, from the repository root: stored as an absolute path.
    expect(ok(e, ['secrets-manager', 'flavor', 'register', 'examples/custom-flavor/directory-flavor.ts'])).toContain(
      'flavors directory; schemas api_token',
    );

    // From another working directory, `flavor list` still finds it and shows where it comes from.
    const listed = (
      JSON.parse(ok(e, ['--json', 'secrets-manager', 'flavor', 'list'], tmpdir())) as {
        flavors: { name: string; source: string; scoping: boolean }[];
      }
    ).flavors;
    expect(listed.find((f) => f.name === 'directory')).toMatchObject({ source: MODULE, scoping: true });
    expect(ok(e, ['secrets-manager', 'flavor', 'list'])).toMatch(
      /directory\s+yes\s+\S*examples\/custom-flavor\/directory-flavor\.ts/,
    );
    expect(ok(e, ['schema', 'list'])).toMatch(/api_token\s+token, endpoint, expires_days/);

    ok(e, ['secrets-manager', 'register', 'files', '--flavor=directory', `--path=${store}`]);
    ok(e, ['stack', 'register', 'dirs', '-x', 'files', '--set']);
    ok(e, [
      'secret',
      'register',
      'tok',
      '-s',
      'api_token',
      '--token=abcdefgh123',
      '--endpoint=https://api.example.com',
    ]);
    expect(ok(e, ['secret', 'get', 'tok', '--key', 'token'])).toBe('abcdefgh123');
    expect(JSON.parse(ok(e, ['--json', 'secret', 'get', 'tok']))).toEqual({
      name: 'tok',
      schema: 'api_token',
      values: { token: 'abcdefgh123', endpoint: 'https://api.example.com', expires_days: '90' },
      data: { token: 'abcdefgh123', endpoint: 'https://api.example.com', expires_days: 90 },
    });
    const uuid = (JSON.parse(ok(e, ['--json', 'secrets-manager', 'describe', 'files'])) as { id: string }).id;
    const file = join(store, 'keystack', 'component', uuid, 'tok.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({
      token: 'abcdefgh123',
      keystack_schema_name: 'api_token',
    });

    const bad = cli(e, ['secret', 'register', 'bad', '-s', 'api_token', '--token=short']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("values do not match schema 'api_token': token");

    // The module cannot be removed while a manager uses its flavor.
    const inUse = cli(e, ['secrets-manager', 'flavor', 'unregister', MODULE]);
    expect(inUse.status).toBe(1);
    expect(inUse.stderr).toContain("provides the flavor of secrets manager 'files'");
    ok(e, ['secret', 'delete', 'tok', '-y']);
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a flavor or schema name that is already taken', () => {
    const e = tempEnv();
    const dir = mkdtempSync(join(tmpdir(), 'keystack-plugins-'));
    writeFileSync(join(dir, 'local.mjs'), flavorModule('local'));
    const clash = cli(e, ['secrets-manager', 'flavor', 'register', join(dir, 'local.mjs')]);
    expect(clash.status).toBe(1);
    expect(clash.stderr).toContain("flavor 'local' is already provided by built-in");
    writeFileSync(
      join(dir, 'mysql.mjs'),
      `export const s = { kind: 'keystack.schema', name: 'mysql', description: '', object: null };`,
    );
    const schema = cli(e, ['schema', 'register', join(dir, 'mysql.mjs')]);
    expect(schema.status).toBe(1);
    expect(schema.stderr).toContain("schema 'mysql' already exists");
    expect(ok(e, ['--json', 'secrets-manager', 'flavor', 'list'])).not.toContain(dir);
  });

  it('a registered module that disappears is reported, not fatal, and can be unregistered', () => {
    const e = tempEnv();
    const dir = mkdtempSync(join(tmpdir(), 'keystack-plugins-'));
    const module = join(dir, 'gone.mjs');
    writeFileSync(module, flavorModule('gone'));
    ok(e, ['secrets-manager', 'flavor', 'register', module]);
    rmSync(module);
    const list = cli(e, ['secrets-manager', 'flavor', 'list']);
    expect(list.status).toBe(0);
    expect(list.stderr).toContain(`registered module ${module} failed to load`);
    ok(e, ['secret', 'register', 'still-works', '--a=b']);
    const unknown = cli(e, ['secrets-manager', 'register', 'x', '--flavor=gone']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain(`registered modules that failed to load: ${module}`);
    expect(ok(e, ['secrets-manager', 'flavor', 'unregister', module])).toContain(`Unregistered ${module}`);
    expect(cli(e, ['secrets-manager', 'flavor', 'list']).stderr).toBe('');
  });

  it("keeps the code and hint of a keystack error thrown by the module's flavor", () => {
    const e = tempEnv();
    const dir = mkdtempSync(join(tmpdir(), 'keystack-plugins-'));
    const module = join(dir, 'unsupported.mjs');
    // The module's copy of keystack (the library build) is not the CLI bundle's.
    writeFileSync(
      module,
      `import { UnsupportedOperationError } from ${JSON.stringify(pathToFileURL(resolve('dist/lib/index.js')).href)};
${flavorModule('nope').replace('create: () => ({})', "create: () => ({ get: async () => { throw new UnsupportedOperationError('nope', 'read values', 'it is write-only', 'Read them elsewhere.'); } })")}`,
    );
    ok(e, ['secrets-manager', 'flavor', 'register', module]);
    ok(e, ['secrets-manager', 'register', 'w', '--flavor=nope']);
    ok(e, ['stack', 'register', 'ws', '-x', 'w', '--set']);
    const r = cli(e, ['--json', 'secret', 'get', 'abc']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        code: 'unsupported',
        message: 'the nope flavor cannot read values: it is write-only',
        hint: 'Read them elsewhere.',
      },
    });
  });
});
