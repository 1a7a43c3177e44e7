/**
 * Backend requests per operation for the github flavor, counted by the in-repo double of GitHub's
 * Actions-secrets API (test/support/github-double.ts), which records every request it serves.
 *   npx tsx bench/calls-github.ts
 * Prints one JSON line. `get` and `patch` run as inside GitHub Actions (values come from the
 * environment, as a workflow injects them); outside Actions `get` is refused without a call.
 */
import { randomUUID } from 'node:crypto';
import github, { githubNaming } from '../src/flavors/github.js';
import { SecretsManager } from '../src/core/manager.js';
import { createSchemaRegistry } from '../src/secrets/schema.js';
import { startGitHubDouble } from '../test/support/github-double.js';
import { measureCalls } from './measure-calls.js';

const gh = await startGitHubDouble({ maxSecrets: 1000, repos: ['octo/bench'] });
const schemas = createSchemaRegistry();
const manager = (uuid: string = randomUUID(), env: Record<string, string> = {}) =>
  new SecretsManager({
    record: {
      uuid,
      name: 'bench',
      flavor: 'github',
      config: { owner: 'octo', repository: 'bench', api_url: gh.url, scope: 'component' },
    },
    flavor: github,
    configDir: '/nonexistent',
    env: { GITHUB_TOKEN: gh.token, ...env },
    schemas,
  });
/** A manager that sees `s` the way a workflow step given `${{ secrets.X }}` does. */
const inActions = (uuid: string, s: string) => {
  const full = githubNaming(manager(uuid).scope).full(s);
  return manager(uuid, { GITHUB_ACTIONS: 'true', [full]: gh.plaintext('octo', 'bench', full) ?? '' });
};

const out = await measureCalls({
  flavor: 'github',
  manager: (uuid) => manager(uuid),
  count: async (fn) => {
    const before = gh.requests.length;
    await fn();
    return gh.requests.length - before;
  },
  reader: inActions,
});
console.log(JSON.stringify(out));
await gh.close();
