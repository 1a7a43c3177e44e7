/**
 * One error hierarchy with stable codes. Messages name what went wrong and never contain a
 * secret value; `hint` says what to do next. The CLI maps `code` to exit codes in one place.
 */

export type ErrorCode =
  | 'secret_exists'
  | 'secret_not_found'
  | 'schema_validation'
  | 'too_large'
  | 'invalid_name'
  | 'config'
  | 'not_found'
  | 'exists'
  | 'in_use'
  | 'backend'
  | 'unsupported'
  | 'stack_validation'
  | 'step_failed'
  | 'input'
  | 'usage'
  | 'io'
  | 'conflict'
  | 'denied'
  | 'secret_leak';

export interface ErrorOptions {
  hint?: string | undefined;
  cause?: unknown;
}

/**
 * Marks keystack errors across copies of this module: a custom flavor imports 'keystack' (the
 * library build) while the CLI runs its own bundle, so `instanceof` alone would turn a flavor's
 * UnsupportedOperationError into a generic BackendError.
 */
const BRAND = Symbol.for('keystack.error');

export class KeystackError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    Object.defineProperty(this, BRAND, { value: true });
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, error: this.name, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

export class SecretExistsError extends KeystackError {
  readonly secretName: string;
  constructor(secretName: string, where: string) {
    super('secret_exists', `secret '${secretName}' already exists in ${where}`, {
      hint: `Change it with \`keystack secret update ${secretName} --KEY=VALUE\`, or delete it first.`,
    });
    this.secretName = secretName;
  }
}

export class SecretNotFoundError extends KeystackError {
  readonly secretName: string;
  constructor(secretName: string, where: string) {
    super('secret_not_found', `secret '${secretName}' does not exist in ${where}`, {
      hint: 'Run `keystack secret list` to see the secrets this manager can see.',
    });
    this.secretName = secretName;
  }
}

/**
 * A step read a secret (or a key of one) that it did not declare in `step({ secrets })`. The
 * denial is on record in the run's provenance; the message names what was asked, never a value.
 */
export class SecretAccessDeniedError extends KeystackError {
  readonly secretName: string;
  readonly stepName: string;
  constructor(stepName: string, what: string, secretName: string) {
    super('denied', `step '${stepName}' did not declare ${what}, so it may not read it`, {
      hint: `Declare it in the step: step({ name: '${stepName}', secrets: ['${secretName}'], run }).`,
    });
    this.secretName = secretName;
    this.stepName = stepName;
  }
}

/**
 * A step would have stored a value delivered to its run (in an output, a log line, its metadata
 * or its error) in one of the encodings the leak guard knows. Nothing of the step was written.
 * The message names the step, where the value was found, the secret, the key and the encoding,
 * never the value.
 */
export class SecretLeakError extends KeystackError {
  readonly stepName: string;
  /** Where it was found: `output 'model'`, `output 'cfg' at $.db.url`, `log`, `error`, … */
  readonly where: string;
  readonly secretName: string;
  readonly key: string;
  /** `raw`, `line`, `json`, `base64`, `base64url`, `url`, `hex`, … */
  readonly encoding: string;
  constructor(stepName: string, where: string, secretName: string, key: string, encoding: string) {
    const form = encoding === 'raw' ? '' : ` (${encoding})`;
    super(
      'secret_leak',
      `step '${stepName}' would store the value of secret '${secretName}' key '${key}'${form} in its ${where}; nothing of the step was written`,
      {
        hint: `Remove the value from the step's ${where}. A step whose job is to produce this credential can allow it: step({ name: '${stepName}', allowSecretOutputs: ['${secretName}.${key}'], run }).`,
      },
    );
    this.stepName = stepName;
    this.where = where;
    this.secretName = secretName;
    this.key = key;
    this.encoding = encoding;
  }
}

/** One problem with one field. `message` never quotes the offending value. */
export interface ValidationIssue {
  key: string;
  message: string;
}

export class SchemaValidationError extends KeystackError {
  readonly schema: string;
  readonly issues: readonly ValidationIssue[];
  constructor(schema: string, issues: readonly ValidationIssue[], hint?: string) {
    const detail = issues.map((i) => (i.key ? `${i.key}: ${i.message}` : i.message)).join('; ');
    super('schema_validation', `values do not match schema '${schema}': ${detail}`, {
      hint: hint ?? `Run \`keystack schema describe ${schema}\` to see its fields.`,
    });
    this.schema = schema;
    this.issues = issues;
  }
}

export class SecretTooLargeError extends KeystackError {
  constructor(secretName: string, bytes: number, limit: number, flavor: string) {
    super(
      'too_large',
      `secret '${secretName}' is ${bytes} bytes once stored; the ${flavor} flavor allows at most ${limit}`,
      {
        hint: 'Store large files elsewhere (an artifact store) and keep only a reference or credential here.',
      },
    );
  }
}

export class InvalidNameError extends KeystackError {
  constructor(what: string, value: string, rule: string) {
    super('invalid_name', `invalid ${what} ${JSON.stringify(value)}: ${rule}`, {
      hint: `Pick another ${what}.`,
    });
  }
}

export class ConfigError extends KeystackError {
  constructor(message: string, options: ErrorOptions = {}) {
    super('config', message, options);
  }
}

/** A named thing (component, stack, flavor, schema) that is not registered. */
export class NotFoundError extends KeystackError {
  constructor(message: string, hint?: string) {
    super('not_found', message, { hint });
  }
}

export class ExistsError extends KeystackError {
  constructor(message: string, hint?: string) {
    super('exists', message, { hint });
  }
}

export class InUseError extends KeystackError {
  constructor(message: string, hint?: string) {
    super('in_use', message, { hint });
  }
}

export interface BackendErrorDetails {
  flavor: string;
  operation: string;
  secretName?: string | undefined;
  reason: string;
  cause?: unknown;
  hint?: string | undefined;
}

/** An auth, network, throttling or server failure. Never means "not found". */
export class BackendError extends KeystackError {
  readonly flavor: string;
  readonly operation: string;
  readonly secretName: string | undefined;
  constructor(d: BackendErrorDetails) {
    const target = d.secretName === undefined ? '' : ` '${d.secretName}'`;
    super('backend', `[${d.flavor}] ${d.operation}${target} failed: ${d.reason}`, { hint: d.hint, cause: d.cause });
    this.flavor = d.flavor;
    this.operation = d.operation;
    this.secretName = d.secretName;
  }
}

export class UnsupportedOperationError extends KeystackError {
  constructor(flavor: string, operation: string, reason: string, hint?: string) {
    super('unsupported', `the ${flavor} flavor cannot ${operation}: ${reason}`, { hint });
  }
}

export class StackValidationError extends KeystackError {
  readonly problems: readonly string[];
  constructor(stack: string, problems: readonly string[], hint?: string) {
    super('stack_validation', `stack '${stack}' is not valid: ${problems.join('; ')}`, { hint });
    this.problems = problems;
  }
}

/** A concurrent writer kept changing a secret; the change was not applied (nothing was lost). */
export class ConflictError extends KeystackError {
  readonly secretName: string;
  constructor(secretName: string, where: string, hint?: string) {
    super(
      'conflict',
      `secret '${secretName}' in ${where} was changed by another writer while this change was applied; it was not applied`,
      {
        hint:
          hint ?? "Run the command again; it re-reads the secret and applies the change on top of the other writer's.",
      },
    );
    this.secretName = secretName;
  }
}

/** Bad user input that is not a command-line usage mistake (an unreadable @FILE, say). */
export class InputError extends KeystackError {
  constructor(message: string, hint?: string) {
    super('input', message, { hint });
  }
}

/** A command-line usage mistake: exit code 2. */
export class UsageError extends KeystackError {
  constructor(message: string, hint?: string) {
    super('usage', message, { hint });
  }
}

export function isKeystackError(e: unknown): e is KeystackError {
  return (
    e instanceof KeystackError || (e instanceof Error && (e as unknown as Record<symbol, unknown>)[BRAND] === true)
  );
}
