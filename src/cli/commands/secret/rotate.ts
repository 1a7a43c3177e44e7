import { InUseError, isKeystackError, NotFoundError, UsageError } from '../../../errors.js';
import type { SecretsManager } from '../../../core/manager.js';
import type { AccessEntry } from '../../../stack/provenance-store.js';
import type { CommandContext } from '../../context.js';
import { confirmOrAbort } from '../../confirm.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { table } from '../../output.js';
import { selectManager } from '../../select.js';
import { views } from '../../shapes.js';
import { choice, managerOptions } from './manager-options.js';

interface RotateFlags {
  finish?: boolean;
  force?: boolean;
  yes?: boolean;
  since: string;
  manager?: string;
  stack?: string;
}

/** What each flavor does to a retired version, for the message after `--finish`. */
const RETIRED_AS: Readonly<Record<string, string>> = {
  vault: 'Vault destroyed it',
  gcp: 'Secret Manager disabled it (`gcloud secrets versions enable` brings it back)',
  azure: 'Key Vault disabled it (`az keyvault secret set-attributes --enabled true` brings it back)',
  local: 'the local store deleted it',
};

export default defineCommand({
  path: 'secret rotate',
  description:
    'two-phase rotation: write new values as the current version and keep the old one readable as previous; --finish retires it',
  summary: 'rotate a secret in two phases (new version, then --finish)',
  arguments: [{ spec: '<name>', complete: 'secret' }],
  options: [
    { flags: '--finish', description: 'the second phase: retire the previous version' },
    { flags: '-f, --force', description: 'with --finish: retire it even though runs read it within --since' },
    { flags: '-y, --yes', description: 'with --finish: do not ask for confirmation' },
    {
      flags: '--since <date>',
      description: 'the period whose reads count, for both phases: an ISO date or time, or an age (12h, 7d)',
      default: '7d',
    },
    ...managerOptions,
  ],
  usage: '[options] <name> --KEY=VALUE ... | <name> --finish [-f] [-y]',
  keyValues: true,
  help: `
Phase one (with --KEY=VALUE, --KEY=@- or --KEY=@FILE, as \`secret update\` takes them) merges the
new values into the secret as a new current version: keys not given keep their values. The version
it replaced stays readable as \`previous\` (\`secret get NAME --version previous\`), so consumers still
on the old credential keep working while the new one rolls out. It then lists the runs and steps that read the previous version within
--since, from provenance (\`secret used-by\`). Reads recorded without a version id are listed apart:
they may have read either version.

Phase two (--finish) retires the version labelled previous (the newest readable one before
current): vault destroys it, gcp and azure disable it,
local deletes it. aws refuses (unsupported): Secrets Manager cannot make one version unreadable, so
revoke the old credential where it was issued. --finish refuses (exit 1) while provenance shows a
read of that version (or a read without a version) within --since, unless -f; it refuses when
there is no previous version. Like other destructive commands it asks first, and without a
terminal it needs -y.

Needs a backend that keeps versions (not github). No value is printed.`,
  examples: [
    'keystack secret rotate db --password=@-',
    'keystack secret rotate db --password=@generate:32 --since 3d',
    'keystack secret rotate db --finish',
    'keystack secret rotate db --finish -f -y --json',
  ],
  shape: (z) => {
    const { access } = views(z);
    const reads = {
      name: z.string(),
      manager: z.string(),
      since: z.string(),
      /** Reads recorded with the previous version's id. */
      reads: z.array(access),
      /** Reads recorded without a version id: they may have read either version. */
      unversioned: z.array(access),
    };
    return z.union([
      z.strictObject({ ...reads, version: z.string().nullable(), previous: z.string() }),
      z.strictObject({ ...reads, retired: z.string(), forced: z.boolean() }),
    ]);
  },
  run: async (ctx, { opts, words }: CommandInput<RotateFlags>) => {
    const { nameAndPairs } = await import('./values.js');
    const { sinceTime } = await import('../../../stack/provenance-store.js');
    const { name, pairs } = nameAndPairs(words);
    // Checked before anything is written: a bad --since must not leave a rotation half reported.
    const since = sinceTime(opts.since);
    if (opts.finish) {
      if (pairs.size > 0)
        throw new UsageError(
          '--finish takes no --KEY=VALUE',
          `Rotate first (\`keystack secret rotate ${name} --KEY=VALUE\`), then finish in a separate run.`,
        );
      return finish(ctx, name, since, opts);
    }
    for (const [flag, given] of [
      ['-f/--force', opts.force],
      ['-y/--yes', opts.yes],
    ] as const)
      if (given) throw new UsageError(`${flag} applies only to --finish`);
    if (pairs.size === 0)
      throw new UsageError(
        `nothing to rotate in secret '${name}'`,
        `Give the new values as --KEY=VALUE, --KEY=@- or --KEY=@FILE, or finish a rotation with \`keystack secret rotate ${name} --finish\`.`,
      );
    const { validateSecretKey } = await import('../../../secrets/names.js');
    const { expandValues } = await import('../../input.js');
    const { stdinReader } = await import('./values.js');
    const manager = await selectManager(ctx, choice(opts));
    for (const key of pairs.keys()) validateSecretKey(key, manager.scope.prefix);
    const set = expandValues(pairs, { readStdin: await stdinReader(ctx, pairs) });
    ctx.out.sensitive(Object.values(set));
    const r = await manager.rotate(name, set);
    const found = await readsOf(ctx, manager, name, r.previous, since);
    const lines = [
      `Rotated secret '${name}' in ${manager.where}: ${r.version === null ? 'a new version is' : `version ${r.version} is`} current; version ${r.previous} stays readable as 'previous'.`,
      ...readsText(name, r.previous, since, found),
      `When nothing reads version ${r.previous} any more: keystack secret rotate ${name} --finish`,
    ];
    return {
      data: { name, manager: manager.name, since, ...found, version: r.version, previous: r.previous },
      text: lines.join('\n'),
    };
  },
});

async function finish(ctx: CommandContext, name: string, since: string, opts: RotateFlags) {
  const manager = await selectManager(ctx, choice(opts));
  let previous: string;
  try {
    previous = (await manager.getVersion(name, 'previous')).version;
  } catch (e) {
    if (!(isKeystackError(e) && e.code === 'not_found')) throw e;
    throw new NotFoundError(
      `secret '${name}' in ${manager.where} has no previous version to retire`,
      `Rotate it first: \`keystack secret rotate ${name} --KEY=VALUE\`. See \`keystack secret history ${name}\`.`,
    );
  }
  // aws refuses whatever provenance says: say that first, not after asking for -f.
  if (manager.flavor.capabilities.retireVersions === false) await manager.retireVersion(name, previous);
  const found = await readsOf(ctx, manager, name, previous, since);
  const all = [...found.reads, ...found.unversioned];
  if (all.length > 0 && !opts.force) {
    const shown = all.slice(0, 3).map(readerText).join(', ');
    const more = all.length > 3 ? ` and ${all.length - 3} more` : '';
    const unv = found.unversioned.length > 0 ? ` (${found.unversioned.length} recorded without a version)` : '';
    throw new InUseError(
      `version ${previous} of secret '${name}' was read since ${since}${unv}: ${shown}${more}; retire it anyway with -f, or wait until those consumers have moved`,
      `See every read with \`keystack secret used-by ${name} --since ${since}\`.`,
    );
  }
  if (all.length > 0)
    ctx.out.warn(
      `retiring version ${previous} of secret '${name}' with -f, although provenance has ${countText(all.length)} of it since ${since}`,
    );
  await confirmOrAbort(
    ctx,
    `Retire version ${previous} of secret '${name}' in ${manager.where}? It can no longer be read afterwards.`,
    opts.yes,
    { action: 'retire a version', nothing: 'nothing was retired' },
  );
  await manager.retireVersion(name, previous);
  const how = RETIRED_AS[manager.flavor.name] ?? `the ${manager.flavor.name} flavor retired it`;
  return {
    data: { name, manager: manager.name, since, ...found, retired: previous, forced: all.length > 0 },
    text: `Retired version ${previous} of secret '${name}' in ${manager.where}: ${how}.`,
  };
}

/**
 * The recorded reads through this manager since `since` that may have read `version`: those
 * recorded with its id, and those recorded without any (they may have read either version).
 */
async function readsOf(
  ctx: CommandContext,
  manager: SecretsManager,
  name: string,
  version: string,
  since: string,
): Promise<{ reads: AccessEntry[]; unversioned: AccessEntry[] }> {
  const accesses = await ctx.keystack().provenance.usedBy({ secret: name, since, manager: manager.uuid });
  const reads = accesses.filter((a) => a.outcome === 'read');
  return {
    reads: reads.filter((a) => a.version === version),
    unversioned: reads.filter((a) => a.version === null),
  };
}

function readsText(
  name: string,
  version: string,
  since: string,
  found: { reads: AccessEntry[]; unversioned: AccessEntry[] },
): string[] {
  const rows = (list: readonly AccessEntry[]) =>
    table(
      ['RUN', 'PIPELINE', 'STEP', 'AT', 'KEYS'],
      list.map((a) => [a.runId.slice(0, 8), a.pipeline, a.step ?? a.component ?? '', a.at, a.keys.join(', ')]),
    );
  const out =
    found.reads.length === 0
      ? [`No recorded run read version ${version} since ${since}.`]
      : [`Runs that read version ${version} since ${since} (newest first):`, rows(found.reads)];
  if (found.unversioned.length > 0)
    out.push(
      `${countText(found.unversioned.length)} of '${name}' since ${since} carry no version id, so they may have read either version:`,
      rows(found.unversioned),
    );
  return out;
}

function readerText(a: AccessEntry): string {
  return `${a.pipeline}/${a.step ?? a.component ?? '?'} (run ${a.runId.slice(0, 8)}${a.version === null ? ', no version' : ''})`;
}

function countText(n: number): string {
  return `${n} recorded read${n === 1 ? '' : 's'}`;
}
