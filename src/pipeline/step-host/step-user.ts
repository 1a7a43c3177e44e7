/**
 * `--step-user NAME`: a worker started as root runs its step children as another user, who cannot
 * read the worker's config dir, key files or credential files (0700/0600, owned by the worker).
 * That user gets a private home of its own for the children's HOME and working directory.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import type { StepUser } from './parent.js';

export function resolveStepUser(name: string): StepUser {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new UsageError(
      `--step-user ${name} needs a worker started as root (this one runs as uid ${process.getuid?.() ?? '?'})`,
      'Start the worker as root with --step-user, or leave --step-user out (steps then run as this user).',
    );
  }
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  } catch {
    line = '';
  }
  const fields = line.split(':');
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (fields.length < 4 || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new UsageError(
      `--step-user: there is no user '${name}' on this machine`,
      `Create it first, e.g. \`useradd --system --no-create-home ${name}\`.`,
    );
  }
  if (uid === 0)
    throw new UsageError(`--step-user ${name} is root, which contains nothing`, 'Name an unprivileged user.');
  const home = mkdtempSync(join(tmpdir(), `keystack-step-${name}-`));
  chownSync(home, uid, gid);
  return { name, uid, gid, home };
}
