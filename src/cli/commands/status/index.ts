/**
 * `keystack status`: where keystack stands, without touching any backend (report.ts gathers it).
 */
import { defineCommand, type CommandInput } from '../../define.js';
import { CHOOSER_OPTIONS, type ManagerChoice } from '../../select.js';
import { views } from '../../shapes.js';

const CONTEXT_HELP = `Which stack and secrets manager commands use, first match wins:
  1. the flags -m/--manager NAME and --stack NAME
  2. the variables KEYSTACK_MANAGER and KEYSTACK_STACK
  3. keystack.toml (stack = "NAME", manager = "NAME"), the nearest at or above the working
     directory, up to $HOME (\`keystack init\` writes one)
  4. the active stack (\`keystack stack set NAME\`)
Within a level a manager beats a stack for secret commands; pipelines run on the stack.
status shows which one applied.

On a remote (bullmq) stack, status also lists the workers announced in its Redis (name, host,
isolation, queues, key fingerprint, start time), which means resolving the orchestrator's redis_url
and connecting to it. An announcement whose signature does not verify against a trusted worker key
(\`keystack keys trust --role worker\`) is marked NOT VERIFIED; a worker with --isolation none is
marked, since its steps run inside the worker process.`;

export default defineCommand({
  path: 'status',
  description:
    'show the current stack, its secrets manager, where each came from, and where its secrets and key are (no values); on a remote stack, its workers',
  options: [...CHOOSER_OPTIONS],
  examples: [
    'keystack status',
    'keystack status --json',
    'KEYSTACK_STACK=prod keystack status',
    'keystack status -m team',
  ],
  help: CONTEXT_HELP,
  shape: (z) => {
    const { name, config, credentialSource } = views(z);
    const contextSource = z.strictObject({
      from: z.enum(['flag', 'KEYSTACK_MANAGER', 'KEYSTACK_STACK', 'keystack.toml', 'active-stack']),
      /** The project file, when `from` is keystack.toml. */
      file: z.string().nullable(),
      /** How the source reads: `--stack`, `KEYSTACK_STACK`, the file's path, `the active stack`. */
      text: z.string(),
    });
    return z.strictObject({
      configDir: z.string(),
      configDirFrom: z.enum(['KEYSTACK_CONFIG_DIR', 'XDG_CONFIG_HOME', 'default']),
      stack: z.strictObject({ name, id: z.string() }),
      /** Where the stack and the secrets manager came from (flag, variable, keystack.toml, active stack). */
      context: z.strictObject({ stack: contextSource, secretsManager: contextSource }),
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
      /** A remote (bullmq) stack: the workers announced in its Redis, each checked against the trusted worker keys. */
      remote: z
        .strictObject({
          workers: z.array(
            z.strictObject({
              name: z.string(),
              /** False: its signature does not verify against a trusted worker key, or its heartbeat is stale. */
              verified: z.boolean(),
              problem: z.string().nullable(),
              host: z.string().nullable(),
              isolation: z.enum(['process', 'none']).nullable(),
              startedAt: z.string().nullable(),
              seenAt: z.string().nullable(),
              queues: z.array(z.string()),
              /** The fingerprint (id) of the worker key that signed the announcement. */
              keyId: z.string().nullable(),
            }),
          ),
          /** Why the workers could not be listed (Redis unreachable), or null. */
          error: z.string().nullable(),
        })
        .nullable(),
    });
  },
  run: async (ctx, { opts }: CommandInput<ManagerChoice>) => (await import('./report.js')).status(ctx, opts),
});
