/**
 * What the parent of a step child needs from the stack: the step's declaration, the guard that
 * reads with the parent's credentials, and the stack as the child may see it (no secret in it).
 */
import { hostname } from 'node:os';
import { CollectingSink, fingerprint, type AccessRecord } from '../../core/provenance.js';
import { isReference } from '../../secrets/reference.js';
import { loadProvenanceKey } from '../../stack/provenance-key.js';
import type { Keystack } from '../../stack/client.js';
import type { ResolvedComponent, StackRuntime } from '../../stack/runtime.js';
import { parseDeclaration, SecretGuard, type SecretDeclaration } from '../access.js';
import type { StepDefinition } from '../step.js';
import { createBroker, type SecretBroker } from './broker.js';
import { declaredCredentialVariables } from './env.js';
import type { ComponentView, StackView } from './protocol.js';

/** The one place the step's `secrets:` option is read. */
export function declarationOf(step: StepDefinition<never>): SecretDeclaration {
  return parseDeclaration(step.name, (step as { secrets?: unknown }).secrets);
}

export interface HostStep {
  runId: string;
  pipeline: string;
  stepId: string;
  attempt: number;
  /** The worker's name, or undefined for a local run. */
  worker: string | undefined;
  declaration: SecretDeclaration;
}

export interface HostedCapability {
  broker: SecretBroker;
  sink: CollectingSink;
}

/**
 * A broker for one attempt of one step. The provenance key is read on the first read only, so
 * that a run whose steps read nothing does not need one.
 */
export function hostCapability(
  stack: StackRuntime,
  s: HostStep,
  keySource: { configDir: string; env: Readonly<Record<string, string | undefined>> },
): HostedCapability {
  const sink = new CollectingSink();
  const raw = stack.rawSecretsManager;
  const manager: AccessRecord['manager'] = raw
    ? { uuid: raw.uuid, name: raw.name, flavor: raw.flavor.name }
    : { uuid: '', name: '', flavor: '' };
  const reader = {
    runId: s.runId,
    pipeline: s.pipeline,
    step: s.stepId,
    component: undefined,
    attempt: s.attempt,
    worker: s.worker,
    host: hostname(),
  };
  let key: Buffer | undefined;
  const guard = new SecretGuard({
    reader,
    declaration: s.declaration,
    manager,
    where: raw?.where ?? `stack '${stack.name}'`,
    sink,
    fingerprint: (v) => fingerprint((key ??= loadProvenanceKey(keySource.configDir, keySource.env)), v),
    read: async (name, { fresh }) => {
      // Reads go through the run's cache (each secret once per run) unless the step asks fresh.
      if (!fresh) {
        const secret = await stack.resolver.secret(name);
        return secret ? { secret, version: null } : null;
      }
      const m = stack.secretsManager;
      if (!(await m.has(name))) return null;
      stack.resolver.forget(name);
      const secret = await stack.resolver.secret(name);
      return secret ? { secret, version: null } : null;
    },
  });
  return { broker: createBroker({ reader, guard, sink, manager }), sink };
}

/** The stack without its secrets: references stay text, sensitive plain values are left out. */
export function stackView(stack: StackRuntime): StackView {
  const raw = stack.rawSecretsManager;
  return {
    name: stack.name,
    secretsManager: raw ? { uuid: raw.uuid, name: raw.name, flavor: raw.flavor.name } : undefined,
    components: stack.components().map(componentView),
  };
}

function componentView(c: ResolvedComponent): ComponentView {
  const config: Record<string, unknown> = {};
  const fields = c.flavor.config;
  for (const [k, f] of Object.entries(fields)) if (f.default !== undefined) config[k] = f.default;
  for (const [k, v] of Object.entries(c.record.config)) config[k] = v;
  for (const k of Object.keys(config)) if (fields[k]?.sensitive && !isReference(config[k])) delete config[k];
  return { type: c.type, name: c.name, flavor: c.flavor.name, config };
}

/** The credential variables the stack's manager config names (github's token_env), to scrub too. */
export function stackCredentialVariables(ks: Keystack, stack: StackRuntime): string[] {
  const raw = stack.rawSecretsManager;
  const record = ks.stackComponent(stack.record, 'secrets_manager');
  if (!raw || !record) return [];
  return declaredCredentialVariables([record.config], [raw.flavor.config]);
}
