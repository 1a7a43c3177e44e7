/**
 * `keystack run --mount VAR=TEMPLATE`: for a tool that reads a credentials file rather than an
 * environment variable (a kubeconfig, a service-account JSON, a pgpass). Each rendered template is
 * written to a 0600 file in one 0700 directory made for this run, and the caller removes the
 * directory as soon as the child is gone: so the files exist only while the child runs. Nothing
 * is written before every reference resolved.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { InputError } from '../errors.js';

export interface MountedFiles {
  /** The 0700 directory holding the files. */
  dir: string;
  /** The file of each variable, by variable name. */
  paths: Record<string, string>;
  /** Removes the directory and its files; safe to call more than once. */
  remove(): void;
}

/**
 * The file name of a variable's mount: the variable's name plus the template's extension (a
 * trailing `.tmpl` or `.template` dropped), so that a tool that goes by the extension (`.json`,
 * `.yaml`) still recognises the file, and two mounts never share a name.
 */
export function mountFileName(variable: string, template: string): string {
  const base = basename(template).replace(/\.(?:tmpl|template)$/u, '');
  return `${variable}${extname(base)}`;
}

/**
 * Writes each `{variable: {template, text}}` to its own 0600 file in a new 0700 directory under
 * the system's temporary directory. A failure part-way removes what was written and throws.
 */
export function writeMounts(mounts: Readonly<Record<string, { template: string; text: string }>>): MountedFiles {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'keystack-run-'));
  } catch (e) {
    throw writeError(tmpdir(), e);
  }
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', remove);
  };
  // Last resort for an exit that skips the caller's cleanup (an uncaught error, process.exit).
  process.on('exit', remove);
  const paths: Record<string, string> = {};
  try {
    chmodSync(dir, 0o700);
    for (const [variable, { template, text }] of Object.entries(mounts)) {
      const file = join(dir, mountFileName(variable, template));
      writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600); // whatever the umask
      paths[variable] = file;
    }
  } catch (e) {
    remove();
    throw writeError(dir, e);
  }
  return { dir, paths, remove };
}

function writeError(dir: string, e: unknown): InputError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new InputError(
    `cannot write the --mount files in ${dir} (${code}); the command was not started`,
    'Check that the temporary directory (TMPDIR) exists, is writable and has space.',
  );
}
