import { dirname, resolve } from 'node:path';
import type { WorkerLauncher } from '../../../pipeline/runner.js';
import type { CommandContext } from '../../context.js';
import { defineCommand, type CommandInput } from '../../define.js';
import { views } from '../../shapes.js';
import { formatDuration, stepView } from './format.js';
import { declarationText } from './validate.js';
import { stepChildLauncher } from '../../../pipeline/step-host/launcher.js';
import { UsageError } from '../../../errors.js';

interface RunOptions {
  pipeline?: string;
  cache: boolean;
  detach?: boolean;
  codeRoot?: string;
  trustWorkerKey?: string[];
  leakMinLength?: string;
}

export default defineCommand({
  path: 'pipeline run',
  description:
    'run a pipeline module (.ts/.js) on the current stack ($KEYSTACK_STACK, keystack.toml, else the active one)',
  arguments: [{ spec: '<file>' }],
  options: [
    {
      flags: '-p, --pipeline <export>',
      description: 'which exported pipeline to run (default: the only one, or the default export)',
    },
    { flags: '--no-cache', description: 'run every step, ignoring cached results' },
    {
      flags: '--detach',
      description:
        'remote (bullmq) stacks: return once the run is enqueued; follow it with `pipeline runs describe RUN`',
    },
    {
      flags: '--code-root <dir>',
      description:
        'remote (bullmq) stacks: the directory workers load the module from, relative to theirs (default: $KEYSTACK_CODE_ROOT, else the current directory)',
    },
    {
      flags: '--trust-worker-key <file>',
      description:
        'remote (bullmq) stacks: a file with a worker public key whose step results this run accepts; repeatable (also: `keystack keys trust`, $KEYSTACK_TRUSTED_WORKER_KEYS)',
      repeatable: 'optional',
    },
    {
      flags: '--leak-min-length <n>',
      description:
        "the leak guard skips delivered values shorter than N characters (default 8; remote workers apply the run's setting; see docs/leak-guard.md)",
    },
  ],
  examples: [
    'keystack pipeline run pipeline.ts',
    'keystack pipeline run pipeline.ts -p training --no-cache',
    'keystack pipeline run pipeline.ts --detach',
    'keystack pipeline run pipeline.ts --trust-worker-key gpu-box-1.pub   # remote: also record results this worker key signed',
    'keystack pipeline run pipeline.ts --leak-min-length 12   # the leak guard skips values under 12 characters',
  ],
  shape: (z) => views(z).runWithSteps,
  run: async (ctx, { args, opts }: CommandInput<RunOptions>) => {
    const { withStdoutTo } = await import('../../../pipeline/runner.js');
    const file = args['file'] ?? '';
    // With --json, stdout carries one JSON document: what the module and in-process steps print
    // (console.log or process.stdout.write) goes to stderr.
    return ctx.out.json ? withStdoutTo(process.stderr, () => run(ctx, file, opts)) : run(ctx, file, opts);
  },
});

async function run(ctx: CommandContext, file: string, o: RunOptions) {
  const { loadPipelineModule } = await import('../../../pipeline/module.js');
  const { runPipeline } = await import('../../../pipeline/runner.js');
  const { contextStack, stackContext } = await import('../../select.js');
  const ks = ctx.keystack();
  const pick = await stackContext(ctx);
  const stack = pick.kind === 'active' ? undefined : (await contextStack(ctx, pick)).name;
  const loaded = await loadPipelineModule(file, o.pipeline, ctx.cwd);
  // What each step may read, before anything runs (names only, never a value).
  const { declaredSecrets } = await import('../../../pipeline/declarations.js');
  for (const n of loaded.pipeline.graph())
    ctx.out.note(`  ${n.id} reads: ${declarationText(declaredSecrets(n.step.declaration))}`);
  const summary = await runPipeline(ks, loaded.pipeline, {
    stack,
    module: { path: loaded.module, exportName: loaded.exportName },
    noCache: !o.cache,
    leakMinLength: o.leakMinLength === undefined ? undefined : leakMinLength(o.leakMinLength),
    detach: o.detach,
    codeRoot: o.codeRoot === undefined ? undefined : resolve(ctx.cwd, o.codeRoot),
    trustWorkerKeys: o.trustWorkerKey?.map((f) => resolve(ctx.cwd, f)),
    worker: selfWorker(),
    onWarning: (m) => ctx.out.warn(m),
    onRunStart: (run, stack) =>
      ctx.out.note(
        `Running pipeline '${run.pipeline}' on stack '${stack.name}' (orchestrator '${stack.orchestrator.name}', flavor ${stack.orchestrator.flavor.name}); run ${run.id}`,
      ),
    onStep: (e) => {
      if (e.status === 'running') return;
      if (e.status === 'pending') return;
      ctx.out.note(
        `  ${e.status === 'failed' ? '✗' : '✓'} ${e.stepId}: ${e.status}${e.durationMs === undefined ? '' : ` in ${formatDuration(e.durationMs)}`}${e.worker === undefined ? '' : ` on ${e.worker}`}${e.error === undefined || e.status !== 'failed' ? '' : `: ${e.error}`}`,
      );
    },
  });
  const data = { run: summary.run, steps: summary.steps.map(stepView) };
  if (o.detach && summary.run.status === 'running') {
    return {
      data,
      text: `Pipeline '${summary.run.pipeline}' enqueued (run ${summary.run.id}); follow it with \`keystack pipeline runs describe ${summary.run.id.slice(0, 8)}\`.`,
    };
  }
  return { data, text: `Pipeline '${summary.run.pipeline}' completed (run ${summary.run.id}).` };
}

/** `--leak-min-length`: a whole number of at least 1 (below 4 the matcher still needs 4 bytes). */
function leakMinLength(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  // The same bounds as leak-guard.ts isLeakMinLength (not imported: it loads the matcher).
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
    throw new UsageError(
      `--leak-min-length must be a whole number of at least 1, not ${JSON.stringify(text)}`,
      'For example --leak-min-length 12; the default is 8.',
    );
  return n;
}

declare const __filename: string | undefined;

/** When running from the CLI bundle, step processes run the same bundle. */
function selfWorker(): WorkerLauncher | undefined {
  const self = typeof __filename === 'string' ? __filename : undefined;
  return self && self.endsWith('.cjs') ? stepChildLauncher(dirname(self)) : undefined;
}
