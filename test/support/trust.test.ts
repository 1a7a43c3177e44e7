// The trust checks themselves (src/support/trust.ts); the attacks they stop are in
// test/security/ownership.test.ts.
import { describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkTrustedChain,
  checkTrustedDir,
  checkTrustedFile,
  findPrivateGroup,
  readTrustedSecretFile,
} from '../../src/support/trust.js';

const isRoot = process.getuid?.() === 0;

function tree() {
  const base = mkdtempSync(join(tmpdir(), 'ks-trustunit-'));
  const dir = (name: string, mode: number) => {
    const d = join(base, name);
    mkdirSync(d);
    chmodSync(d, mode);
    return d;
  };
  const file = (name: string, mode: number, body = 'x') => {
    const f = join(base, name);
    writeFileSync(f, body);
    chmodSync(f, mode);
    return f;
  };
  return { base, dir, file };
}

describe('trust checks', () => {
  it('treats a missing path as absent, not as a failure', () => {
    const t = tree();
    expect(checkTrustedDir(join(t.base, 'none'))).toBe(false);
    expect(checkTrustedFile(join(t.base, 'none'), { secret: true })).toBe(false);
    expect(checkTrustedFile(join(t.base, 'none', 'deeper'))).toBe(false);
    expect(readTrustedSecretFile(join(t.base, 'none'))).toBeNull();
  });

  it('accepts a private directory and a sticky world-writable one; refuses a world-writable one', () => {
    const t = tree();
    expect(checkTrustedDir(t.dir('private', 0o700))).toBe(true);
    expect(checkTrustedDir(t.dir('readable', 0o755))).toBe(true);
    expect(checkTrustedDir(t.dir('sticky', 0o1777))).toBe(true);
    const o = t.dir('open', 0o777);
    expect(() => checkTrustedDir(o)).toThrow(
      expect.objectContaining({
        code: 'config',
        message: `refusing to use ${o}: it is writable by group and others`,
        hint: expect.stringContaining(`chmod 700 ${o}`),
      }),
    );
    expect(() => checkTrustedDir(t.file('f', 0o600))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });

  it('tightens a readable directory only when asked, and says so', () => {
    const t = tree();
    const d = t.dir('readable', 0o755);
    checkTrustedDir(d);
    expect(statSync(d).mode & 0o777).toBe(0o755);
    const said: string[] = [];
    checkTrustedDir(d, { tighten: (m) => said.push(m) });
    expect(statSync(d).mode & 0o777).toBe(0o700);
    expect(said).toEqual([
      `${d} was readable by group and others; keystack changed it to 0700 because it holds secrets and keys.`,
    ]);
    checkTrustedDir(d, { tighten: (m) => said.push(m) });
    expect(said).toHaveLength(1);
  });

  it('refuses a key file that others can read, that is a symlink, or that is not a regular file', () => {
    const t = tree();
    const good = t.file('good.key', 0o600, 'k'.repeat(32));
    expect(checkTrustedFile(good, { secret: true })).toBe(true);
    expect(readTrustedSecretFile(good)?.toString()).toBe('k'.repeat(32));
    expect(checkTrustedFile(t.file('ro.key', 0o400), { secret: true })).toBe(true);
    const g = t.file('g.key', 0o640);
    expect(() => checkTrustedFile(g, { secret: true })).toThrow(
      `refusing to use ${g}: it is readable by group, and it is a key`,
    );
    expect(() => readTrustedSecretFile(g)).toThrow('readable by group');
    // The same mode is fine for a file that holds no key (a store holds only ciphertext).
    expect(checkTrustedFile(g)).toBe(true);
    const link = join(t.base, 'link.key');
    symlinkSync(good, link);
    expect(() => checkTrustedFile(link, { secret: true })).toThrow('it is a symlink');
    expect(() => readTrustedSecretFile(link)).toThrow('it is a symlink');
    const d = t.dir('d.key', 0o700);
    expect(() => checkTrustedFile(d, { secret: true })).toThrow('it is not a regular file');
    expect(() => checkTrustedFile(t.file('w', 0o666))).toThrow('it is writable by group and others');
  });

  it('resolves a module to its real path and checks every directory above it', () => {
    const t = tree();
    const sticky = t.dir('sticky', 0o1777);
    const mod = join(sticky, 'm.mjs');
    writeFileSync(mod, '');
    chmodSync(mod, 0o644);
    const link = join(t.base, 'link.mjs');
    symlinkSync(mod, link);
    expect(checkTrustedChain(link)).toBe(mod);
    const open = t.dir('open', 0o777);
    const inner = join(open, 'inner');
    mkdirSync(inner, { mode: 0o700 });
    const deep = join(inner, 'm.mjs');
    writeFileSync(deep, '');
    expect(() => checkTrustedChain(deep)).toThrow(`refusing to use ${open}: it is writable by group and others`);
    expect(() => checkTrustedChain(join(t.base, 'none.mjs'))).toThrow('cannot be resolved (ENOENT)');
  });

  it.skipIf(!isRoot)('refuses a path writable by a group that is not your private group (needs root to chgrp)', () => {
    const t = tree();
    // A gid no /etc/group lists: nobody's private group, whoever runs the test.
    const g = t.dir('group', 0o770);
    chownSync(g, 0, 54321);
    expect(() => checkTrustedDir(g)).toThrow(
      expect.objectContaining({
        message: `refusing to use ${g}: it is writable by group (gid 54321, which is not your private group)`,
        hint: expect.stringContaining(`chmod 700 ${g}`),
      }),
    );
    const f = t.file('m.mjs', 0o664);
    chownSync(f, 0, 54321);
    expect(() => checkTrustedChain(f)).toThrow(`refusing to use ${f}: it is writable by group (gid 54321`);
    // With others too, the group is not the point.
    chmodSync(g, 0o777);
    expect(() => checkTrustedDir(g)).toThrow(new RegExp(`^refusing to use ${g}: it is writable by group and others$`));
  });

  it.skipIf(!isRoot)('refuses what another user owns, and accepts what root owns (needs root to chown)', () => {
    const t = tree();
    const theirs = t.dir('theirs', 0o700);
    chownSync(theirs, 1002, 1002);
    expect(() => checkTrustedDir(theirs)).toThrow(
      `refusing to use ${theirs}: it is owned by uid 1002, not by you (uid 0)`,
    );
    const f = t.file('their.key', 0o600);
    chownSync(f, 1002, 1002);
    expect(() => checkTrustedFile(f, { secret: true })).toThrow(
      expect.objectContaining({ hint: expect.stringContaining('planted') }),
    );
    const mod = t.file('m.mjs', 0o644);
    chownSync(mod, 1002, 1002);
    expect(() => checkTrustedChain(mod)).toThrow('owned by uid 1002');
  });

  describe('private groups (the one relaxation: group-writable is accepted when the group is yours alone)', () => {
    const passwd = [
      'root:x:0:0:root:/root:/bin/bash',
      'alice:x:1000:1000::/home/alice:/bin/bash',
      'bob:x:1001:1001::/home/bob:/bin/bash',
      'carol:x:1002:100::/home/carol:/bin/bash',
      'dave:x:1003:1003::/home/dave:/bin/bash',
      'erin:x:1004:1003::/home/erin:/bin/bash',
      'frank:x:1005:1005::/home/frank:/bin/bash',
      'grace:x:1006:1006::/home/grace:/bin/bash',
    ].join('\n');
    const group = [
      'root:x:0:',
      'users:x:100:carol',
      'alice:x:1000:',
      'bob:x:1001:bob',
      'dave:x:1003:',
      'grace:x:1006:grace,mallory',
      'team:x:1010:alice,bob',
      '',
    ].join('\n');

    it('is the group whose gid is your primary gid, whose name is yours, and that nobody else is in', () => {
      expect(findPrivateGroup(1000, passwd, group)).toBe(1000);
      expect(findPrivateGroup(1001, passwd, group)).toBe(1001); // listing yourself as a member is fine
      expect(findPrivateGroup(0, passwd, group)).toBe(0);
    });

    it('is not a shared primary group, a group of another name, one with other members, or one /etc/group does not list', () => {
      expect(findPrivateGroup(1002, passwd, group)).toBeNull(); // primary group `users`
      expect(findPrivateGroup(1003, passwd, group)).toBeNull(); // erin's primary group too
      expect(findPrivateGroup(1004, passwd, group)).toBeNull(); // named dave
      expect(findPrivateGroup(1006, passwd, group)).toBeNull(); // mallory is a member
      expect(findPrivateGroup(1005, passwd, group)).toBeNull(); // not in /etc/group
      expect(findPrivateGroup(4242, passwd, group)).toBeNull(); // not in /etc/passwd
      expect(findPrivateGroup(1000, '', '')).toBeNull();
    });

    it("is nobody's when NIS `+` lines can add users or members that the files do not show", () => {
      expect(findPrivateGroup(1000, `${passwd}\n+::::::`, group)).toBeNull();
      expect(findPrivateGroup(1000, passwd, `${group}+:::\n`)).toBeNull();
    });
  });
});
