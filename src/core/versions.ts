/**
 * Versions of a secret (DESIGN §16), the same on every backend that keeps them: resolving a
 * version token (`3`, an id, `previous`, `current`), history with the keys each version changed,
 * and the diff of two versions. What changed is found by comparing HMACs of the values under a
 * key made for one call and then dropped, so no value, nor anything that could be matched against
 * a value later, leaves this file.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { InputError, NotFoundError } from '../errors.js';
import { isVersionToken } from '../secrets/pins.js';
import type { StoredSecret } from '../secrets/content.js';
import type { BackendVersion, StoredVersion } from './types.js';

/** Keys added, removed and changed from one version to another; never values. */
export interface KeyChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/** One entry of `history`, newest first. */
export interface HistoryEntry {
  /** The backend's version id. */
  version: string;
  createdAt: Date | null;
  /** `current`, `previous`, and the backend's own stages. */
  labels: string[];
  /** False for a version the backend keeps but no longer returns (destroyed, disabled). */
  readable: boolean;
  /** Its keys; null when it cannot be read. */
  keys: string[] | null;
  /** From the version before it; null for the oldest one kept, or when either cannot be read. */
  changes: KeyChanges | null;
  /** Who wrote it (`user@host`, a run and step), where keystack recorded it; null otherwise. */
  writer: string | null;
}

/** `diff`: what changed between version `from` and version `to`. */
export interface SecretDiff extends KeyChanges {
  name: string;
  from: string;
  to: string;
}

/** The versioned operations of a backend, wrapped by the manager (errors, masking, absence). */
export interface VersionAccess {
  flavor: string;
  where: string;
  /** Newest first; SecretNotFoundError when the secret does not exist. */
  list(name: string): Promise<BackendVersion[]>;
  /** Null when that version (or the secret) does not exist or cannot be read. */
  read(name: string, id: string): Promise<StoredVersion | null>;
}

/** The labels every versioned backend has, made sure of: the newest readable one is `current`. */
export function withLabels(list: readonly BackendVersion[]): BackendVersion[] {
  const out = list.map((v) => ({ ...v, labels: [...v.labels] }));
  let current = out.findIndex((v) => v.labels.includes('current'));
  if (current === -1) {
    current = out.findIndex((v) => v.readable);
    out[current]?.labels.unshift('current');
  }
  if (current !== -1 && !out.some((v) => v.labels.includes('previous'))) {
    out
      .slice(current + 1)
      .find((v) => v.readable)
      ?.labels.push('previous');
  }
  return out;
}

export function checkToken(token: string): void {
  if (!isVersionToken(token)) {
    throw new InputError(
      `'${token}' is not a version`,
      'Give a version number or id as `keystack secret history NAME` lists it, or `previous` or `current`.',
    );
  }
}

/** Version `token` of `name`, with its content; NotFoundError naming what is missing. */
export async function readVersion(va: VersionAccess, name: string, token: string): Promise<StoredVersion> {
  checkToken(token);
  const label = token.toLowerCase();
  if (label === 'current' || label === 'previous') {
    const list = withLabels(await va.list(name));
    const v = list.find((x) => x.labels.includes(label));
    if (!v) throw noVersion(va, name, token, list);
    const got = await va.read(name, v.id);
    if (!got) throw noVersion(va, name, token, list);
    return { ...got, labels: v.labels };
  }
  const got = await va.read(name, token);
  if (got) return got;
  // Absent secret and absent version read the same way to the backend; the list tells them apart.
  throw noVersion(va, name, token, await va.list(name));
}

function noVersion(va: VersionAccess, name: string, token: string, list: readonly BackendVersion[]): NotFoundError {
  const readable = list.filter((v) => v.readable).map((v) => v.id);
  const kept = list.find((v) => v.id === token && !v.readable);
  return new NotFoundError(
    kept
      ? `version ${token} of secret '${name}' in ${va.where} was retired and can no longer be read`
      : `secret '${name}' in ${va.where} has no ${token === 'previous' || token === 'current' ? `${token} version` : `version ${token}`}`,
    readable.length > 0
      ? `Readable versions: ${readable.slice(0, 10).join(', ')}${readable.length > 10 ? ', …' : ''}. See \`keystack secret history ${name}\`.`
      : `See \`keystack secret history ${name}\`.`,
  );
}

/** History newest first, at most `limit` entries, with the keys each changed from the one before. */
export async function history(
  va: VersionAccess,
  name: string,
  limit: number,
  writers: (ids: readonly string[]) => Promise<Record<string, string>> | Record<string, string>,
): Promise<HistoryEntry[]> {
  const list = withLabels(await va.list(name));
  // One more than shown: the oldest shown entry's changes are against it.
  const window = list.slice(0, limit + 1);
  const key = randomBytes(32);
  const prints = await Promise.all(
    window.map(async (v) => {
      if (!v.readable) return null;
      const got = await va.read(name, v.id);
      return got ? fingerprints(key, got.secret) : null;
    }),
  );
  const who = await writers(window.slice(0, limit).map((v) => v.id));
  return window.slice(0, limit).map((v, i) => {
    const mine = prints[i] ?? null;
    const before = i + 1 < window.length ? (prints[i + 1] ?? null) : null;
    return {
      version: v.id,
      createdAt: v.createdAt,
      labels: v.labels,
      readable: v.readable && mine !== null,
      keys: mine ? Object.keys(mine).sort() : null,
      changes: mine && before ? compare(before, mine) : null,
      writer: who[v.id] ?? null,
    };
  });
}

/** The keys that differ between versions `a` and `b` (default previous → current). */
export async function diff(va: VersionAccess, name: string, a = 'previous', b = 'current'): Promise<SecretDiff> {
  checkToken(a);
  checkToken(b);
  const [from, to] = await Promise.all([readVersion(va, name, a), readVersion(va, name, b)]);
  const key = randomBytes(32);
  return { name, from: from.id, to: to.id, ...compare(fingerprints(key, from.secret), fingerprints(key, to.secret)) };
}

/** Key → HMAC of its value (and JSON type) under a key that lives for one call. */
function fingerprints(key: Buffer, s: StoredSecret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.values)) {
    out[k] = createHmac('sha256', key)
      .update(`${s.types?.[k] ?? 'string'}\0${v}`, 'utf8')
      .digest('hex');
  }
  return out;
}

function compare(before: Record<string, string>, after: Record<string, string>): KeyChanges {
  const sorted = (xs: string[]) => xs.sort();
  return {
    added: sorted(Object.keys(after).filter((k) => !Object.hasOwn(before, k))),
    removed: sorted(Object.keys(before).filter((k) => !Object.hasOwn(after, k))),
    changed: sorted(Object.keys(after).filter((k) => Object.hasOwn(before, k) && before[k] !== after[k])),
  };
}
