// Files and modules that someone else owns or can write (issue 8 §3, issue 18). Every attack runs
// as a second uid against a non-root victim: as root, every file would be the victim's own. Each
// test checks that the victim is refused with a one-line error naming the path, and that nothing
// was written, decrypted or run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BIN, type CliResult } from '../support/cli.js';

const VICTIM = 1001;
const ATTACKER = 1002;
const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

interface User {
  uid: number;
  home: string;
  env: Record<string, string>;
  /** Supplementary groups; none when absent. */
  groups?: number[];
}

/** A directory tree the two users can reach, and a private home for each. */
function world(victimUid = VICTIM, attackerUid = ATTACKER) {
  const base = mkdtempSync(join(tmpdir(), 'ks-trust-'));
  chmodSync(base, 0o755);
  const user = (uid: number, name: string): User => {
    const home = join(base, name);
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, uid);
    return {
      uid,
      home,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, KEYSTACK_CONFIG_DIR: join(home, 'cfg') },
    };
  };
  /** A root-owned directory such as an admin's /srv/shared (0777) or /tmp (1777). */
  const shared = (name: string, mode: number) => {
    const dir = join(base, name);
    mkdirSync(dir);
    chmodSync(dir, mode);
    return dir;
  };
  return { base, victim: user(victimUid, 'victim'), attacker: user(attackerUid, 'attacker'), shared };
}

function as(u: User, argv: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(
    'setpriv',
    [`--reuid=${u.uid}`, `--regid=${u.uid}`, u.groups ? `--groups=${u.groups.join(',')}` : '--clear-groups', ...argv],
    {
      env: { ...u.env, ...env },
      cwd: u.home,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ks(u: User, args: string[], env: Record<string, string> = {}): CliResult {
  return as(u, [process.execPath, BIN, ...args], env);
}

function ok(u: User, args: string[], env: Record<string, string> = {}): string {
  const r = ks(u, args, env);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function sh(u: User, script: string): void {
  const r = as(u, ['sh', '-c', script]);
  expect(r.status, r.stderr).toBe(0);
}

/** Refused: exit 1, one error line naming `path`, a hint line, and no value on stdout. */
function expectRefused(r: CliResult, path: string, why: RegExp): void {
  expect(r.status, r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(2);
  expect(lines[0]).toBe(lines[0]?.match(/^Error: refusing to use \S+: .*/)?.[0]);
  expect(lines[0]).toContain(`refusing to use ${path}:`);
  expect(lines[0]).toMatch(why);
  expect(lines[1]).toMatch(/^Hint: /);
  expect(r.stdout).toBe('');
}

/** Name → sha256 of every file in `dir`, to prove that nothing in it changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort())
    if (statSync(join(dir, f)).isFile())
      out[f] = createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex');
  return out;
}

/** The attacker's own store, made in their home and copied into `dir` (store, key and WAL files). */
function plantStore(attacker: User, dir: string): void {
  const store = join(attacker.home, 'st', 'secrets.db');
  ok(attacker, ['secrets-manager', 'update', 'default', `--path=${store}`, '--scope=global']);
  ok(attacker, ['secret', 'register', 'bait', '--k=attacker-value']);
  sh(attacker, `cp ${store}* ${dir}/`);
}

describe.skipIf(!isRoot || !hasSetpriv)(
  'trust: files and modules someone else can write (needs root and setpriv to switch uids)',
  () => {
    it('refuses a store in a world-writable directory where another user planted a key and a store', () => {
      const w = world();
      const shared = w.shared('shared', 0o777);
      plantStore(w.attacker, shared);
      const before = snapshot(shared);
      expect(Object.keys(before)).toEqual(expect.arrayContaining(['secrets.db', 'secrets.db.key']));

      ok(w.victim, ['secrets-manager', 'update', 'default', `--path=${join(shared, 'secrets.db')}`, '--scope=global']);
      const r = ks(w.victim, ['secret', 'register', 'db', '--password=victim-password-1']);
      expectRefused(r, shared, /writable by group and others/);
      expect(r.stderr).toContain(`chmod 700 ${shared}`);
      expect(snapshot(shared)).toEqual(before);
    });

    it('refuses a key file and a store that another user planted in a sticky directory (like /tmp)', () => {
      const w = world();
      const shared = w.shared('tmp', 0o1777);
      plantStore(w.attacker, shared);
      const before = snapshot(shared);

      ok(w.victim, ['secrets-manager', 'update', 'default', `--path=${join(shared, 'secrets.db')}`, '--scope=global']);
      const r = ks(w.victim, ['secret', 'register', 'db', '--password=victim-password-1']);
      expectRefused(
        r,
        join(shared, 'secrets.db.key'),
        new RegExp(`owned by uid ${ATTACKER}, not by you \\(uid ${VICTIM}\\)`),
      );
      expect(snapshot(shared)).toEqual(before);

      // With a key of the victim's own, the planted store itself is refused.
      const own = ks(w.victim, ['secret', 'register', 'db', '--password=victim-password-1'], {
        KEYSTACK_LOCAL_KEY: Buffer.alloc(32, 7).toString('base64'),
      });
      expectRefused(own, join(shared, 'secrets.db'), /owned by uid 1002/);
      expect(snapshot(shared)).toEqual(before);
    });

    it('refuses WAL files planted beside the victim’s own store in a sticky directory', () => {
      const w = world();
      const shared = w.shared('tmp', 0o1777);
      const store = join(shared, 'secrets.db');
      ok(w.victim, ['secrets-manager', 'update', 'default', `--path=${store}`]);
      ok(w.victim, ['secret', 'register', 'db', '--password=victim-password-1']);
      expect(existsSync(`${store}-wal`)).toBe(false);
      sh(w.attacker, `printf 'planted' > ${store}-wal`);
      const before = snapshot(shared);

      const r = ks(w.victim, ['secret', 'get', 'db']);
      expectRefused(r, `${store}-wal`, /owned by uid 1002/);
      expect(snapshot(shared)).toEqual(before);
    });

    it('refuses a world-writable config directory whose config.db another user replaced (planted plugin row)', () => {
      const w = world();
      const marker = join(w.victim.home, 'pwned'); // where the victim can write
      const evil = join(w.base, 'evil.mjs');
      // Harmless as the attacker; as the victim it would leave a marker.
      writeFileSync(
        evil,
        `import { writeFileSync } from 'node:fs';\nif (process.getuid() === ${VICTIM}) writeFileSync(${JSON.stringify(marker)}, 'ran');\n` +
          `export const f = { kind: 'keystack.flavor', name: 'evil', description: 'x', supportsScoping: false, separator: '/', nameRule: { pattern: /.+/, maxLength: 9, description: '' }, maxContentBytes: 9, capabilities: { readValues: true }, dependencies: {}, isLocal: true, config: {}, create: () => ({ async list() { return []; } }) };\n`,
      );
      chownSync(evil, ATTACKER, ATTACKER);
      const cfg = w.shared('cfg', 0o755);
      chownSync(cfg, VICTIM, VICTIM);
      ok(w.victim, ['secret', 'register', 'db', '--password=victim-password-1'], { KEYSTACK_CONFIG_DIR: cfg });
      chmodSync(cfg, 0o777); // the victim's (or an admin's) mistake
      // The attacker builds a config.db with a plugin row and swaps it in.
      const theirs = join(w.attacker.home, 'cfg');
      ok(w.attacker, ['secrets-manager', 'flavor', 'register', evil]);
      sh(
        w.attacker,
        `cp ${theirs}/config.db ${cfg}/config.db.new && mv -f ${cfg}/config.db.new ${cfg}/config.db && rm -f ${cfg}/config.db-wal ${cfg}/config.db-shm`,
      );
      const before = snapshot(cfg);

      for (const args of [
        ['secret', 'list'],
        ['schema', 'list'],
        ['secret', 'get', 'db'],
      ]) {
        const r = ks(w.victim, args, { KEYSTACK_CONFIG_DIR: cfg });
        expectRefused(r, cfg, /writable by group and others/);
      }
      expect(existsSync(marker)).toBe(false);
      expect(snapshot(cfg)).toEqual(before);
    });

    it('refuses a config.db that another user planted in a sticky config directory before first use', () => {
      const w = world();
      const cfg = w.shared('cfg', 0o1777);
      ok(w.attacker, ['secret', 'list'], { KEYSTACK_CONFIG_DIR: cfg });
      const before = snapshot(cfg);
      const r = ks(w.victim, ['secret', 'register', 'db', '--password=victim-password-1'], {
        KEYSTACK_CONFIG_DIR: cfg,
      });
      expectRefused(r, join(cfg, 'config.db'), /owned by uid 1002/);
      expect(snapshot(cfg)).toEqual(before);
    });

    it('refuses a key file that others can read, or that is a symlink, without decrypting anything', () => {
      const w = world();
      const v = w.victim;
      ok(v, ['secret', 'register', 'db', '--password=victim-password-1']);
      const key = join(v.home, 'cfg', 'local_stores', 'secrets.db.key');

      chmodSync(key, 0o644);
      const readable = ks(v, ['secret', 'get', 'db', '--key', 'password']);
      expectRefused(readable, key, /readable by group and others, and it is a key/);
      expect(readable.stderr).toContain(`chmod 600 ${key}`);

      chmodSync(key, 0o600);
      sh(v, `mv ${key} ${key}.real && ln -s ${key}.real ${key}`);
      const linked = ks(v, ['secret', 'get', 'db', '--key', 'password']);
      expectRefused(linked, key, /a symlink/);

      sh(v, `rm ${key} && mv ${key}.real ${key}`);
      expect(ok(v, ['secret', 'get', 'db', '--key', 'password'])).toBe('victim-password-1');
    });

    it('tightens a config directory that others can read to 0700, with a warning', () => {
      const w = world();
      const v = w.victim;
      ok(v, ['secret', 'list']);
      const cfg = join(v.home, 'cfg');
      chmodSync(cfg, 0o755);
      const r = ks(v, ['secret', 'list']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain(`Warning: ${cfg} was readable by group and others; keystack changed it to 0700`);
      expect(statSync(cfg).mode & 0o777).toBe(0o700);
      expect(ks(v, ['secret', 'list']).stderr).not.toContain('Warning');
    });

    describe('plugin modules', () => {
      const flavorModule = (marker: string, tag: string) =>
        `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(marker)}, ${JSON.stringify(tag + '\n')});\n` +
        `export const f = { kind: 'keystack.flavor', name: 'mine', description: 'x', supportsScoping: false, separator: '/', nameRule: { pattern: /.+/, maxLength: 9, description: '' }, maxContentBytes: 9, capabilities: { readValues: true }, dependencies: {}, isLocal: true, config: {}, create: () => ({ async list() { return []; } }) };\n`;

      /** The victim's module in `dir`, registered and used by the active stack's manager. */
      function useModule(v: User, dir: string, marker: string): string {
        const mod = join(dir, 'mine.mjs');
        writeFileSync(mod, flavorModule(marker, 'good'));
        chownSync(mod, v.uid, v.uid);
        chmodSync(mod, 0o644);
        ok(v, ['secrets-manager', 'flavor', 'register', mod]);
        ok(v, ['secrets-manager', 'register', 'm', '--flavor=mine']);
        ok(v, ['stack', 'register', 's', '-x', 'm', '--set']);
        ok(v, ['secret', 'list']);
        return mod;
      }

      it('refuses to register a module that others can write, or that sits in a world-writable directory', () => {
        const w = world();
        const v = w.victim;
        const marker = join(v.home, 'ran'); // where the victim can write
        const mod = join(v.home, 'mine.mjs');
        writeFileSync(mod, flavorModule(marker, 'ran'));
        chownSync(mod, v.uid, v.uid);
        chmodSync(mod, 0o666);
        expectRefused(ks(v, ['secrets-manager', 'flavor', 'register', mod]), mod, /writable by group and others/);

        const open = w.shared('open', 0o777);
        const inOpen = join(open, 'mine.mjs');
        writeFileSync(inOpen, flavorModule(marker, 'ran'));
        chownSync(inOpen, v.uid, v.uid);
        chmodSync(inOpen, 0o644);
        expectRefused(ks(v, ['schema', 'register', inOpen]), open, /writable by group and others/);
        expect(existsSync(marker)).toBe(false);
        const listed = (
          JSON.parse(ok(v, ['--json', 'secrets-manager', 'flavor', 'list'])) as { flavors: { name: string }[] }
        ).flavors;
        expect(listed.map((f) => f.name)).not.toContain('mine');
      });

      it('checks a registered module again at every load: one made writable and changed by another user does not run', () => {
        const w = world();
        const v = w.victim;
        const marker = join(v.home, 'ran'); // where the victim can write
        // Outside the victim's 0700 home, so that the attacker can reach the module.
        const dir = join(w.base, 'victim-plugins');
        mkdirSync(dir, { mode: 0o755 });
        chownSync(dir, v.uid, v.uid);
        const mod = useModule(v, dir, marker);
        chmodSync(mod, 0o666); // the victim's mistake
        const payload = join(w.base, 'payload');
        writeFileSync(payload, `appendFileSync(${JSON.stringify(marker)}, 'evil\\n');\n`);
        sh(w.attacker, `cat ${payload} >> ${mod}`);
        expect(readFileSync(mod, 'utf8')).toContain('evil');
        const r = ks(v, ['secret', 'list']);
        expect(r.status, r.stderr).toBe(1);
        expect(r.stderr).toContain(`refusing to use ${mod}: it is writable by group and others`);
        const schemas = ks(v, ['schema', 'list']);
        expect(schemas.stderr).toContain(
          `Warning: registered module ${mod} failed to load, so its schemas are missing: refusing to use ${mod}`,
        );
        expect(readFileSync(marker, 'utf8')).not.toContain('evil');
      });

      it('stores the real path of a symlinked module, so re-targeting the link runs nothing else', () => {
        const w = world();
        const v = w.victim;
        const marker = join(v.home, 'ran'); // where the victim can write
        const dir = join(v.home, 'plugins');
        mkdirSync(dir, { mode: 0o755 });
        chownSync(dir, v.uid, v.uid);
        const real = join(dir, 'real.mjs');
        writeFileSync(real, flavorModule(marker, 'good'));
        const other = join(dir, 'other.mjs');
        writeFileSync(other, flavorModule(marker, 'other'));
        const link = join(dir, 'link.mjs');
        symlinkSync(real, link);
        for (const f of [real, other]) chownSync(f, v.uid, v.uid);
        ok(v, ['secrets-manager', 'flavor', 'register', link]);
        const listed = (
          JSON.parse(ok(v, ['--json', 'secrets-manager', 'flavor', 'list'])) as {
            flavors: { name: string; source: string }[];
          }
        ).flavors;
        expect(listed.find((f) => f.name === 'mine')?.source).toBe(real);
        // Unregistering by a link's path still finds the module it points to.
        symlinkSync(real, `${link}.2`);
        ok(v, ['secrets-manager', 'flavor', 'unregister', `${link}.2`]);
        ok(v, ['secrets-manager', 'flavor', 'register', link]);
        ok(v, ['secrets-manager', 'register', 'm', '--flavor=mine']);
        ok(v, ['stack', 'register', 's', '-x', 'm', '--set']);
        unlinkSync(link);
        symlinkSync(other, link);
        ok(v, ['secret', 'list']);
        expect(readFileSync(marker, 'utf8')).toContain('good');
        expect(readFileSync(marker, 'utf8')).not.toContain('other');
      });
    });

    describe('pipeline modules, and the private-group rule', () => {
      // Real accounts, since the private-group rule reads /etc/passwd and /etc/group. Each has a
      // private group of its own name and id (Debian's adduser default); the team group has both.
      const PV = { name: 'ks-pgvictim', id: 1101 };
      const PA = { name: 'ks-pgattacker', id: 1102 };
      const TEAM = { name: 'ks-pgteam', id: 1103 };
      const LIB = resolve('dist/lib/index.js');

      const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
      const removeAccounts = () => {
        for (const u of [PV, PA]) run('userdel', [u.name]);
        for (const g of [TEAM, PA, PV]) run('groupdel', [g.name]);
      };
      beforeAll(() => {
        removeAccounts(); // left over from an interrupted run
        for (const u of [PV, PA]) {
          for (const [cmd, args] of [
            ['groupadd', ['-g', String(u.id), u.name]],
            [
              'useradd',
              [
                '-M',
                '-N',
                '-u',
                String(u.id),
                '-g',
                String(u.id),
                '-d',
                '/nonexistent',
                '-s',
                '/usr/sbin/nologin',
                u.name,
              ],
            ],
          ] as const) {
            const r = run(cmd, [...args]);
            expect(r.status, r.stderr).toBe(0);
          }
        }
        const r = run('groupadd', ['-g', String(TEAM.id), '-U', `${PV.name},${PA.name}`, TEAM.name]);
        expect(r.status, r.stderr).toBe(0);
      });
      afterAll(removeAccounts);

      /** A pipeline that leaves `tag` in `marker` when its module is imported. */
      const pipelineModule = (marker: string, tag: string) =>
        `import { appendFileSync } from 'node:fs';\nimport { pipeline, step } from ${JSON.stringify(LIB)};\n` +
        `appendFileSync(${JSON.stringify(marker)}, ${JSON.stringify(tag + '\n')});\n` +
        `const hello = step({ name: 'hello', run: async () => 1 });\nexport default pipeline('p', () => { hello(); });\n`;

      /** A project directory outside the victim's home, and a pipeline module in it. */
      function project(
        w: ReturnType<typeof world>,
        o: { gid: number; dirMode: number; modMode?: number; modOwner?: number },
      ) {
        const dir = join(w.base, 'project');
        mkdirSync(dir);
        chownSync(dir, PV.id, o.gid);
        chmodSync(dir, o.dirMode);
        const marker = join(w.victim.home, 'ran'); // where the victim can write
        const mod = join(dir, 'p.mjs');
        writeFileSync(mod, pipelineModule(marker, 'ran'));
        chownSync(mod, o.modOwner ?? PV.id, o.modOwner ?? PV.id);
        chmodSync(mod, o.modMode ?? 0o644);
        return { dir, mod, marker };
      }

      it('accepts what is writable by your own private group (umask 002): pipeline and plugin modules, the config directory; never a group-readable key', () => {
        const w = world(PV.id, PA.id);
        const v = w.victim;
        const p = project(w, { gid: PV.id, dirMode: 0o775, modMode: 0o664 });
        expect(ok(v, ['pipeline', 'run', p.mod])).toMatch(/Pipeline 'p' completed/);
        expect(readFileSync(p.marker, 'utf8')).toBe('ran\n');

        const plugin = join(p.dir, 'mine.mjs');
        writeFileSync(
          plugin,
          `import { defineSchema, z } from ${JSON.stringify(LIB)};\nexport const s = defineSchema('mine', z.object({ k: z.string() }));\n`,
        );
        chownSync(plugin, PV.id, PV.id);
        chmodSync(plugin, 0o664);
        ok(v, ['schema', 'register', plugin]);
        expect(ok(v, ['schema', 'list'])).toContain('mine');

        const cfg = join(v.home, 'cfg');
        chmodSync(cfg, 0o770);
        ok(v, ['secret', 'register', 'db', '--password=victim-password-1']);
        const key = join(cfg, 'local_stores', 'secrets.db.key');
        chmodSync(key, 0o660);
        expectRefused(ks(v, ['secret', 'get', 'db', '--key', 'password']), key, /readable by group, and it is a key/);
      });

      it('refuses a pipeline module in a directory writable by a group that others are in, and a plugin module there, without running either', () => {
        const w = world(PV.id, PA.id);
        const v = w.victim;
        const p = project(w, { gid: TEAM.id, dirMode: 0o775 });
        const r = ks(v, ['pipeline', 'run', p.mod]);
        expectRefused(r, p.dir, new RegExp(`writable by group \\(gid ${TEAM.id}, which is not your private group\\)`));
        expect(r.stderr).toContain(`chmod 700 ${p.dir}`);
        expectRefused(ks(v, ['schema', 'register', p.mod]), p.dir, new RegExp(`writable by group \\(gid ${TEAM.id}`));
        // What the check stops: any member of the group can put other code in the module's place.
        sh(
          { ...w.attacker, groups: [TEAM.id] },
          `cp ${p.mod} ${p.dir}/x && echo 'appendFileSync(${JSON.stringify(p.marker)}, "evil");' >> ${p.dir}/x && mv -f ${p.dir}/x ${p.mod}`,
        );
        expect(readFileSync(p.mod, 'utf8')).toContain('evil');
        expectRefused(ks(v, ['pipeline', 'run', p.mod]), p.mod, new RegExp(`owned by uid ${PA.id}`));
        expect(existsSync(p.marker)).toBe(false);
      });

      it('refuses a pipeline module that others can write', () => {
        const w = world(PV.id, PA.id);
        const p = project(w, { gid: PV.id, dirMode: 0o755, modMode: 0o646 });
        const r = ks(w.victim, ['pipeline', 'run', p.mod]);
        expectRefused(r, p.mod, /it is writable by others$/m);
        expect(r.stderr).toContain(`chmod 600 ${p.mod}`);
        expect(existsSync(p.marker)).toBe(false);
      });

      it('refuses a pipeline module that another user owns', () => {
        const w = world(PV.id, PA.id);
        const p = project(w, { gid: PV.id, dirMode: 0o755, modOwner: PA.id });
        const r = ks(w.victim, ['pipeline', 'run', p.mod]);
        expectRefused(r, p.mod, new RegExp(`owned by uid ${PA.id}, not by you \\(uid ${PV.id}\\)`));
        expect(r.stderr).toContain(`chown $(id -un) ${p.mod}`);
        expect(existsSync(p.marker)).toBe(false);
      });
    });
  },
);
