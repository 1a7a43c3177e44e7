/**
 * What keystack passes on to the child of `keystack run`, named in its help (index.ts) and used
 * by the code that starts the child (child.ts).
 */

/**
 * What an `--isolated` child keeps from keystack's environment (when set): what programs need
 * to find binaries, files, the user, the locale and the terminal.
 */
export const ISOLATED_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TERM',
  'TZ',
  'TMPDIR',
] as const;

/** The signals passed on to the child. */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
