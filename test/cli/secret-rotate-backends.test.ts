// Two-phase rotation through the built binary on vault (OpenBao: --finish destroys the previous
// version, refused while a recent read exists unless -f) and aws (moto: --finish refuses, since
// AWS cannot make one version unreadable, and AWSPREVIOUS stays readable).
import { afterAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { RunStore } from '../../src/pipeline/run-store.js';
import { Keystack } from '../../src/stack/client.js';
import { cli, tempEnv, type CliEnv } from '../support/cli.js';
import { requireEnv } from '../support/fake-http.js';

// Asked for in each test, so that one emulator's tests run without the other (KEYSTACK_EMULATORS=bao).
const baoAddr = () => requireEnv('BAO_ADDR', 'the OpenBao dev server');
const baoToken = () => requireEnv('BAO_TOKEN', 'the OpenBao dev server root token');
const awsEndpoint = () => requireEnv('AWS_SM_ENDPOINT', 'the moto server (AWS Secrets Manager emulator)');

const OLD = 'old-pw-backend-6620';
const NEW = 'new-pw-backend-1897';

const clients: Keystack[] = [];
afterAll(() => Promise.all(clients.map((k) => k.close())));

function ok(e: CliEnv, args: string[], input?: string): string {
  const r = cli(e, args, input === undefined ? {} : { input });
  if (r.status !== 0) throw new Error(`keystack ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  for (const v of [OLD, NEW]) expect(r.stdout + r.stderr).not.toContain(v);
  return r.stdout;
}

/** Records a recent read of `name` at `version` through manager `m`, as a run's step would. */
async function recordRead(e: CliEnv, manager: string, name: string, version: string): Promise<void> {
  const ks = new Keystack({ configDir: e.env['KEYSTACK_CONFIG_DIR'] ?? '', env: e.env });
  clients.push(ks);
  const m = await ks.secretsManager(manager);
  const runs = new RunStore(ks.store);
  const id = randomUUID();
  runs.createRun(
    {
      id,
      pipeline: 'serve',
      stack: 'default',
      orchestrator: 'default',
      module: null,
      exportName: null,
      startedAt: new Date().toISOString(),
    },
    [{ stepId: 'call', name: 'call', position: 0, params: {}, cacheEnabled: false, secrets: [name] }],
  );
  runs.recordAccess(id, [
    {
      runId: id,
      pipeline: 'serve',
      step: 'call',
      component: undefined,
      attempt: 1,
      worker: undefined,
      host: 'h',
      at: new Date().toISOString(),
      manager: { uuid: m.uuid, name: m.name, flavor: m.flavor.name },
      secret: name,
      keys: ['password'],
      version,
      pinned: null,
      fingerprints: {},
      outcome: 'read',
      errorCode: null,
    },
  ]);
}

describe('keystack secret rotate on vault and aws (built binary)', () => {
  it('vault: rotate, --finish refused while a recent read exists, -f destroys the previous version', async () => {
    const e = tempEnv({ VAULT_TOKEN: baoToken() });
    ok(e, ['secrets-manager', 'register', 'v', '-f', 'vault', `--url=${baoAddr()}`]);
    const name = `rot_${randomUUID().slice(0, 8)}`;
    ok(e, ['secret', 'register', name, `--password=${OLD}`, '--user=svc', '-m', 'v']);
    const r = JSON.parse(ok(e, ['--json', 'secret', 'rotate', name, '--password=@-', '-m', 'v'], NEW)) as {
      version: string;
      previous: string;
    };
    expect(r).toMatchObject({ version: '2', previous: '1' });
    expect(cli(e, ['secret', 'get', name, '--version', 'previous', '--key', 'password', '-m', 'v']).stdout).toBe(OLD);
    expect(cli(e, ['secret', 'get', name, '--key', 'user', '-m', 'v']).stdout).toBe('svc');

    await recordRead(e, 'v', name, '1');
    const refused = cli(e, ['secret', 'rotate', name, '--finish', '-y', '-m', 'v']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`version 1 of secret '${name}' was read since .*serve/call.*-f`));
    expect(cli(e, ['secret', 'get', name, '--version', '1', '--key', 'password', '-m', 'v']).stdout).toBe(OLD);

    const done = ok(e, ['secret', 'rotate', name, '--finish', '-f', '-y', '-m', 'v']);
    expect(done).toContain(`Retired version 1 of secret '${name}'`);
    expect(done).toContain('Vault destroyed it');
    const gone = cli(e, ['secret', 'get', name, '--version', '1', '-m', 'v']);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toContain('was retired and can no longer be read');
    expect(cli(e, ['secret', 'get', name, '--key', 'password', '-m', 'v']).stdout).toBe(NEW);
  });

  it('aws: rotate keeps AWSPREVIOUS readable; --finish refuses as unsupported, before any -f question', async () => {
    const e = tempEnv({
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    ok(e, [
      'secrets-manager',
      'register',
      'a',
      '-f',
      'aws',
      '--region_name=us-east-1',
      `--endpoint_url=${awsEndpoint()}`,
    ]);
    const name = `rot-${randomUUID().slice(0, 8)}`;
    ok(e, ['secret', 'register', name, `--password=${OLD}`, '-m', 'a']);
    const r = JSON.parse(ok(e, ['--json', 'secret', 'rotate', name, '--password=@-', '-m', 'a'], NEW)) as {
      version: string | null;
      previous: string;
    };
    expect(r.previous).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.version).not.toBe(r.previous);
    await recordRead(e, 'a', name, r.previous);

    for (const args of [[], ['-f']]) {
      const refused = cli(e, ['secret', 'rotate', name, '--finish', '-y', ...args, '-m', 'a']);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('the aws flavor cannot retire version');
      expect(refused.stderr).toContain('Secrets Manager cannot make one version unreadable');
      expect(refused.stderr + refused.stdout).not.toContain(OLD);
    }
    expect(cli(e, ['secret', 'get', name, '--version', 'previous', '--key', 'password', '-m', 'a']).stdout).toBe(OLD);
  });
});
