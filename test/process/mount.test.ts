/** The files of `run --mount` (src/process/mount.ts): names, modes, and removal. */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountFileName, writeMounts } from '../../src/process/mount.js';

describe('mountFileName', () => {
  it.each([
    ['PGPASSFILE', 'pgpass.tmpl', 'PGPASSFILE'],
    ['CREDS', 'conf/sa.json.tmpl', 'CREDS.json'],
    ['CREDS', 'sa.json', 'CREDS.json'],
    ['KUBECONFIG', '/abs/kube.config.template', 'KUBECONFIG.config'],
    ['ENV', '.env', 'ENV'],
    ['X', 'noext', 'X'],
  ])('%s=%s gives %s', (variable, template, want) => {
    expect(mountFileName(variable, template)).toBe(want);
  });
});

describe('writeMounts', () => {
  it('writes each file 0600 in one 0700 directory, and remove() takes them away (twice is harmless)', () => {
    const m = writeMounts({ A: { template: 'a.yaml.tmpl', text: 'a: 1\n' }, B: { template: 'b', text: 'b' } });
    expect(Object.keys(m.paths)).toEqual(['A', 'B']);
    expect(m.paths['A']).toBe(join(m.dir, 'A.yaml'));
    expect(statSync(m.dir).mode & 0o777).toBe(0o700);
    for (const p of Object.values(m.paths)) expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readFileSync(m.paths['A'] ?? '', 'utf8')).toBe('a: 1\n');
    m.remove();
    m.remove();
    expect(existsSync(m.dir)).toBe(false);
  });

  it('a directory it cannot write in is one clear error, and nothing is left', () => {
    const parent = mkdtempSync(join(tmpdir(), 'keystack-mount-'));
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = join(parent, 'missing');
    try {
      expect(() => writeMounts({ A: { template: 't', text: 'x' } })).toThrow(
        /cannot write the --mount files in .*missing \(ENOENT\); the command was not started/,
      );
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
    }
    expect(readdirSync(parent)).toEqual([]);
  });
});
