import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keystack } from '../../src/stack/client.js';
import { cliAsync, tempEnv } from '../support/cli.js';

function child(configDir: string, args: string[]) {
  const p = spawn(process.execPath, ['test/reliability/writer.mjs', ...args], {
    env: { PATH: process.env['PATH'] ?? '', KEYSTACK_CONFIG_DIR: configDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((res) =>
    p.on('close', (code, signal) => res({ code, signal, out, err })),
  );
  return { p, done, output: () => out };
}

describe('many processes, one store', () => {
  it('eight processes registering at once lose nothing and never report "database is locked"', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ks-conc-')), 'cfg');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => child(dir, ['register', String(i), '40']).done),
    );
    for (const r of results) {
      expect(r.err).not.toMatch(/locked|busy/i);
      expect(r.code, r.err).toBe(0);
    }
    const ks = new Keystack({ configDir: dir, env: {} });
    const sm = await ks.secretsManager();
    const names = await sm.list();
    expect(names).toHaveLength(320);
    for (const n of names) expect((await sm.get(n)).values['v']).toBe(`${n}:0:`.repeat(8));
    await ks.close();
  });

  it('eight CLI invocations at once on a fresh config dir all succeed', async () => {
    const e = tempEnv();
    const rs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => cliAsync(e, ['secret', 'register', `c${i}`, `--k=v${i}`])),
    );
    for (const r of rs) expect(r.status, r.stderr).toBe(0);
    const list = await cliAsync(e, ['secret', 'list']);
    expect(list.stdout.trim().split('\n')).toHaveLength(8);
  });

  it('after SIGKILL in the middle of a stream of writes, every listed secret reads back intact', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ks-kill-')), 'cfg');
    for (let round = 0; round < 3; round++) {
      const c = child(dir, ['stream']);
      await new Promise<void>((res, rej) => {
        const t = setInterval(() => {
          if (c.output().includes('ready')) {
            clearInterval(t);
            // Kill at a slightly different point each round.
            setTimeout(
              () => {
                c.p.kill('SIGKILL');
                res();
              },
              20 + round * 37,
            );
          }
        }, 5);
        void c.done.then((r) => {
          clearInterval(t);
          if (r.signal !== 'SIGKILL') rej(new Error(`writer ended early: ${r.err}`));
        });
      });
      expect((await c.done).signal).toBe('SIGKILL');
      const ks = new Keystack({ configDir: dir, env: {} });
      const sm = await ks.secretsManager();
      const names = await sm.list();
      expect(names.length).toBeGreaterThanOrEqual(50);
      for (const n of names) {
        const v = (await sm.get(n)).values;
        expect(v['v']).toMatch(new RegExp(`^(${n}:\\d+:){8}$`));
        expect(v['big']).toMatch(/^(x{4000}|y{4000})$/);
      }
      await ks.close();
    }
  });
});
