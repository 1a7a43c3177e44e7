/**
 * The job payload of a remote step: a snapshot of the run's stack and the one step to run. It is
 * what travels through Redis, so it holds component configs as stored (a secret reference stays
 * `{{name.key}}` text) and never a resolved value or credential. See docs/remote-stacks.md.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { ConfigError } from '../../errors.js';
import { isReference } from '../../secrets/reference.js';
import type { FlavorDefinition } from '../../core/types.js';
import type { ComponentRecord, ComponentType } from '../../stack/config-store.js';
import type { ComponentFlavor } from '../../stack/components.js';
import type { SignedMessage } from '../../support/signing.js';

/** Bumped when the payload changes shape; a worker refuses a version it does not know. */
export const PAYLOAD_VERSION = 2;

export interface SnapshotComponent {
  uuid: string;
  type: ComponentType;
  flavor: string;
  name: string;
  /** As stored: references are text. */
  config: Record<string, unknown>;
}

export interface StackSnapshot {
  name: string;
  components: SnapshotComponent[];
}

export interface ModuleRef {
  /** Relative to the code root, with `/` separators. */
  path: string;
  exportName: string;
  /** SHA-256 (hex) of the module file's bytes. */
  sha256: string;
}

/**
 * A BullMQ step job. Only `job`, the client's signed envelope, is acted on; `stack` must hash to
 * what the envelope names, and `runId`/`stepId` only route (they must agree with the envelope).
 */
export interface StepJobData {
  v: typeof PAYLOAD_VERSION;
  runId: string;
  stepId: string;
  job: SignedMessage;
  stack: StackSnapshot;
  /**
   * Input URI → the sealed copy of that output (base64), added by the worker that scheduled the
   * job; not signed: each copy is checked when it is opened (sealed-outputs.ts).
   */
  sealedInputs?: Record<string, string> | undefined;
}

/**
 * A component as a snapshot holds it. A plain value in a sensitive field is a credential: it is
 * refused rather than sent, except `redis_url`, which workers never read from the snapshot (they
 * have their own --redis-url), so it is left out.
 */
export function snapshotComponent(
  record: ComponentRecord,
  fields: Readonly<Record<string, { sensitive?: boolean | undefined }>>,
  label: string,
): SnapshotComponent {
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record.config)) {
    const sensitive = Object.hasOwn(fields, k) && fields[k]?.sensitive === true;
    if (sensitive && typeof v === 'string' && v !== '' && !isReference(v)) {
      if (k === 'redis_url') continue;
      throw new ConfigError(
        `field '${k}' of ${label} '${record.name}' holds a plain credential, which a remote run would send through Redis`,
        {
          hint: `Store it as a secret and reference it: \`keystack secret register NAME --${k}=...\`, then set --${k}={{NAME.${k}}}.`,
        },
      );
    }
    config[k] = v;
  }
  return { uuid: record.uuid, type: record.type, flavor: record.flavor, name: record.name, config };
}

export function managerFields(
  flavor: FlavorDefinition<unknown>,
): Readonly<Record<string, { sensitive?: boolean | undefined }>> {
  return flavor.config;
}

export function componentFields(
  flavor: ComponentFlavor,
): Readonly<Record<string, { sensitive?: boolean | undefined }>> {
  return flavor.config;
}

export function moduleHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The module's path relative to the code root, refused when it lies outside it. */
export function modulePathIn(codeRoot: string, path: string): string {
  const rel = relative(codeRoot, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new ConfigError(`pipeline module ${path} is not inside the code root ${codeRoot}`, {
      hint: 'Run the pipeline from the code root (the directory workers use as --code-root), or set KEYSTACK_CODE_ROOT.',
    });
  }
  return rel.split(sep).join('/');
}
