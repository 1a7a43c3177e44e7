// `keystack secret rename` on a remote flavor: vault (OpenBao dev server), schema and typed values kept.
import { describe, expect, it } from 'vitest';
import { cli, tempEnv } from '../support/cli.js';
import { requireEnv } from '../support/fake-http.js';

const BAO_ADDR = requireEnv('BAO_ADDR', 'the OpenBao dev server');
const BAO_TOKEN = requireEnv('BAO_TOKEN', 'the OpenBao dev server root token');

describe('keystack secret rename on vault', () => {
  it('copies with the schema, verifies, deletes the old name, and refuses an existing new name', () => {
    const e = tempEnv({ VAULT_TOKEN: BAO_TOKEN });
    const ok = (args: string[]) => {
      const r = cli(e, args);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    ok(['secrets-manager', 'register', 'v', '--flavor=vault', `--url=${BAO_ADDR}`]);
    ok(['secret', 'register', 'db', '-m', 'v', '-s', 'mysql', '--user=u', '--ssl_verify_server_cert=true']);
    ok(['secret', 'register', 'taken', '-m', 'v', '--k=1']);
    expect(cli(e, ['secret', 'rename', 'db', 'taken', '-y', '-m', 'v']).status).toBe(1);
    ok(['secret', 'rename', 'db', 'db_main', '-y', '-m', 'v']);
    expect(ok(['secret', 'list', '-m', 'v', '--format', 'names'])).toBe('db_main\ntaken\n');
    expect(JSON.parse(ok(['--json', 'secret', 'get', 'db_main', '-m', 'v']))).toMatchObject({
      schema: 'mysql',
      data: { user: 'u', ssl_verify_server_cert: true },
    });
  });
});
