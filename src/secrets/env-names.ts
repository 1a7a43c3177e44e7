/**
 * The one mapping from a secret's keys to environment-variable names, shared by everything that
 * turns secrets into variables (`keystack run -s`, `keystack export --format env|shell`): the
 * secret name and the key joined with `_`, upper-cased, every character other than A-Z, 0-9 and
 * `_` replaced by `_`, and a `_` in front when the result would start with a digit. Two keys that
 * map to the same variable are an error, never a silent overwrite.
 */
import { InputError } from './errors.js';

/**
 * `db` + `password` → `DB_PASSWORD`; with `secret` null (`export --no-prefix`) the key alone:
 * `PASSWORD`. `prefix` (`keystack run --prefix APP_`) goes in front as given.
 */
export function envVarName(secret: string | null, key: string, prefix = ''): string {
  const joined = secret === null || secret === '' ? key : `${secret}_${key}`;
  const name = `${prefix}${joined.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/** Where a variable came from, for collision messages. */
export interface EnvVarSource {
  secret: string;
  key: string;
}

/**
 * The variable names of many secrets' keys, in order. Throws an InputError naming both keys when
 * two map to one variable (values never appear: only names).
 */
export function envVarNames(sources: readonly EnvVarSource[], options: { withSecretName?: boolean } = {}): Map<string, EnvVarSource> {
  const out = new Map<string, EnvVarSource>();
  for (const s of sources) {
    const name = envVarName(options.withSecretName === false ? null : s.secret, s.key);
    const taken = out.get(name);
    if (taken) {
      throw new InputError(
        `keys ${describe(taken)} and ${describe(s)} both become the variable ${name}`,
        'Rename one of the keys, or export the secrets separately.',
      );
    }
    out.set(name, s);
  }
  return out;
}

function describe(s: EnvVarSource): string {
  return `'${s.secret}.${s.key}'`;
}
