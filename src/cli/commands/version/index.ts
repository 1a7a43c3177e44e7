/**
 * `keystack version`: keystack's own version, as `keystack --version` prints it, plus Node's, with
 * a `--json` shape. A command of its own so that `secret get NAME --version V` is never read as
 * asking for keystack's version.
 */
import { defineCommand } from '../../define.js';

export default defineCommand({
  path: 'version',
  description: "print keystack's version (the same as `keystack --version`)",
  examples: ['keystack version', 'keystack version --json'],
  shape: (z) => z.strictObject({ version: z.string(), node: z.string() }),
  run: async () => {
    const { VERSION } = await import('../../version.js');
    return { data: { version: VERSION, node: process.versions.node }, text: `keystack ${VERSION}` };
  },
});
