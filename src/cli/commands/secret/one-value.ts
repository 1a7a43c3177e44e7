/**
 * What `secret get NAME --key KEY`, `secret get NAME.KEY` and `keystack read NAME.KEY` share:
 * splitting NAME.KEY, and one key's value of a secret.
 */
import { NotFoundError } from '../../../errors.js';
import type { Secret } from '../../../core/manager.js';
import { listText } from '../../output.js';

/** NAME.KEY split at the first '.', as a `{{NAME.KEY}}` reference is; null when either side is empty. */
export function splitNameKey(ref: string): { name: string; key: string } | null {
  const dot = ref.indexOf('.');
  if (dot <= 0 || dot === ref.length - 1) return null;
  return { name: ref.slice(0, dot), key: ref.slice(dot + 1) };
}

/** The value of `key`, or an error naming the keys the secret has (never a value). */
export function keyValue(secret: Secret, key: string): string {
  const value = Object.hasOwn(secret.values, key) ? secret.values[key] : undefined;
  if (value === undefined) {
    throw new NotFoundError(
      `secret '${secret.name}' has no key '${key}'`,
      `Its keys are: ${listText(Object.keys(secret.values)) || 'none'}.`,
    );
  }
  return value;
}
