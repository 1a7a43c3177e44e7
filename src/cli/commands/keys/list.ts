import { table } from '../../output.js';
import { defineCommand } from '../../define.js';
import { keyShapes } from './role.js';

export default defineCommand({
  path: 'keys list',
  description: "this machine's keys and the keys it trusts",
  examples: ['keystack keys list', 'keystack keys list --json'],
  /** `next` is the id of a key prepared by `keys rotate`, not yet activated. */
  shape: (z) => {
    const k = keyShapes(z);
    return z.strictObject({
      own: z.array(z.strictObject({ role: k.keyRole, id: k.keyId, next: k.keyId.nullable() })),
      trusted: z.array(z.strictObject({ role: k.keyRole, id: k.keyId, name: z.string().nullable() })),
    });
  },
  run: async (ctx) => {
    const { existingKey, listTrusted, nextKey } = await import('../../../pipeline/remote/keys.js');
    const configDir = ctx.keystack().configDir;
    // Listing creates nothing: a worker machine has no client key until it signs a run.
    const own = (['client', 'worker'] as const).flatMap((r) => {
      const key = existingKey(configDir, r);
      return key ? [{ role: r, id: key.id, next: nextKey(configDir, r, false)?.id ?? null }] : [];
    });
    const trusted = (['client', 'worker'] as const).flatMap((r) =>
      listTrusted(configDir, r).map((k) => ({ role: r, id: k.id, name: k.name })),
    );
    const rows = [
      ...own.map((k) => ['own', k.role, k.id + (k.next ? ` (next: ${k.next})` : ''), '']),
      ...trusted.map((k) => ['trusted', k.role, k.id, k.name ?? '']),
    ];
    return { data: { own, trusted }, text: table(['KIND', 'ROLE', 'KEY', 'NAME'], rows) };
  },
});
