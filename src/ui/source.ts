/**
 * What the dashboard reads, and nothing else. The CLI's `ui` command implements it with the very
 * handlers behind `--json` (stack list, secret history, pipeline runs describe, audit, …), so the
 * UI shows what the CLI would print and adds no query layer of its own. Every field here is one a
 * `--json` document already carries; no function returns a secret value.
 */
import type { RunRecord } from '../pipeline/run-store.js';
import type { AccessEntry, ValueMatches } from '../stack/provenance-store.js';

export type { AccessEntry, RunRecord, ValueMatches };

export interface StackItem {
  name: string;
  id: string;
  active: boolean;
  components: Record<string, string | undefined>;
  stepOperators: string[];
}

/** A component as `<type> list --json` shows it: sensitive config already `***`. */
export interface ComponentItem {
  name: string;
  id: string;
  type: string;
  flavor: string;
  active: boolean;
  config: Record<string, unknown>;
}

export interface ReferenceItem {
  /** `{{name.key}}` as written in the config. */
  reference: string;
  status: 'exists' | 'missing_key' | 'missing_secret' | 'not_checked';
}

export interface StackCheck {
  stack: string;
  level: string;
  references: ReferenceItem[];
  problems: string[];
}

export interface ManagerItem {
  name: string;
  id: string;
  flavor: string;
  active: boolean;
  config: Record<string, unknown>;
}

export interface SecretSummary {
  name: string;
  manager: string;
  schema: string;
  keys: string[];
  createdAt: string | null;
  updatedAt: string | null;
}

export interface SecretVersion {
  version: string;
  createdAt: string | null;
  labels: string[];
  readable: boolean;
  keys: string[] | null;
  changes: { added: string[]; removed: string[]; changed: string[] } | null;
  writer: string | null;
}

export interface StepItem {
  step: string;
  name: string;
  status: string;
  durationMs: number | null;
  cachedFrom: string | null;
  error: string | null;
  worker: string | null;
  attempts: number | null;
  declared: readonly string[] | '*' | null;
  /** The steps whose outputs this step took as inputs (the DAG's edges). */
  upstream: string[];
  accesses: AccessEntry[];
}

export interface RunDetail {
  run: RunRecord;
  steps: StepItem[];
  /** Accesses made outside steps (components, the orchestrator). */
  accesses: AccessEntry[];
}

export interface UiSource {
  stacks(): Promise<StackItem[]>;
  components(): Promise<ComponentItem[]>;
  /** The references of a stack's components and whether each resolves (the check behind `stack validate`). */
  checkStack(stack: string): Promise<StackCheck>;
  managers(): Promise<ManagerItem[]>;
  secrets(manager: string): Promise<string[]>;
  describeSecret(manager: string, name: string): Promise<SecretSummary>;
  history(manager: string, name: string): Promise<SecretVersion[]>;
  usedBy(secret: string, manager?: string): Promise<AccessEntry[]>;
  /** The leaked-value question: fingerprinted with the provenance key; the value is not kept. */
  usedByValue(value: string, manager?: string): Promise<ValueMatches>;
  runs(limit: number): Promise<RunRecord[]>;
  run(id: string): Promise<RunDetail>;
  audit(limit: number): Promise<AccessEntry[]>;
}
