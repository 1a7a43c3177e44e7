/**
 * `keystack status`: where keystack stands, without touching any backend (report.ts gathers it).
 */
import { defineCommand } from '../../define.js';
import { views } from '../../shapes.js';

export default defineCommand({
  path: 'status',
  description: 'show the active stack, its secrets manager and where its secrets and key are (no values)',
  examples: ['keystack status', 'keystack status --json'],
  shape: (z) => {
    const { name, config, credentialSource } = views(z);
    return z.strictObject({
      configDir: z.string(),
      configDirFrom: z.enum(['KEYSTACK_CONFIG_DIR', 'XDG_CONFIG_HOME', 'default']),
      stack: z.strictObject({ name, id: z.string() }),
      components: z.array(z.strictObject({ type: z.string(), name, flavor: z.string(), id: z.string() })),
      secretsManager: z
        .strictObject({
          name,
          id: z.string(),
          flavor: z.string(),
          scope: z.unknown(),
          namespace: z.unknown(),
          scopePrefix: z.unknown(),
          where: z.string(),
          /** The location fields' values (config, their variable, or default); sensitive ones `***`. */
          location: config,
          /** Where each credential field's value comes from; never the value. */
          credentials: z.record(z.string(), credentialSource),
          /** Local flavor: where the store key comes from. */
          key: z
            .union([
              z.strictObject({
                source: z.enum(['env-key', 'passphrase']),
                variable: z.enum(['KEYSTACK_LOCAL_KEY', 'KEYSTACK_PASSPHRASE']),
              }),
              z.strictObject({ source: z.literal('key-file'), file: z.string() }),
            ])
            .nullable(),
        })
        .nullable(),
    });
  },
  run: async (ctx) => (await import('./report.js')).status(ctx),
});
