/**
 * What each step of a pipeline declares in `step({ secrets })`, and whether those secrets (and
 * keys) exist in the stack's secrets manager, at the stack validation levels: `pipeline validate`
 * shows it, and `pipeline run` refuses to start when a declared secret is missing.
 */
import { SecretNotFoundError } from '../errors.js';
import type { Secret } from '../core/manager.js';
import type { StackRuntime } from '../stack/runtime.js';
import type { ValidationLevel } from '../stack/validation.js';
import type { SecretDeclaration } from './access.js';
import type { Pipeline } from './step.js';

export interface StepDeclaration {
  step: string;
  /** `'*'`, or the entries as written (`name`, `name.key`, `name@V`). */
  secrets: '*' | string[];
  /** Declared secrets (or keys) the manager does not have. */
  missing: { secret: string; key: string | null; reason: 'missing_secret' | 'missing_key' }[];
}

export interface DeclarationReport {
  pipeline: string;
  /** The level checked (SECRET_EXISTS where the backend cannot show keys). */
  level: ValidationLevel;
  steps: StepDeclaration[];
  /** One line per missing secret or key, for the stack's validation report. */
  problems: string[];
}

/** Lists each step's declaration and checks that what it names exists (one backend call per secret at most). */
export async function checkDeclarations(
  p: Pipeline,
  stack: StackRuntime,
  level: ValidationLevel,
): Promise<DeclarationReport> {
  const nodes = p.graph();
  const steps: StepDeclaration[] = nodes.map((n) => ({
    step: n.id,
    secrets: declaredSecrets(n.step.declaration),
    missing: [],
  }));
  const report: DeclarationReport = { pipeline: p.name, level, steps, problems: [] };
  const entries = nodes.flatMap((n) => (n.step.declaration.all ? [] : n.step.declaration.entries));
  if (level === 'NONE' || entries.length === 0) return report;
  const manager = stack.rawSecretsManager;
  if (!manager) {
    report.problems.push(
      `steps of pipeline '${p.name}' declare secrets, but stack '${stack.name}' has no secrets manager`,
    );
    return report;
  }
  if (level === 'SECRET_AND_KEY_EXISTS' && !manager.flavor.capabilities.readValues) report.level = 'SECRET_EXISTS';
  // A pinned entry is checked against its version (`db@3`): its keys are that version's.
  const read = (e: { name: string; version: string | undefined }) =>
    e.version === undefined ? e.name : `${e.name}@${e.version}`;
  const names = [...new Map(entries.map((e) => [read(e), e])).values()];
  const found = new Map<string, Secret | true | null>();
  if (report.level === 'SECRET_EXISTS') {
    const listed = new Set(await manager.list());
    for (const e of names) found.set(read(e), listed.has(e.name) ? true : null);
  } else {
    await Promise.all(
      names.map(async (e) => {
        // A missing version is thrown (not_found, naming the readable ones), not listed as a missing secret.
        const got = e.version === undefined ? manager.get(e.name) : manager.getVersion(e.name, e.version);
        found.set(
          read(e),
          await got.catch((x: unknown) => (x instanceof SecretNotFoundError ? null : Promise.reject(x))),
        );
      }),
    );
  }
  nodes.forEach((n, i) => {
    const d = steps[i] as StepDeclaration;
    if (n.step.declaration.all) return;
    for (const e of n.step.declaration.entries) {
      const s = found.get(read(e));
      if (s === null) d.missing.push({ secret: e.name, key: e.key ?? null, reason: 'missing_secret' });
      else if (e.key !== undefined && s !== true && s !== undefined && !Object.hasOwn(s.values, e.key))
        d.missing.push({ secret: e.name, key: e.key, reason: 'missing_key' });
    }
    for (const m of d.missing) {
      report.problems.push(
        m.reason === 'missing_secret'
          ? `step '${d.step}' declares secret '${m.secret}', which does not exist in ${manager.where}`
          : `step '${d.step}' declares key '${m.key ?? ''}' of secret '${m.secret}', which has no such key`,
      );
    }
  });
  return report;
}

/** A declaration as the step wrote it: `'*'`, or its entries (`name`, `name.key`, `name@V`). */
export function declaredSecrets(d: SecretDeclaration): '*' | string[] {
  return d.all ? '*' : d.entries.map(entryText);
}

function entryText(e: { name: string; key: string | undefined; version: string | undefined }): string {
  return `${e.name}${e.version === undefined ? '' : `@${e.version}`}${e.key === undefined ? '' : `.${e.key}`}`;
}
