// Two-phase rotation through the built binary on the local flavor: `secret rotate` writes a new
// current version and keeps the old one readable as @previous, lists the reads of the old one from
// provenance, and `--finish` retires it, refused while a recent read exists unless -f. Reads are
// recorded through the run store API into the same config dir, as `secret used-by`'s tests do.
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { AccessRecord } from '../../src/core/provenance.js';
import { RunStore } from '../../src/pipeline/run-store.js';
import { Keystack } from '../../src/stack/client.js';
import { cli, tempEnv, type CliEnv } from '../support/cli.js';

const OLD = 'old-pw-rotate-3391';
const NEW = 'new-pw-rotate-7720';
const NEWER = 'newer-pw-rotate-5148';
const VALUES = [OLD, NEW, NEWER];

const clients: Keystack[] = [];
afterAll(() => Promise.all(clients.map((k) => k.close())));

function rotated(): CliEnv {
  const e = tempEnv();
  expect(cli(e, ['secret', 'register', 'db', `--password=${OLD}`, '--user=svc']).status).toBe(0);
  const r = cli(e, ['secret', 'rotate', 'db', '--password=@-'], { input: NEW });
  expect(r.status, r.stderr).toBe(0);
  return e;
}

/** Records one read of `db` by step `load` of a run of `train`, `ageMs` ago, of `version`. */
async function recordRead(e: CliEnv, version: string | null, ageMs = 60_000): Promise<string> {
  const ks = new Keystack({ configDir: e.env['KEYSTACK_CONFIG_DIR'] ?? '', env: e.env });
  clients.push(ks);
  const m = await ks.secretsManager();
  const runs = new RunStore(ks.store);
  const id = randomUUID();
  runs.createRun(
    {
      id,
      pipeline: 'train',
      stack: 'default',
      orchestrator: 'default',
      module: null,
      exportName: null,
      startedAt: new Date().toISOString(),
    },
    [{ stepId: 'load', name: 'load', position: 0, params: {}, cacheEnabled: false, secrets: ['db'] }],
  );
  const record: AccessRecord = {
    runId: id,
    pipeline: 'train',
    step: 'load',
    component: undefined,
    attempt: 1,
    worker: undefined,
    host: 'h',
    at: new Date(Date.now() - ageMs).toISOString(),
    manager: { uuid: m.uuid, name: m.name, flavor: m.flavor.name },
    secret: 'db',
    keys: ['password'],
    version,
    pinned: null,
    fingerprints: {},
    outcome: 'read',
    errorCode: null,
  };
  runs.recordAccess(id, [record]);
  return id;
}

function noValue(...outputs: { stdout: string; stderr: string }[]): void {
  for (const o of outputs) for (const v of VALUES) expect(o.stdout + o.stderr).not.toContain(v);
}

describe('keystack secret rotate (built binary, local flavor)', () => {
  it('writes a merged new current version, keeps the old one as @previous, and --finish retires it', () => {
    const e = tempEnv();
    expect(cli(e, ['secret', 'register', 'db', `--password=${OLD}`, '--user=svc']).status).toBe(0);
    const r = cli(e, ['--json', 'secret', 'rotate', 'db', '--password=@-'], { input: NEW });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      name: 'db',
      manager: 'default',
      since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      reads: [],
      unversioned: [],
      version: '2',
      previous: '1',
    });
    // Keys not given keep their values; the old value stays readable by its pin.
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'db']).stdout).values).toEqual({ password: NEW, user: 'svc' });
    expect(cli(e, ['secret', 'get', 'db', '--version', 'previous', '--key', 'password']).stdout).toBe(OLD);

    const text = cli(e, ['secret', 'rotate', 'db', `--password=${NEWER}`, '--since', '1d']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain("version 3 is current; version 2 stays readable as 'previous'");
    expect(text.stdout).toContain('No recorded run read version 2 since');
    expect(text.stdout).toContain('keystack secret rotate db --finish');

    const asked = cli(e, ['secret', 'rotate', 'db', '--finish']);
    expect(asked.status).toBe(2);
    expect(asked.stderr).toContain('refusing to retire a version without confirmation');
    expect(cli(e, ['secret', 'get', 'db', '--version', '2', '--key', 'password']).stdout).toBe(NEW);

    const done = cli(e, ['--json', 'secret', 'rotate', 'db', '--finish', '-y']);
    expect(done.status, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({
      name: 'db',
      retired: '2',
      forced: false,
      reads: [],
      unversioned: [],
    });
    const gone = cli(e, ['secret', 'get', 'db', '--version', '2']);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/no version 2/);
    expect(JSON.parse(cli(e, ['--json', 'secret', 'get', 'db']).stdout).values.password).toBe(NEWER);
    noValue(r, text, asked, done, gone);
  });

  it('lists the reads of the previous version, and --finish refuses while one is recent unless -f', async () => {
    const e = tempEnv();
    expect(cli(e, ['secret', 'register', 'db', `--password=${OLD}`, '--user=svc']).status).toBe(0);
    const run = await recordRead(e, '1');
    await recordRead(e, '1', 9 * 86_400_000); // older than the default 7 days

    const listed = cli(e, ['--json', 'secret', 'rotate', 'db', '--password=@-'], { input: NEW });
    expect(listed.status, listed.stderr).toBe(0);
    const body = JSON.parse(listed.stdout) as { previous: string; reads: { runId: string; version: string }[] };
    expect(body.previous).toBe('1');
    expect(body.reads.map((a) => [a.runId, a.version])).toEqual([[run, '1']]);
    const text = cli(e, ['secret', 'rotate', 'db', `--password=${NEWER}`, '--since', '30d']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain('No recorded run read version 2 since');
    expect(cli(e, ['secret', 'rollback', 'db', '--to', '2', '-y']).status).toBe(0);
    // Now version 3 is previous; give it a reader, and one of the new current version (4).
    await recordRead(e, '3');
    await recordRead(e, '4');

    const refused = cli(e, ['secret', 'rotate', 'db', '--finish', '-y']);
    expect(refused.status).toBe(1);
    // One line naming the reads and -f, then the hint every error has.
    expect(refused.stderr.trim().split('\n')).toHaveLength(2);
    expect(refused.stderr).toContain('Hint: See every read with `keystack secret used-by db --since ');
    expect(refused.stderr).toMatch(/version 3 of secret 'db' was read since .*: train\/load \(run [0-9a-f]{8}\);.*-f/);
    expect(cli(e, ['secret', 'get', 'db', '--version', '3', '--key', 'password']).stdout).toBe(NEWER);

    const forced = cli(e, ['--json', 'secret', 'rotate', 'db', '--finish', '-f', '-y']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ retired: '3', forced: true, reads: [{ version: '3' }] });
    expect(forced.stderr).toContain('with -f, although provenance has 1 recorded read');
    expect(cli(e, ['secret', 'get', 'db', '--version', '3']).status).toBe(1);
    noValue(listed, text, refused, forced);
  });

  it('counts reads recorded without a version as reads of either, and says so', async () => {
    const e = rotated();
    await recordRead(e, null);
    const again = cli(e, ['secret', 'rotate', 'db', '--user=svc2']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('No recorded run read version 2 since');
    expect(again.stdout).toMatch(
      /1 recorded read of 'db' since .* carry no version id, so they may have read either version/,
    );
    const refused = cli(e, ['secret', 'rotate', 'db', '--finish', '-y']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/\(1 recorded without a version\): train\/load \(run [0-9a-f]{8}, no version\)/);
    // Outside the period it no longer counts.
    const later = cli(e, [
      '--json',
      'secret',
      'rotate',
      'db',
      '--finish',
      '-y',
      '--since',
      new Date(Date.now() + 1000).toISOString(),
    ]);
    expect(later.status, later.stderr).toBe(0);
    expect(JSON.parse(later.stdout)).toMatchObject({ retired: '2', forced: false });
    noValue(again, refused, later);
  });

  it('refuses a secret without a previous version, and usage mistakes', () => {
    const e = tempEnv();
    expect(cli(e, ['secret', 'register', 'db', `--password=${OLD}`]).status).toBe(0);
    const none = cli(e, ['secret', 'rotate', 'db', '--finish', '-y']);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain(
      "secret 'db' in secrets manager 'default' (component scope) has no previous version to retire",
    );
    const missing = cli(e, ['secret', 'rotate', 'nope', '--password=x']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("secret 'nope'");
    expect(cli(e, ['secret', 'rotate', 'db']).status).toBe(2);
    expect(cli(e, ['secret', 'rotate', 'db', '--finish', `--password=${NEW}`]).status).toBe(2);
    expect(cli(e, ['secret', 'rotate', 'db', `--password=${NEW}`, '-f']).status).toBe(2);
    expect(cli(e, ['secret', 'rotate', 'db', `--password=${NEW}`, '--since', 'soon']).status).toBe(2);
    // Nothing above wrote a version.
    expect(JSON.parse(cli(e, ['--json', 'secret', 'history', 'db']).stdout).versions).toHaveLength(1);
    noValue(none);
  });
});
