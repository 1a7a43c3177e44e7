/**
 * The project file `keystack.toml`: a checkout names the stack and secrets manager its commands
 * use, so that a team does not switch the global active stack per repository. It is found by
 * walking up from the working directory, and holds names only, never secrets.
 *
 * The walk stops at the first `keystack.toml`, at $HOME (which is searched, what is above it is
 * not: a file in /home or / is nobody's project), or at the filesystem root when the working
 * directory is outside $HOME. The file gets the trust checks of keystack's other config files
 * (src/support/trust.ts): whoever can write it could point `secret set` at a manager they read,
 * so a file or directory that another user can write is refused, not warned about.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { checkTrustedDir, checkTrustedFile } from '../support/trust.js';

export const PROJECT_FILE = 'keystack.toml';

/** The names a project file gives, and where it is. */
export interface ProjectFile {
  file: string;
  stack?: string;
  manager?: string;
}

/** The nearest `keystack.toml` at or above `cwd` (see the header for where the walk stops). */
export function findProjectFile(cwd: string, home: string | undefined): string | undefined {
  const stop = home ? resolve(home) : undefined;
  let dir = resolve(cwd);
  for (;;) {
    const file = join(dir, PROJECT_FILE);
    if (existsSync(file)) return file;
    const parent = dirname(dir);
    if (dir === stop || parent === dir) return undefined;
    dir = parent;
  }
}

/** Finds, checks and parses the project file; undefined when there is none. */
export async function readProjectFile(cwd: string, home: string | undefined): Promise<ProjectFile | undefined> {
  const file = findProjectFile(cwd, home);
  if (file === undefined) return undefined;
  checkTrustedDir(dirname(file));
  checkTrustedFile(file);
  const { parse } = await import('smol-toml');
  let doc: Record<string, unknown>;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
    throw new ConfigError(`${file} is not valid TOML: ${first}`, {
      hint: 'It holds `stack = "NAME"` and/or `manager = "NAME"`; fix it or rewrite it with `keystack init --force`.',
    });
  }
  const out: ProjectFile = { file };
  for (const [key, value] of Object.entries(doc)) {
    if (key !== 'stack' && key !== 'manager') {
      throw new ConfigError(`${file}: unknown key '${key}'`, {
        hint: 'A project file holds only `stack = "NAME"` and `manager = "NAME"`.',
      });
    }
    if (typeof value !== 'string' || value === '') {
      throw new ConfigError(`${file}: '${key}' must be a non-empty string (a ${key} name)`, {
        hint: `Write it as ${key} = "NAME".`,
      });
    }
    out[key] = value;
  }
  return out;
}

/** The text `keystack init` writes. Names are quoted the TOML way (JSON strings are TOML strings). */
export function projectFileText(names: { stack?: string | undefined; manager?: string | undefined }): string {
  const lines = ['# keystack project context: which stack and secrets manager commands run in this directory use.'];
  lines.push('# Names only, never secrets. `keystack status` shows what applies; -m/--stack and');
  lines.push('# $KEYSTACK_MANAGER/$KEYSTACK_STACK take precedence over this file.');
  if (names.stack !== undefined) lines.push(`stack = ${JSON.stringify(names.stack)}`);
  if (names.manager !== undefined) lines.push(`manager = ${JSON.stringify(names.manager)}`);
  return `${lines.join('\n')}\n`;
}
