/**
 * The supported Node versions as package.json, the README and CI state them, and the AWS SDK pin
 * that holds while Node 20 is supported (README, "Supported Node versions").
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  engines: { node: string };
  optionalDependencies: Record<string, string>;
};
const readme = readFileSync('README.md', 'utf8');

describe('supported Node versions', () => {
  it('engines names the majors 20, 22, 24 and 26, and the README states the same range', () => {
    expect(pkg.engines.node).toBe('^20.0.0 || ^22.0.0 || ^24.0.0 || >=26.0.0');
    expect(readme).toContain(`\`${pkg.engines.node}\``);
    for (const major of [20, 22, 24, 26]) expect(readme).toMatch(new RegExp(`^\\| ${major}( LTS)? \\| supported`, 'm'));
  });

  it('while Node 20 is supported, the AWS SDK is pinned to one exact version, which the README names', () => {
    expect(pkg.engines.node).toMatch(/\^20\./);
    const sdk = Object.entries(pkg.optionalDependencies).filter(([name]) => name.startsWith('@aws-sdk/'));
    expect(sdk.length).toBeGreaterThan(0);
    for (const [name, range] of sdk) {
      expect(range, `${name}: a ~ or ^ range would take releases that need Node 22`).toMatch(/^\d+\.\d+\.\d+$/);
      expect(readme).toContain(`exact version \`${range}\``);
    }
  });

  it('CI runs the suite on the default node, then on Node 24 through scripts/with-node.sh', () => {
    const ci = readFileSync('.ci/run', 'utf8');
    const lines = ci.split('\n');
    expect(lines.indexOf('bash scripts/with-node.sh 24 npm test')).toBeGreaterThan(lines.indexOf('npm test'));
    expect(lines.indexOf('npm test')).toBeGreaterThan(0);
  });
});

describe('scripts/with-node.sh', () => {
  const run = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync('bash', ['scripts/with-node.sh', ...args], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: mkdtempSync(join(tmpdir(), 'with-node-')), ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: r.status, out: r.stdout + r.stderr };
  };

  it('needs a major version, and says how to give one', () => {
    const r = run([]);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/give a Node\.js major version, e\.g\. scripts\/with-node\.sh 24 npm test\nhint: usage:/);
  });

  it('refuses a KEYSTACK_NODE_VERSION of another major before fetching anything', () => {
    const cache = mkdtempSync(join(tmpdir(), 'with-node-cache-'));
    const r = run(['24', 'true'], { KEYSTACK_NODE_VERSION: '22.1.0', KEYSTACK_NODE_CACHE: cache });
    expect(r.status).toBe(1);
    expect(r.out).toContain('KEYSTACK_NODE_VERSION=22.1.0 is not a Node 24 version');
  });
});
