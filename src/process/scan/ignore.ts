/**
 * The `.keystackignore` and `--exclude` rules of `keystack scan`: a subset of gitignore syntax,
 * written here because no gitignore matcher is among keystack's declared dependencies.
 *
 * Supported: `#` comments, blank lines, `!` re-includes, a trailing `/` (directories only), a `/`
 * at the start or in the middle (anchored at the scanned root; otherwise the pattern matches a
 * name at any depth), `*`, `?`, `[abc]`/`[!a-z]`, `**` (any number of directories), and `\` before
 * a leading `#` or `!`. Not supported: trailing spaces escaped with `\`, and ignore files below the
 * root (only the root's `.keystackignore` is read).
 */

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
}

export class IgnoreRules {
  readonly #rules: Rule[] = [];

  /** Adds the rules of a gitignore-style text (a `.keystackignore`, or one `--exclude` glob per line). */
  add(text: string): this {
    for (const raw of text.split(/\r?\n/)) {
      const rule = parseRule(raw);
      if (rule) this.#rules.push(rule);
    }
    return this;
  }

  get size(): number {
    return this.#rules.length;
  }

  /**
   * Whether `rel` (a `/`-separated path relative to the root, no leading `/`) is ignored, itself
   * or through a directory above it (which, as in git, no later `!` rule can re-include from).
   */
  ignores(rel: string, isDir: boolean): boolean {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) if (this.#matches(parts.slice(0, i).join('/'), true)) return true;
    return this.#matches(rel, isDir);
  }

  /** The last rule that matches decides, as in gitignore. */
  #matches(rel: string, isDir: boolean): boolean {
    let ignored = false;
    for (const r of this.#rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(rel)) ignored = !r.negate;
    }
    return ignored;
  }
}

// --- Internal helpers ---

function parseRule(raw: string): Rule | undefined {
  let p = raw.replace(/\s+$/, '');
  if (p === '' || p.startsWith('#')) return undefined;
  let negate = false;
  if (p.startsWith('!')) {
    negate = true;
    p = p.slice(1);
  } else if (p.startsWith('\\#') || p.startsWith('\\!')) p = p.slice(1);
  let dirOnly = false;
  if (p.endsWith('/')) {
    dirOnly = true;
    p = p.replace(/\/+$/, '');
  }
  if (p === '') return undefined;
  const anchored = p.includes('/');
  p = p.replace(/^\/+/, '');
  const body = globToRegex(p);
  return { re: new RegExp(`^${anchored ? '' : '(?:.*/)?'}${body}$`), negate, dirOnly };
}

function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const slashAfter = glob[i + 2] === '/';
        if (atStart && slashAfter) {
          out += '(?:.*/)?';
          i += 2;
          continue;
        }
        if (atStart && i + 2 === glob.length) {
          out += '.*';
          i += 1;
          continue;
        }
        out += '[^/]*';
        i += 1;
        continue;
      }
      out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) out += '\\[';
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        out += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRe(glob[i + 1] ?? '');
      i += 1;
    } else out += escapeRe(c);
  }
  return out;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
