/**
 * The file formats of `keystack export` and `keystack import`: encoders that either produce text
 * their parser reads back to exactly the same values or fail naming the key, and decoders that
 * turn a file into secrets to write. No value ever appears in an error.
 *
 * - env:   `NAME_KEY='value'` lines, read back by dotenv (the parser `run --env-file` uses too)
 * - shell: `export NAME_KEY='value'` lines for `source` / `eval` in POSIX shells (export only)
 * - json, yaml: a map of maps `{secret: {key: value}}`; with schemas, each secret also carries
 *   `$schema` and its values keep their JSON types (a port stays a number)
 */
import { InputError } from '../errors.js';
import { typedValues, type ValueType } from '../secrets/content.js';
import { envName, parseEnvText } from '../process/env.js';

export const EXPORT_FORMATS = ['env', 'json', 'yaml', 'shell'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const IMPORT_FORMATS = ['env', 'json', 'yaml'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** The field of a JSON/YAML secret that names its schema; never a key of the secret itself. */
export const SCHEMA_FIELD = '$schema';

/** A secret as it travels through a file. */
export interface PortableSecret {
  name: string;
  /** Absent when the file did not say (env files, JSON/YAML without `$schema`). */
  schema?: string | undefined;
  values: Record<string, string>;
  types?: Record<string, ValueType> | undefined;
}

export interface EncodeOptions {
  /** JSON/YAML: write `$schema` and typed values. @default false */
  withSchema?: boolean | undefined;
  /** env/shell: variable names `SECRET_KEY` (true) or the key alone (false). @default true */
  secretPrefix?: boolean | undefined;
}

export async function encodeSecrets(
  secrets: readonly PortableSecret[],
  format: ExportFormat,
  o: EncodeOptions = {},
): Promise<string> {
  switch (format) {
    case 'json':
    case 'yaml': {
      const doc = toDocument(secrets, o.withSchema === true);
      if (format === 'json') return JSON.stringify(doc, null, 2) + '\n';
      const YAML = await import('yaml');
      // No line folding: a long token stays one line, as a reader expects to copy it.
      const readBack = (text: string) =>
        fromDocument(YAML.parse(text, { uniqueKeys: true }) as unknown, { schemas: o.withSchema === true });
      const text = YAML.stringify(doc, { lineWidth: 0, minContentWidth: 0 });
      // The library's output is checked rather than trusted. Its block scalars lose a line that
      // holds only spaces (" \n" reads back as "\n"), so such a document is written again with
      // double-quoted strings, which escape everything; a value that still differs fails by key.
      if (sameValues(secrets, readBack(text))) return text;
      const quoted = YAML.stringify(doc, { lineWidth: 0, minContentWidth: 0, blockQuote: false });
      checkSame(secrets, readBack(quoted));
      return quoted;
    }
    case 'env':
      return encodeEnv(secrets, o.secretPrefix !== false);
    case 'shell':
      return encodeShell(secrets, o.secretPrefix !== false);
  }
}

/** Where a file's secrets come from, for `decodeSecrets`. */
export interface DecodeOptions {
  /** The whole file is this one secret (env files always are; JSON/YAML then is a flat map). */
  as?: string | undefined;
  /** What the text is, in errors: `'app.env'`, `standard input`. @default 'the env file' */
  source?: string | undefined;
}

export async function decodeSecrets(
  text: string,
  format: ImportFormat,
  o: DecodeOptions = {},
): Promise<PortableSecret[]> {
  switch (format) {
    case 'env': {
      if (o.as === undefined)
        throw new InputError('an env file holds one secret, and no name was given for it', 'Pass --as NAME.');
      const values = Object.fromEntries(Object.entries(await parseEnvText(text, o.source)));
      return [{ name: o.as, values }];
    }
    case 'json': {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (e) {
        // SyntaxError messages quote the text around the mistake, which may be a value.
        throw new InputError(
          `the input is not valid JSON${position(e)}`,
          'Check the file, or pass --format if it is not JSON.',
        );
      }
      return fromInput(doc, o.as);
    }
    case 'yaml': {
      const YAML = await import('yaml');
      const parsed = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false });
      const err = parsed.errors[0];
      if (err) {
        const line = err.linePos?.[0]?.line;
        throw new InputError(
          `the input is not valid YAML (${err.code}${line === undefined ? '' : ` at line ${line}`})`,
          'Check the file, or pass --format if it is not YAML.',
        );
      }
      return fromInput(parsed.toJS({ maxAliasCount: 100 }) as unknown, o.as);
    }
  }
}

/** The format a file name suggests, or null. */
export function formatOfPath(path: string): ImportFormat | null {
  const lower = path.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.yaml') || lower.endsWith('.yml')) return 'yaml';
  if (lower.endsWith('.env') || /(^|\/)\.env(\.[^/]*)?$/.test(lower)) return 'env';
  return null;
}

// --- JSON and YAML ---

function toDocument(secrets: readonly PortableSecret[], withSchema: boolean): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    secrets.map((s) => {
      // An import reads `$schema` as the schema name, so such a key would not come back as a key.
      if (Object.hasOwn(s.values, SCHEMA_FIELD)) {
        throw new InputError(
          `secret '${s.name}' has a key named '${SCHEMA_FIELD}', which JSON and YAML files use for the schema name`,
          'Export it with --format env or shell, or rename the key.',
        );
      }
      const values: Record<string, unknown> = withSchema
        ? typedValues(s.types ? { values: s.values, types: s.types } : { values: s.values })
        : s.values;
      return [s.name, withSchema ? { [SCHEMA_FIELD]: s.schema, ...values } : { ...values }];
    }),
  );
}

function fromInput(doc: unknown, as: string | undefined): PortableSecret[] {
  if (as !== undefined) return [toSecret(as, doc, true)];
  return fromDocument(doc, { schemas: true });
}

/** A map of maps; `$schema` read only when `schemas`. */
function fromDocument(doc: unknown, o: { schemas: boolean }): PortableSecret[] {
  if (!isMap(doc))
    throw new InputError(
      `the input is ${kind(doc)}, not a map of secret names to maps of keys and values`,
      'Use the layout `keystack export --format json` writes, or pass --as NAME for one flat map.',
    );
  return Object.entries(doc).map(([name, content]) => toSecret(name, content, o.schemas));
}

function toSecret(name: string, content: unknown, schemas: boolean): PortableSecret {
  if (!isMap(content))
    throw new InputError(
      `secret '${name}' is ${kind(content)}, not a map of keys to values`,
      'Give each secret as a map, e.g. {"db": {"password": "..."}}.',
    );
  const values: Record<string, string> = {};
  const types: Record<string, ValueType> = {};
  let schema: string | undefined;
  for (const [key, v] of Object.entries(content)) {
    if (schemas && key === SCHEMA_FIELD) {
      if (typeof v !== 'string' || v === '')
        throw new InputError(
          `secret '${name}': ${SCHEMA_FIELD} must be a schema name`,
          'Give it as a string, e.g. "$schema": "mysql".',
        );
      schema = v;
    } else if (typeof v === 'string') {
      values[key] = v;
    } else if (typeof v === 'boolean' || typeof v === 'number') {
      if (typeof v === 'number' && !Number.isFinite(v))
        throw new InputError(`secret '${name}' key '${key}' is not a finite number`, 'Quote it to import it as text.');
      values[key] = String(v);
      types[key] = typeof v === 'boolean' ? 'boolean' : 'number';
    } else if (v !== null && typeof v === 'object') {
      values[key] = JSON.stringify(v);
      types[key] = 'json';
    } else {
      // ZenML drops None values; an importer that did so would lose a key the user wrote.
      throw new InputError(
        `secret '${name}' key '${key}' has no value (${kind(v)})`,
        'Give it a value (an empty string is one), or remove the key.',
      );
    }
  }
  return {
    name,
    ...(schema === undefined ? {} : { schema }),
    values,
    ...(Object.keys(types).length > 0 ? { types } : {}),
  };
}

function sameValues(wanted: readonly PortableSecret[], got: readonly PortableSecret[]): boolean {
  return wanted.every(
    (w, i) =>
      got[i]?.name === w.name && Object.entries(w.values).every(([key, value]) => got[i]?.values[key] === value),
  );
}

function checkSame(wanted: readonly PortableSecret[], got: readonly PortableSecret[]): void {
  for (const [i, w] of wanted.entries()) {
    const g = got[i];
    for (const [key, value] of Object.entries(w.values)) {
      if (g?.name !== w.name || g.values[key] !== value) {
        throw new InputError(
          `secret '${w.name}' key '${key}' cannot be written so that it reads back unchanged in this format`,
          'Export it as JSON instead.',
        );
      }
    }
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a map' : `a ${typeof v}`;
}

function position(e: unknown): string {
  const m = /position (\d+)/.exec(e instanceof Error ? e.message : '');
  return m ? ` (at character ${m[1]})` : '';
}

// --- env and shell ---

/** Where a variable came from, for messages. */
interface EnvVarSource {
  secret: string;
  key: string;
}

/**
 * The variable of each key, by `envName` (the mapping `keystack run -s` documents), or with
 * `--no-prefix` the key alone by the same rule: `envName`'s `_KEY` without the joining `_`, kept
 * when the key starts with a digit. Two keys that map to one variable are an error naming both.
 */
function envVarNames(sources: readonly EnvVarSource[], withSecretName: boolean): Map<string, EnvVarSource> {
  const out = new Map<string, EnvVarSource>();
  for (const s of sources) {
    const joined = envName(withSecretName ? s.secret : '', s.key);
    const name = withSecretName || /^_[0-9]/.test(joined) ? joined : joined.slice(1);
    const taken = out.get(name);
    if (taken) {
      throw new InputError(
        `keys '${taken.secret}.${taken.key}' and '${s.secret}.${s.key}' both become the variable ${name}`,
        'Rename one of the keys, or export the secrets separately.',
      );
    }
    out.set(name, s);
  }
  return out;
}

function variables(secrets: readonly PortableSecret[], secretPrefix: boolean): [string, EnvVarSource, string][] {
  const sources = secrets.flatMap((s) => Object.keys(s.values).map((key) => ({ secret: s.name, key })));
  const names = envVarNames(sources, secretPrefix);
  const bySecret = new Map(secrets.map((s) => [s.name, s]));
  return [...names].map(([name, src]) => {
    const value = bySecret.get(src.secret)?.values[src.key] ?? '';
    // Neither environment variables nor shell strings can hold a NUL byte.
    if (value.includes('\0'))
      throw new InputError(
        `secret '${src.secret}' key '${src.key}' contains a NUL character, which no environment variable can hold`,
        'Export it as JSON instead.',
      );
    return [name, src, value];
  });
}

async function encodeEnv(secrets: readonly PortableSecret[], secretPrefix: boolean): Promise<string> {
  const { parse } = await import('dotenv');
  const vars = variables(secrets, secretPrefix);
  const lines = vars.map(([name, src, value]) => {
    const line = dotenvLine(name, value, parse);
    if (line === null) throw unrepresentable(src);
    return line;
  });
  const text = lines.map((l) => l + '\n').join('');
  // Lines that each parse right could still run into each other; the whole file is checked too.
  const back = parse(text);
  for (const [name, src, value] of vars) if (back[name] !== value) throw unrepresentable(src);
  if (Object.keys(back).length !== vars.length)
    throw new InputError('the env file would not read back with the same variables', 'Export it as JSON instead.');
  return text;
}

type DotenvParse = (src: string) => Record<string, string>;

/**
 * One `NAME=value` line that dotenv reads back as exactly `value`, or null. dotenv has no escape
 * for a quote inside its own kind of quotes, turns `\n` and `\r` into line breaks only inside
 * double quotes, and reads a bare CR in a file as a line break; so each value gets the first
 * quoting that holds it, checked by parsing it back.
 */
function dotenvLine(name: string, value: string, parse: DotenvParse): string | null {
  const candidates: string[] = [];
  // A backslash right before the closing quote would read as an escaped quote.
  const endsInBackslash = value.endsWith('\\');
  if (!/['\r]/.test(value) && !endsInBackslash) candidates.push(`'${value}'`);
  if (!value.includes('"') && !endsInBackslash)
    candidates.push(`"${value.replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`);
  if (!/[`\r]/.test(value) && !endsInBackslash) candidates.push(`\`${value}\``);
  if (/^[^\s'"`#][^#\r\n]*$/.test(value) && !/\s$/.test(value)) candidates.push(value);
  for (const c of candidates) {
    const line = `${name}=${c}`;
    const back = parse(line);
    if (Object.keys(back).length === 1 && back[name] === value) return line;
  }
  return null;
}

function unrepresentable(src: EnvVarSource): InputError {
  return new InputError(
    `secret '${src.secret}' key '${src.key}' cannot be written in .env syntax so that it reads back unchanged (it mixes quote characters, line breaks or a trailing backslash in a way dotenv cannot carry)`,
    'Export it as JSON or YAML instead, or as --format shell.',
  );
}

async function encodeShell(secrets: readonly PortableSecret[], secretPrefix: boolean): Promise<string> {
  // Inside single quotes a POSIX shell takes every byte literally; a quote is closed, escaped, reopened.
  return variables(secrets, secretPrefix)
    .map(([name, , value]) => `export ${name}='${value.replace(/'/g, `'\\''`)}'\n`)
    .join('');
}
