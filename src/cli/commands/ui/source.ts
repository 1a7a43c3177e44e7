/**
 * The dashboard's data, from the handlers behind the CLI's `--json`: each function runs the
 * command's own definition (stack list, secret history, pipeline runs describe, audit, …) with a
 * silent output and returns its `data`. So the UI shows exactly what `--json` prints, and a change
 * to a command's query reaches both. The two exceptions call the same library function their
 * command calls: the reference check (`validateStack`, behind `stack validate`, which throws where
 * the UI wants the list) and the leaked-value search (`provenance.usedByValue`, behind
 * `secret used-by --value`, which reads the value from stdin or a file instead of a form).
 */
import type { CommandContext, CommandResult } from '../../context.js';
import type { CommandDefinition, CommandInput } from '../../define.js';
import type { Output } from '../../output.js';
import type {
  ComponentItem,
  RunDetail,
  SecretSummary,
  SecretVersion,
  StackItem,
  UiSource,
} from '../../../ui/source.js';
import type { AccessEntry } from '../../../stack/provenance-store.js';
import type { RunRecord } from '../../../pipeline/run-store.js';
import { STACK_COMPONENT_TYPES } from '../../../stack/config-store.js';

/** The command's output while the UI runs it: its result is the page's, its notes go nowhere. */
function silent(out: Output): Output {
  return {
    ...out,
    json: true,
    result: () => undefined,
    raw: () => undefined,
    note: () => undefined,
    relay: () => Promise.resolve(true),
  };
}

// The definitions' types are erased here: each call site says which `--json` document it reads.
type AnyDefinition = CommandDefinition<never>;

export function cliSource(ctx: CommandContext): UiSource {
  const quiet: CommandContext = { ...ctx, out: silent(ctx.out), interactive: false };
  const call = async <T>(
    load: () => Promise<{ default: unknown }>,
    args: Record<string, string | undefined> = {},
    opts: Record<string, unknown> = {},
  ): Promise<T> => {
    const def = (await load()).default as AnyDefinition;
    const input = { args, opts, words: [], root: undefined } as unknown as CommandInput<never>;
    const r = (await def.run(quiet, input)) as CommandResult<T>;
    return r.data;
  };
  const ks = () => ctx.keystack();
  const source: UiSource = {
    stacks: async () => (await call<{ stacks: StackItem[] }>(() => import('../stack/list.js'))).stacks,
    components: async () => {
      const { default: list } = await import('../component/list.js');
      const lists = await Promise.all(
        STACK_COMPONENT_TYPES.map((t) => call<{ components: ComponentItem[] }>(async () => ({ default: list(t) }))),
      );
      return lists.flatMap((l) => l.components);
    },
    checkStack: async (stack) => {
      const { validateStack } = await import('../../../stack/validation.js');
      const { formatReference } = await import('../../../secrets/reference.js');
      const report = await validateStack(ks(), { stack });
      const missing = new Map(report.missing.map((m) => [formatReference(m), m.reason]));
      return {
        stack: report.stack,
        level: report.level,
        problems: report.problems,
        references: report.references.map((r) => {
          const ref = formatReference(r);
          return {
            reference: ref,
            status: missing.get(ref) ?? (report.level === 'NONE' ? ('not_checked' as const) : ('exists' as const)),
          };
        }),
      };
    },
    managers: async () =>
      (
        await call<{
          managers: { name: string; id: string; flavor: string; active: boolean; config: Record<string, unknown> }[];
        }>(() => import('../secrets-manager/list.js'))
      ).managers,
    secrets: async (manager) =>
      (await call<{ secrets: string[] }>(() => import('../secret/list.js'), {}, { manager, format: 'json' })).secrets,
    describeSecret: (manager, name) =>
      call<SecretSummary>(() => import('../secret/describe.js'), { name }, { manager }),
    history: async (manager, name) =>
      (
        await call<{ versions: SecretVersion[] }>(
          () => import('../secret/history.js'),
          { name },
          { manager, limit: '50' },
        )
      ).versions,
    usedBy: async (secret, manager) =>
      (await call<{ accesses: AccessEntry[] }>(() => import('../secret/used-by.js'), { name: secret }, { manager }))
        .accesses,
    usedByValue: async (value, manager) => {
      const { selectManager } = await import('../../select.js');
      const m = await selectManager(quiet, { manager, stack: undefined });
      return ks().provenance.usedByValue(value, { manager: m.uuid });
    },
    runs: async (limit) =>
      (await call<{ runs: RunRecord[] }>(() => import('../pipeline/runs/list.js'), {}, { limit: String(limit) })).runs,
    run: (id) => call<RunDetail>(() => import('../pipeline/runs/describe.js'), { run: id }),
    audit: async (limit) =>
      (await call<{ accesses: AccessEntry[] }>(() => import('../audit/index.js'), {}, { limit: String(limit) }))
        .accesses,
  };
  return source;
}
