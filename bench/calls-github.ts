/**
 * Backend requests per operation for the github flavor, counted by the in-repo double of GitHub's
 * Actions-secrets API (test/support/github-double.ts), which records every request it serves.
 *   npx tsx bench/calls-github.ts
 * Prints one JSON line. `get` and `patch` run as inside GitHub Actions (values come from the
 * environment, as a workflow injects them); outside Actions `get` is refused without a call.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import github, { githubNaming } from '../src/flavors/github.js';
import { SecretsManager } from '../src/flavors/manager.js';
import type { FlavorDefinition } from '../src/flavors/types.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';
import { startGitHubDouble } from '../test/support/github-double.js';

const gh = await startGitHubDouble({ maxSecrets: 1000 });
const schemas = createSchemaRegistry();
const manager = (uuid: string = randomUUID(), env: Record<string, string> = {}) =>
  new SecretsManager({
    record: { uuid, name: 'bench', flavor: 'github', config: { owner: 'octo', repository: 'bench', api_url: gh.url, scope: 'component' } },
    flavor: github as FlavorDefinition<unknown>,
    configDir: '/nonexistent',
    env: { GITHUB_TOKEN: gh.token, ...env },
    schemas,
  });
const counted = async (fn: () => Promise<unknown>) => {
  const before = gh.requests.length;
  await fn();
  return gh.requests.length - before;
};
const name = () => `b${randomBytes(6).toString('hex')}`;
const fill = async (m: SecretsManager, n: number) => {
  const names = Array.from({ length: n }, name);
  for (let i = 0; i < n; i += 25) await Promise.all(names.slice(i, i + 25).map((x) => m.register(x, { k: 'v' })));
};
/** A manager that sees `s` the way a workflow step given `${{ secrets.X }}` does. */
const inActions = (uuid: string, s: string) => {
  const full = githubNaming(manager(uuid).scope).full(s);
  return manager(uuid, { GITHUB_ACTIONS: 'true', [full]: gh.plaintext('octo', 'bench', full) ?? '' });
};

const out: Record<string, unknown> = { flavor: 'github' };
const uuid = randomUUID();
const m = manager(uuid);
const s = name();
// The first write of a manager also fetches the repository's public key (cached afterwards).
out['register'] = await counted(() => m.register(s, { user: 'u', password: 'p' }));
out['register_warm'] = await counted(() => m.register(name(), { user: 'u', password: 'p' }));
out['get'] = await counted(() => inActions(uuid, s).get(s));
out['update'] = await counted(() => m.update(s, { user: 'u', password: 'q' }, { schema: 'arbitrary' }));
out['update_schema_unknown'] = await counted(() => inActions(uuid, s).update(s, { user: 'u', password: 'r' }));
out['patch'] = await counted(() => inActions(uuid, s).patch(s, { set: { password: 's' } }));
out['delete'] = await counted(() => m.delete(s));
await m.deleteAll();
for (const n of [100, 250]) {
  const lm = manager();
  await fill(lm, n);
  out[`list_${n}`] = await counted(() => lm.list());
  await lm.deleteAll();
}
const dm = manager();
await fill(dm, 10);
out['delete_all_10'] = await counted(() => dm.deleteAll());
console.log(JSON.stringify(out));
await gh.close();
