/**
 * Stack validation, before every run and on `keystack stack validate`: component compatibility
 * (a remote orchestrator cannot use a component that exists only on this machine) and the secret
 * references of every component, at the level set by KEYSTACK_SECRET_VALIDATION_LEVEL.
 * Every problem is collected first and reported at once.
 */
import { ConfigError, SecretNotFoundError, StackValidationError } from '../errors.js';
import { DOTTED_NAME_HINT, dottedNameNote, formatReference, type SecretReference } from '../secrets/reference.js';
import type { Secret } from '../core/manager.js';
import { splitPin } from '../secrets/pins.js';
import type { Keystack } from './client.js';
import { COMPONENT_LABEL } from './config-store.js';
import { REGISTRY_AUTH_SCHEMA } from './components.js';
import { StackRuntime, type StackRuntimeOptions } from './runtime.js';

export const VALIDATION_LEVELS = ['NONE', 'SECRET_EXISTS', 'SECRET_AND_KEY_EXISTS'] as const;
export type ValidationLevel = (typeof VALIDATION_LEVELS)[number];
export const VALIDATION_LEVEL_ENV = 'KEYSTACK_SECRET_VALIDATION_LEVEL';

export function validationLevelFrom(env: Readonly<Record<string, string | undefined>>): ValidationLevel {
  const raw = env[VALIDATION_LEVEL_ENV];
  if (raw === undefined || raw === '') return 'SECRET_AND_KEY_EXISTS';
  const level = VALIDATION_LEVELS.find((l) => l === raw.trim().toUpperCase());
  if (!level) {
    throw new ConfigError(`${VALIDATION_LEVEL_ENV} must be one of ${VALIDATION_LEVELS.join(', ')}, not '${raw}'`, {
      hint: 'Unset it to use SECRET_AND_KEY_EXISTS.',
    });
  }
  return level;
}

export interface MissingReference extends SecretReference {
  reason: 'missing_secret' | 'missing_key';
}

export interface ValidationReport {
  stack: string;
  level: ValidationLevel;
  references: SecretReference[];
  missing: MissingReference[];
  problems: string[];
  /** The secrets manager that was searched for the references (absent when the stack has none). */
  manager?: { name: string; flavor: string } | undefined;
  /** Backend calls the validation made. */
  backendCalls: number;
}

export interface ValidateOptions extends StackRuntimeOptions {
  /** Default: from KEYSTACK_SECRET_VALIDATION_LEVEL in the client's environment. */
  level?: ValidationLevel | undefined;
}

/** Validates a stack and returns what is wrong; `assertStackValid` throws instead. */
export async function validateStack(ks: Keystack, options: ValidateOptions = {}): Promise<ValidationReport> {
  const runtime = await StackRuntime.load(ks, options);
  return validateRuntime(runtime, options.level ?? validationLevelFrom(ks.env));
}

export async function validateRuntime(stack: StackRuntime, level: ValidationLevel): Promise<ValidationReport> {
  const problems: string[] = [];
  const report: ValidationReport = {
    stack: stack.name,
    level,
    references: stack.requiredSecrets(),
    missing: [],
    problems,
    backendCalls: 0,
  };
  const manager = stack.rawSecretsManager;

  // Whatever runs steps elsewhere (any flavor with remote: true) cannot use what exists only here.
  for (const runner of [stack.orchestrator, ...stack.stepOperators()].filter((c) => c.flavor.remote)) {
    // A step operator runs steps with the stack's store and secrets, not with its orchestrator;
    // a local orchestrator together with step operators is refused per pipeline (validatePipeline).
    const used = stack
      .components()
      .filter(
        (c) =>
          c !== runner && (runner.type === 'orchestrator' || (c.type !== 'orchestrator' && c.type !== 'step_operator')),
      );
    const local = [
      ...used
        .filter((c) => c.flavor.isLocal)
        .map((c) => `${COMPONENT_LABEL[c.type]} '${c.name}' (flavor ${c.flavor.name})`),
      ...(manager?.flavor.isLocal ? [`secrets-manager '${manager.name}' (flavor ${manager.flavor.name})`] : []),
    ];
    for (const l of local) {
      problems.push(
        `the remote ${COMPONENT_LABEL[runner.type]} '${runner.name}' (flavor ${runner.flavor.name}) cannot use ${l}, which exists only on this machine`,
      );
    }
  }

  const authSecret = await stack.containerRegistry?.getString('authentication_secret');
  if (level === 'NONE' || (report.references.length === 0 && authSecret === undefined)) return report;
  if (!manager) {
    problems.push(
      `components of stack '${stack.name}' reference secrets (${report.references.map(formatReference).join(', ') || authSecret}), but the stack has no secrets manager`,
    );
    return report;
  }

  report.manager = { name: manager.name, flavor: manager.flavor.name };
  const names = [...new Set([...report.references.map((r) => r.name), ...(authSecret ? [authSecret] : [])])];
  const secrets = new Map<string, Secret | null>();
  // A write-only backend (GitHub outside Actions) cannot show keys: check what it can, names.
  if (level === 'SECRET_AND_KEY_EXISTS' && !manager.flavor.capabilities.readValues) report.level = 'SECRET_EXISTS';
  if (report.level === 'SECRET_EXISTS') {
    report.backendCalls++;
    const listed = new Set(await manager.list());
    for (const n of names) if (!listed.has(splitPin(n).name)) secrets.set(n, null);
  } else {
    await Promise.all(
      names.map(async (n) => {
        report.backendCalls++;
        // A pinned reference ({{db@3.key}}) is checked against that version: a missing one is not_found, naming those there are.
        const pin = splitPin(n);
        const read = pin.version === undefined ? manager.get(n) : manager.getVersion(pin.name, pin.version);
        secrets.set(n, await read.catch((e: unknown) => (e instanceof SecretNotFoundError ? null : Promise.reject(e))));
      }),
    );
  }
  for (const ref of report.references) {
    const s = secrets.get(ref.name);
    if (s === null) report.missing.push({ ...ref, reason: 'missing_secret' });
    else if (s && !Object.hasOwn(s.values, ref.key)) report.missing.push({ ...ref, reason: 'missing_key' });
  }
  if (report.missing.length > 0) {
    const detail = report.missing.map((m) => {
      const dotted = m.reason === 'missing_secret' ? dottedNameNote(m) : null;
      return `${formatReference(m)} (${m.reason === 'missing_secret' ? `no secret '${m.name}'${dotted ? `; ${dotted}` : ''}` : `secret '${m.name}' has no key '${m.key}'`})`;
    });
    problems.push(`missing secrets for stack '${stack.name}': ${detail.join(', ')}`);
  }
  if (authSecret && stack.containerRegistry) {
    const s = secrets.get(authSecret);
    const reg = stack.containerRegistry.name;
    if (s === null)
      problems.push(
        `the authentication secret '${authSecret}' of container-registry '${reg}' does not exist (register it with schema ${REGISTRY_AUTH_SCHEMA})`,
      );
    else if (s && s.schema !== REGISTRY_AUTH_SCHEMA) {
      problems.push(
        `the authentication secret '${authSecret}' of container-registry '${reg}' has schema '${s.schema}'; register it with schema '${REGISTRY_AUTH_SCHEMA}'`,
      );
    }
  }
  return report;
}

/** Throws a StackValidationError listing every problem, with the commands that fix them. */
export function assertValid(report: ValidationReport): void {
  if (report.problems.length === 0) return;
  const hints: string[] = [];
  if (report.missing.length > 0 && report.manager) {
    // Secrets registered on another manager (the active one, -m, KEYSTACK_MANAGER) are the usual cause.
    const { name, flavor } = report.manager;
    hints.push(
      `They were looked up in secrets manager '${name}' (flavor ${flavor}), the one stack '${report.stack}' uses. To use the manager that has them, run \`keystack stack update ${report.stack} -x MANAGER\`; or register them on '${name}' with \`keystack secret register NAME -m ${name} --KEY=VALUE\`, or all at once with \`keystack stack register-secrets ${report.stack}\`.`,
    );
  } else if (report.missing.length > 0)
    hints.push(`To register the missing secrets, run \`keystack stack register-secrets ${report.stack}\`.`);
  if (report.missing.some((m) => m.reason === 'missing_secret' && dottedNameNote(m))) hints.push(DOTTED_NAME_HINT);
  if (report.missing.length > 0 || report.problems.some((p) => p.includes('authentication secret'))) {
    hints.push(
      `To check secrets less strictly, set ${VALIDATION_LEVEL_ENV} to one of ${VALIDATION_LEVELS.join(', ')} (now ${report.level}).`,
    );
  }
  const auth = /authentication secret '([^']+)'/.exec(report.problems.join('\n'))?.[1];
  if (auth) {
    hints.push(
      `Register the registry's credentials with \`keystack secret register ${auth} --schema=${REGISTRY_AUTH_SCHEMA} --username=USER --password=@FILE\` (delete a wrongly typed one first with \`keystack secret delete ${auth} -y\`).`,
    );
  }
  if (report.problems.some((p) => /^the remote (orchestrator|step-operator) /.test(p))) {
    hints.push(
      'Use components that the remote orchestrator and step operators can reach from other machines, e.g. a secrets manager of a flavor other than local (vault, aws, gcp, azure) and an s3 artifact store.',
    );
  }
  const missingOps = [
    ...new Set(report.problems.flatMap((p) => /^pipeline '[^']*' names step-operator '([^']+)'/.exec(p)?.[1] ?? [])),
  ];
  for (const op of missingOps)
    hints.push(
      `Add it with \`keystack stack update ${report.stack} --step-operator ${op}\` (register it first with \`keystack step-operator register ${op} --flavor=bullmq ...\`).`,
    );
  const declared = [
    ...new Set(
      report.problems.flatMap((p) => /^step '[^']*' declares (?:key '[^']*' of )?secret '([^']+)'/.exec(p)?.[1] ?? []),
    ),
  ];
  if (declared.length > 0)
    hints.push(
      `Register ${declared.length > 1 ? 'them' : 'it'} (\`keystack secret register ${declared[0] ?? ''} --KEY=VALUE\`), or take ${declared.length > 1 ? 'them' : 'it'} out of the step's \`secrets:\` option; see \`keystack pipeline validate FILE\`.`,
    );
  if (report.problems.some((p) => p.startsWith('step operators need the bullmq orchestrator'))) {
    hints.push(
      `Run the pipeline on a stack with a bullmq orchestrator (\`keystack stack update ${report.stack} -o NAME\`), or remove stepOperator from those steps.`,
    );
  }
  throw new StackValidationError(report.stack, report.problems, hints.join(' ') || undefined);
}

/** The part of a pipeline that validation reads: which steps name which step operator. */
export interface PipelineSteps {
  readonly name: string;
  graph(): readonly { readonly id: string; readonly stepOperator?: string | undefined }[];
}

/**
 * What a pipeline needs of a stack beyond the stack's own validity: every step operator it names
 * is in the stack, and step operators are used only with a remote orchestrator (steps of the
 * `local` and `local_process` orchestrators run here, so a step operator would be ignored).
 * Returns the problems, one line each; `runPipeline` adds them to the stack's report.
 */
export function validatePipeline(pipeline: PipelineSteps, stack: StackRuntime): string[] {
  const problems: string[] = [];
  const named = pipeline.graph().filter((n): n is { id: string; stepOperator: string } => n.stepOperator !== undefined);
  const byOperator = new Map<string, string[]>();
  for (const n of named) byOperator.set(n.stepOperator, [...(byOperator.get(n.stepOperator) ?? []), n.id]);
  for (const [op, steps] of byOperator) {
    if (!stack.stepOperator(op)) {
      problems.push(
        `pipeline '${pipeline.name}' names step-operator '${op}' (step${steps.length > 1 ? 's' : ''} ${steps.map((s) => `'${s}'`).join(', ')}), which stack '${stack.name}' does not have`,
      );
    }
  }
  if (named.length > 0 && !stack.orchestrator.flavor.remote) {
    problems.push(
      `step operators need the bullmq orchestrator: step${named.length > 1 ? 's' : ''} ${named.map((n) => `'${n.id}'`).join(', ')} of pipeline '${pipeline.name}' name${named.length > 1 ? '' : 's'} a step operator, but stack '${stack.name}' runs on orchestrator '${stack.orchestrator.name}' (flavor ${stack.orchestrator.flavor.name}), which runs every step on this machine`,
    );
  }
  return problems;
}

export async function assertStackValid(ks: Keystack, options: ValidateOptions = {}): Promise<ValidationReport> {
  const report = await validateStack(ks, options);
  assertValid(report);
  return report;
}
