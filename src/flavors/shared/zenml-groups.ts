/**
 * ZenML 0.30's legacy per-key layout of scope `none`: one backend object per key, grouped by the
 * label or tag `zenml-group-key`. The gcp and azure flavors read such a group as one secret,
 * read-only, so that it can be copied into a keystack secret; keystack never lists a member as a
 * secret of its own, and never writes or deletes one. What the two backends share is here, with
 * the wrapper (withZenmlGroups) they apply in scope `none`; how a backend finds a group's members
 * is its own.
 */
import { decodeContent, type StoredSecret } from '../../secrets/content.js';
import { UnsupportedOperationError } from '../../errors.js';
import { decodeOrFail } from '../../core/kit.js';
import { mapLimit } from '../../support/concurrency.js';
import type { SecretsBackend } from '../../core/types.js';

/** ZenML's label / tag names: literal, whatever the scope prefix. */
export const GROUP_KEY = 'zenml-group-key';
export const GROUP_MEMBER_KEY = 'zenml-key-name';
export const GROUP_SCHEMA = 'zenml-schema-name';

/** What a flavor writes in the errors about groups. */
export interface GroupWording {
  flavor: string;
  /** One backend object, as in "one vault secret per key". */
  object: string;
  /** How to remove the members, as in "delete its per-key secrets with az keyvault". */
  cleanup: string;
}

/** A write or delete of a group: refused, with how to copy it into a keystack secret. */
export function groupIsReadOnly(w: GroupWording, operation: string, name: string): UnsupportedOperationError {
  return new UnsupportedOperationError(
    w.flavor,
    `${operation} '${name}'`,
    `it is a group in ZenML's per-key layout (one ${w.object} per key), which is read-only in keystack`,
    `Copy it to a keystack secret: \`keystack secret copy ${name} --to …\` (or register a new secret with its values), then ${w.cleanup}.`,
  );
}

/** A get of one member of a group, which is not a secret of its own. */
export function memberOfGroup(flavor: string, name: string, group: string): UnsupportedOperationError {
  return new UnsupportedOperationError(
    flavor,
    `get '${name}'`,
    `it is one key of ZenML's per-key secret '${group}'`,
    `Run \`keystack secret get ${group}\`.`,
  );
}

/**
 * The keystack payload in `text`. When it holds none, the error says why: the object is a member
 * of the group `groupOf` names (asked only then), or it holds something else.
 */
export async function decodeOwn(
  flavor: string,
  name: string,
  text: string,
  prefix: string,
  what: string,
  groupOf: () => Promise<string | undefined> | string | undefined,
): Promise<StoredSecret> {
  try {
    return decodeContent(text, prefix);
  } catch {
    const group = await groupOf();
    if (group !== undefined) throw memberOfGroup(flavor, name, group);
    return decodeOrFail(flavor, name, text, prefix, what);
  }
}

/** A group's values, one member (`id` holding the value of `key`) read per request, `concurrency` at a time. */
export async function assembleGroup(
  members: readonly { id: string; key: string }[],
  schema: string | undefined,
  concurrency: number,
  value: (id: string) => Promise<string>,
): Promise<StoredSecret> {
  const read = await mapLimit(members, concurrency, (m) => value(m.id));
  const values: Record<string, string> = {};
  members.forEach((m, i) => (values[m.key] = read[i] ?? ''));
  return { schema: schema || 'arbitrary', values };
}

/**
 * The candidates (unmarked objects: another tool's, or keystack's from before the schema label
 * marked its own) whose object holds a keystack payload, in order. Only those count as secrets:
 * delete-all must never remove what get cannot read.
 */
export async function withPayloads(
  candidates: readonly string[],
  concurrency: number,
  holdsPayload: (c: string) => Promise<boolean>,
): Promise<string[]> {
  const ok = await mapLimit(candidates, concurrency, holdsPayload);
  return candidates.filter((_, i) => ok[i]);
}

/** How a flavor finds ZenML's per-key groups: whether `name` is one, and its values. */
export interface GroupSource {
  wording: GroupWording;
  exists(name: string): Promise<boolean>;
  read(name: string): Promise<StoredSecret | null>;
}

/**
 * The backend of scope `none` with ZenML's groups beside its own secrets: a group reads as one
 * secret, its name is taken for a register, and a write or delete of it is refused instead of
 * reading as absent. Listing stays the flavor's own, which finds groups in the same scan.
 */
export function withZenmlGroups(backend: SecretsBackend, groups: GroupSource): SecretsBackend {
  const refuseGroup = async (operation: string, name: string) => {
    if (await groups.exists(name)) throw groupIsReadOnly(groups.wording, operation, name);
  };
  return {
    ...backend,
    create: async (name, secret) => !(await groups.exists(name)) && backend.create(name, secret),
    get: async (name) => (await backend.get(name)) ?? groups.read(name),
    async update(name, secret) {
      if (await backend.update(name, secret)) return true;
      await refuseGroup('update', name);
      return false;
    },
    ...(backend.read
      ? {
          async read(name: string) {
            const r = await backend.read?.(name);
            if (!r) await refuseGroup('update', name);
            return r ?? null;
          },
        }
      : {}),
    async delete(name) {
      if (await backend.delete(name)) return true;
      await refuseGroup('delete', name);
      return false;
    },
  };
}
