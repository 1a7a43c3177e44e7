/**
 * What the parent of a step child needs from the stack: the step's declaration, the guard that
 * reads with the parent's credentials, and the stack as the child may see it (no secret in it).
 */
import { hostname } from 'node:os';
import type { SecretsManager } from '../../core/manager.js';
import { CollectingSink, type AccessRecord } from '../../core/provenance.js';
import { isReference } from '../../secrets/reference.js';
import { loadProvenanceKey } from '../../stack/provenance-key.js';
import type { Keystack } from '../../stack/client.js';
import type { ResolvedComponent, StackRuntime } from '../../stack/runtime.js';
import { createStepContext } from '../step-context.js';
import type { StepNode } from '../step.js';
import { createBroker, type SecretBroker } from './broker.js';
import { declaredCredentialVariables } from './env.js';
import type { ComponentView, ManagerView, StackView } from './protocol.js';

export interface HostStep {
  runId: string;
  pipeline: string;
  node: StepNode;
  attempt: number;
  /** The worker's name, or undefined for a local run. */
  worker: string | undefined;
}

export interface HostedCapability {
  broker: SecretBroker;
  sink: CollectingSink;
}

/**
 * A broker for one attempt of one step, answering through the same step context an in-process
 * step gets (createStepContext), so that reads, denials and records are alike in every mode. The
 * provenance key is read on the first read only: a run whose steps read nothing needs none.
 */
export function hostCapability(
  stack: StackRuntime,
  s: HostStep,
  keySource: { configDir: string; env: Readonly<Record<string, string | undefined>> },
): HostedCapability {
  const sink = new CollectingSink();
  const context = createStepContext({
    stack,
    runId: s.runId,
    pipeline: s.pipeline,
    node: s.node,
    attempt: s.attempt,
    worker: s.worker,
    sink,
    provenanceKey: () => loadProvenanceKey(keySource.configDir, keySource.env),
  });
  const raw = stack.rawSecretsManager;
  const manager: AccessRecord['manager'] = raw
    ? { uuid: raw.uuid, name: raw.name, flavor: raw.flavor.name }
    : { uuid: '', name: '', flavor: '' };
  const reader = {
    runId: s.runId,
    pipeline: s.pipeline,
    step: s.node.id,
    component: undefined,
    attempt: s.attempt,
    worker: s.worker,
    host: hostname(),
  };
  const broker = createBroker({
    reader,
    guard: context.secrets,
    sink,
    manager,
    stepManager: () => context.stack.secretsManager,
  });
  return { broker, sink };
}

/** The stack without its secrets: references stay text, sensitive plain values are left out. */
export function stackView(stack: StackRuntime): StackView {
  const raw = stack.rawSecretsManager;
  return {
    name: stack.name,
    secretsManager: raw ? managerView(raw) : undefined,
    components: stack.components().map(componentView),
  };
}

function managerView(m: SecretsManager): ManagerView {
  const { scope, namespace, componentUuid, componentName, prefix } = m.scope;
  return {
    uuid: m.uuid,
    name: m.name,
    flavor: m.flavor.name,
    where: m.where,
    // Both build the backend (no I/O); one that cannot be built fails the step's first call anyway.
    keepsVersions: answer(() => m.keepsVersions),
    mergesAtomically: answer(() => m.mergesAtomically),
    scope: { scope, ...(namespace === undefined ? {} : { namespace }), componentUuid, componentName, prefix },
  };
}

function answer(get: () => boolean): boolean | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
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
