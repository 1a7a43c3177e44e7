/**
 * `keystack keys …`: the signing keys of remote runs. A client signs each step it submits and a
 * worker signs each result it returns; each side runs or records only what a key it trusts
 * signed. These commands print this machine's public keys, keep its trust lists, and roll a key
 * over without a moment where the other side refuses it.
 */
import { UsageError } from '../../errors.js';
import {
  activateNextKey, addTrusted, existingKey, listTrusted, nextKey, ownKey, publicKeyArgument, removeTrusted, trustListFile, type KeyRole,
} from '../../pipeline/remote/keys.js';
import { table } from '../output.js';
import type { CommandContext, CommandResult } from '../context.js';

function role(r: string | undefined): KeyRole {
  if (r === undefined || r === 'client') return 'client';
  if (r === 'worker') return 'worker';
  throw new UsageError(`--role must be client or worker, not '${r}'`, 'client: the key that signs runs; worker: the key a worker signs step results with.');
}

export async function keysShowPublic(ctx: CommandContext, o: { role?: string | undefined }): Promise<CommandResult> {
  const r = role(o.role);
  const key = ownKey(ctx.keystack().configDir, r);
  return { data: { role: r, id: key.id, publicKey: key.text, file: key.file }, raw: `${key.text}\n` };
}

export async function keysTrust(ctx: CommandContext, o: { key: string; role?: string | undefined; name?: string | undefined }): Promise<CommandResult> {
  const r = role(o.role ?? 'worker');
  const key = publicKeyArgument(o.key);
  const configDir = ctx.keystack().configDir;
  const added = addTrusted(configDir, r, key, o.name);
  const what = r === 'client' ? 'jobs signed with it run on this worker' : 'step results signed with it are recorded by this client';
  return {
    data: { role: r, id: key.id, added, file: trustListFile(configDir, r) },
    text: added ? `Trusted ${r} key ${key.id}${o.name ? ` (${o.name})` : ''}: ${what}.` : `${r} key ${key.id} was already trusted.`,
  };
}

export async function keysUntrust(ctx: CommandContext, o: { key: string; role?: string | undefined }): Promise<CommandResult> {
  const r = role(o.role ?? 'worker');
  const configDir = ctx.keystack().configDir;
  const removed = removeTrusted(configDir, r, o.key);
  if (!removed) throw new UsageError(`no trusted ${r} key matches '${o.key}'`, `See them with \`keystack keys list\`.`);
  return { data: { role: r, removed: true }, text: `No longer trusting that ${r} key.` };
}

export async function keysList(ctx: CommandContext): Promise<CommandResult> {
  const configDir = ctx.keystack().configDir;
  // Listing creates nothing: a worker machine has no client key until it signs a run.
  const own = (['client', 'worker'] as const).flatMap((r) => {
    const key = existingKey(configDir, r);
    return key ? [{ role: r, id: key.id, next: nextKey(configDir, r, false)?.id ?? null }] : [];
  });
  const trusted = (['client', 'worker'] as const).flatMap((r) => listTrusted(configDir, r).map((k) => ({ role: r, id: k.id, name: k.name })));
  const rows = [
    ...own.map((k) => ['own', k.role, k.id + (k.next ? ` (next: ${k.next})` : ''), '']),
    ...trusted.map((k) => ['trusted', k.role, k.id, k.name ?? '']),
  ];
  return { data: { own, trusted }, text: table(['KIND', 'ROLE', 'KEY', 'NAME'], rows) };
}

export async function keysRotate(ctx: CommandContext, o: { role?: string | undefined; activate?: boolean | undefined }): Promise<CommandResult> {
  const r = role(o.role);
  const configDir = ctx.keystack().configDir;
  const other = r === 'client' ? 'worker' : 'client';
  if (o.activate) {
    const { retired, current } = activateNextKey(configDir, r);
    return {
      data: { role: r, phase: 'activated', id: current.id, publicKey: current.text, retired: retired.id },
      text: `The ${r} key is now ${current.id}; the old key ${retired.id} is kept as ${retired.file}. Once nothing signed with it is in flight, remove it from every ${other}'s trust list (\`keystack keys untrust --role ${r} ${retired.id}\`).`,
    };
  }
  const next = nextKey(configDir, r, true) ?? ownKey(configDir, r);
  return {
    data: { role: r, phase: 'prepared', id: next.id, publicKey: next.text },
    text: `Next ${r} key: ${next.text}\nTrust it on every ${other} (keep the current key trusted too), then run \`keystack keys rotate --role ${r} --activate\`.`,
  };
}
