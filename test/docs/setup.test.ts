/**
 * The README's setup: `npm run setup` (and `npm run quickstart`, which runs it) puts `keystack` on
 * the PATH through a link in ~/.local/bin, and both are safe to run again.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const BASE_PATH = process.env['PATH'] ?? '/usr/bin:/bin';

function script(name: string, env: Record<string, string>) {
  // The test run has built dist/ already: the scripts skip the build, as they do under npm test.
  const r = spawnSync('bash', [`scripts/${name}`], {
    env: { PATH: BASE_PATH, KEYSTACK_SKIP_BUILD: '1', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('npm run setup', () => {
  it('links keystack into ~/.local/bin, says how to put that on the PATH, and is safe to run again', () => {
    const home = mkdtempSync(join(tmpdir(), 'keystack-home-'));
    const first = script('setup.sh', { HOME: home });
    expect(first.status, first.out).toBe(0);
    const link = join(home, '.local/bin/keystack');
    expect(readlinkSync(link)).toBe(resolve('bin/keystack.cjs'));
    expect(first.out).toContain(`${home}/.local/bin is not on your PATH yet`);
    expect(first.out).toContain(`export PATH="${home}/.local/bin:$PATH"`);
    // With the directory on the PATH, `keystack` works as the README writes it.
    const env = { HOME: home, PATH: `${home}/.local/bin:${BASE_PATH}`, KEYSTACK_CONFIG_DIR: join(home, 'cfg') };
    const again = script('setup.sh', env);
    expect(again.status, again.out).toBe(0);
    expect(again.out).toContain('is on your PATH');
    const r = spawnSync('bash', ['-c', 'keystack secret list'], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('No secrets in');
  });

  it('rebuilds a better-sqlite3 addon that this node cannot load, and then goes on', () => {
    const home = mkdtempSync(join(tmpdir(), 'keystack-home-'));
    const fake = join(home, 'fakebin');
    mkdirSync(fake);
    const rebuilt = join(home, 'rebuilt');
    // A node that refuses the addon, with Node's own message, until `npm rebuild better-sqlite3` ran.
    writeFileSync(
      join(fake, 'node'),
      `#!/bin/bash
if [[ $1 == -e && $2 == *better-sqlite3* && ! -e '${rebuilt}' ]]; then
  echo "Error: The module 'better_sqlite3.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 127. This version of Node.js requires NODE_MODULE_VERSION 115." >&2
  exit 1
fi
exec '${process.execPath}' "$@"
`,
      { mode: 0o755 },
    );
    writeFileSync(
      join(fake, 'npm'),
      `#!/bin/bash
echo "npm $*" >> '${home}/npm.log'
[[ "$*" == "rebuild better-sqlite3" ]] && touch '${rebuilt}'
exit 0
`,
      { mode: 0o755 },
    );
    const r = script('setup.sh', { HOME: home, PATH: `${fake}:${BASE_PATH}` });
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain("better-sqlite3's native addon does not load under node");
    expect(readFileSync(join(home, 'npm.log'), 'utf8')).toBe('npm rebuild better-sqlite3\n');
    expect(readlinkSync(join(home, '.local/bin/keystack'))).toBe(resolve('bin/keystack.cjs'));
    // Loading fine, nothing is rebuilt.
    const again = script('setup.sh', { HOME: home, PATH: `${fake}:${BASE_PATH}` });
    expect(again.status, again.out).toBe(0);
    expect(again.out).not.toContain('does not load');
    expect(readFileSync(join(home, 'npm.log'), 'utf8')).toBe('npm rebuild better-sqlite3\n');
  });

  it.each([
    ['this node’s version', process.versions.node, true],
    ['another version', '1.2.3', false],
  ] as const)(
    'rebuilds against the headers beside node when they are %s, else lets node-gyp fetch them',
    (_, version, used) => {
      const home = mkdtempSync(join(tmpdir(), 'keystack-home-'));
      const fake = join(home, 'bin');
      mkdirSync(fake);
      mkdirSync(join(home, 'include/node'), { recursive: true });
      const [major, minor, patch] = version.split('.');
      writeFileSync(
        join(home, 'include/node/node_version.h'),
        `#define NODE_MAJOR_VERSION ${major}\n#define NODE_MINOR_VERSION ${minor}\n#define NODE_PATCH_VERSION ${patch}\n`,
      );
      const rebuilt = join(home, 'rebuilt');
      // <home>/bin/node: its headers are <home>/include/node, as in an official build's layout.
      writeFileSync(
        join(fake, 'node'),
        `#!/bin/bash
if [[ $1 == -e && $2 == *better-sqlite3* && ! -e '${rebuilt}' ]]; then exit 1; fi
exec '${process.execPath}' "$@"
`,
        { mode: 0o755 },
      );
      writeFileSync(
        join(fake, 'npm'),
        `#!/bin/bash
echo "npm $* nodedir=\${npm_config_nodedir:-}" >> '${home}/npm.log'
touch '${rebuilt}'
`,
        { mode: 0o755 },
      );
      const r = script('setup.sh', { HOME: home, KEYSTACK_BIN_DIR: join(home, 'links'), PATH: `${fake}:${BASE_PATH}` });
      expect(r.status, r.out).toBe(0);
      expect(readFileSync(join(home, 'npm.log'), 'utf8')).toBe(
        `npm rebuild better-sqlite3 nodedir=${used ? home : ''}\n`,
      );
    },
  );

  it('never replaces a keystack that is not its own link', () => {
    const home = mkdtempSync(join(tmpdir(), 'keystack-home-'));
    mkdirSync(join(home, 'bin'));
    writeFileSync(join(home, 'bin/keystack'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
    const r = script('setup.sh', { HOME: home, KEYSTACK_BIN_DIR: join(home, 'bin') });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/exists and is not a keystack link[\s\S]*hint: .*KEYSTACK_BIN_DIR=DIR npm run setup/);
    expect(lstatSync(join(home, 'bin/keystack')).isSymbolicLink()).toBe(false);
  });
});

describe('the other documented ways to run it', () => {
  it('npx keystack and node bin/keystack.cjs work in the checkout', () => {
    const home = mkdtempSync(join(tmpdir(), 'keystack-home-'));
    const env = { PATH: BASE_PATH, HOME: home, KEYSTACK_CONFIG_DIR: join(home, 'cfg') };
    // --no-install: the checkout's own bin, never a download.
    for (const argv of [
      ['npx', '--no-install', 'keystack', '--version'],
      [process.execPath, 'bin/keystack.cjs', '--version'],
    ]) {
      const r = spawnSync(argv[0] ?? '', argv.slice(1), { env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });
});

describe('npm run quickstart', () => {
  it('succeeds twice on the same KEYSTACK_CONFIG_DIR', () => {
    const home = mkdtempSync(join(tmpdir(), 'keystack-home-'));
    const env = { HOME: home, KEYSTACK_CONFIG_DIR: join(home, 'cfg') };
    const first = script('quickstart.sh', env);
    expect(first.status, first.out).toBe(0);
    expect(first.out).toContain("Created secret 'quickstart_db'");
    const second = script('quickstart.sh', env);
    expect(second.status, second.out).toBe(0);
    expect(second.out).toContain("Updated secret 'quickstart_db'");
    expect(second.out).toContain('quickstart OK');
  });
});
