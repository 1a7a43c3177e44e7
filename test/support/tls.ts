/**
 * A throwaway self-signed certificate for the HTTPS servers tests start on loopback (the Key Vault
 * double, the fault proxy in front of it, a fake Vault): one openssl call instead of one per test.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface SelfSigned {
  key: string;
  cert: string;
}

/** Writes key.pem and cert.pem into `dir` for `cn`, valid for `days`, with the given subjectAltName. */
export function selfSignedCert(dir: string, o: { cn: string; san: string; days?: number }): SelfSigned {
  const files = { key: join(dir, 'key.pem'), cert: join(dir, 'cert.pem') };
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      String(o.days ?? 1),
      '-subj',
      `/CN=${o.cn}`,
      '-addext',
      `subjectAltName=${o.san}`,
      '-keyout',
      files.key,
      '-out',
      files.cert,
    ],
    { stdio: 'ignore' },
  );
  return files;
}
