/** What the `keys` commands share: the --role option and the JSON of a key. */
import { UsageError } from '../../../errors.js';
import type { KeyRole } from '../../../pipeline/remote/keys.js';
import type { OptionSpec, Zod } from '../../define.js';

export function role(r: string | undefined): KeyRole {
  if (r === undefined || r === 'client') return 'client';
  if (r === 'worker') return 'worker';
  throw new UsageError(
    `--role must be client or worker, not '${r}'`,
    'client: the key that signs runs; worker: the key a worker signs step results with.',
  );
}

export const roleOption = (description: string): OptionSpec => ({
  flags: '--role <role>',
  description,
  complete: 'key-role',
});

/** The JSON of keys and roles, built from the zod the shape function is given. */
export function keyShapes(z: Zod) {
  return {
    keyRole: z.enum(['client', 'worker']),
    /** The first 16 hex digits of SHA-256 of the raw public key. */
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    /** One line: `keystack-ed25519:` and the 32 raw bytes in base64url. */
    publicKey: z.string().regex(/^keystack-ed25519:[A-Za-z0-9_-]{43}$/),
  };
}
