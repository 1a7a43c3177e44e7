/**
 * The provenance key: a secret of the deployment under which value fingerprints are made, so
 * that two machines with the same key make the same fingerprints and nobody without it can test
 * a guess against a record. Created once in the config dir; workers get it out of band (the file
 * or KEYSTACK_PROVENANCE_KEY), never through Redis.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { writeOnce } from '../support/private-files.js';
import { readTrustedSecretFile } from '../support/trust.js';

export const PROVENANCE_KEY_VARIABLE = 'KEYSTACK_PROVENANCE_KEY';
const KEY_BYTES = 32;

export function provenanceKeyFile(configDir: string): string {
  return join(configDir, 'provenance.key');
}

/** The variable (base64 of 32 bytes), else the key file, created on first use (0600, trust-checked). */
export function loadProvenanceKey(configDir: string, env: Readonly<Record<string, string | undefined>>): Buffer {
  const text = env[PROVENANCE_KEY_VARIABLE];
  if (text !== undefined && text !== '') {
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== KEY_BYTES) {
      throw new ConfigError(`${PROVENANCE_KEY_VARIABLE} must be the base64 of ${KEY_BYTES} bytes`, {
        hint: `Copy it from ${provenanceKeyFile('<config dir>')} of the machine whose fingerprints must match (base64 -w0 FILE).`,
      });
    }
    return key;
  }
  const file = provenanceKeyFile(configDir);
  const key = readTrustedSecretFile(file) ?? writeOnce(file, randomBytes(KEY_BYTES));
  if (key.length !== KEY_BYTES) throw new ConfigError(`the provenance key file ${file} is damaged (expected 32 bytes)`);
  return key;
}
