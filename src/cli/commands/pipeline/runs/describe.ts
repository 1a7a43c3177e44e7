import { table } from '../../../output.js';
import { defineCommand, type CommandInput } from '../../../define.js';
import { views } from '../../../shapes.js';
import { accessRows, ACCESS_HEADERS, duration, formatDuration, stepView, upstream } from '../format.js';

export default defineCommand({
  path: 'pipeline runs describe',
  description: "show a run's steps, and per step the secrets it declared against those it read",
  summary: "show a run's steps and their secret reads",
  arguments: [{ spec: '<run>', description: 'a run id or a unique prefix of one' }],
  help: [
    'Under the steps, each step is listed with its `secrets:` declaration and every access it made:',
    'the secret and keys, the backend version read, and the outcome (read, denied, not_found,',
    'error). Accesses made for the run outside a step (component references, the orchestrator)',
    'follow. A step whose output the leak guard lets hold secret values (`allowSecretOutputs`)',
    'is listed last, with what it allows. No value, nor any fingerprint of one, is shown.',
  ].join('\n'),
  examples: ['keystack pipeline runs describe 3f2a', 'keystack pipeline runs describe 3f2a --json'],
  shape: (z) => views(z).runDescribed,
  run: async (ctx, { args }: CommandInput) => {
    const { RunStore } = await import('../../../../pipeline/run-store.js');
    const { refresh } = await import('./refresh.js');
    const id = args['run'] ?? '';
    const ks = ctx.keystack();
    const store = new RunStore(ks.store);
    await refresh(ctx, store.getRun(id).id);
    const run = store.getRun(id);
    const steps = store.steps(run.id);
    const accesses = await ks.provenance.run(run.id);
    const remote = steps.some((s) => s.worker !== null);
    const rows = steps.map((s) => [
      s.stepId,
      s.status,
      s.durationMs === null ? '' : formatDuration(s.durationMs),
      s.cachedFrom ? `cached from ${s.cachedFrom.slice(0, 8)}` : s.cacheEnabled ? 'cache on' : 'cache off',
      ...(remote ? [s.worker ?? ''] : []),
      s.error ?? '',
    ]);
    const head = `Run ${run.id}: pipeline '${run.pipeline}', ${run.status}, stack '${run.stack}', orchestrator '${run.orchestrator}', started ${run.startedAt}${run.endedAt ? `, took ${duration(run)}` : ''}${run.module ? `\nModule: ${run.module}` : ''}`;
    const ofStep = (stepId: string) => accesses.filter((a) => a.step === stepId);
    const secretRows = steps.flatMap((s) => {
      const declared = s.secrets === null ? '(none)' : s.secrets === '*' ? "'*' (any)" : s.secrets.join(', ');
      const mine = accessRows(ofStep(s.stepId));
      if (mine.length === 0) return [[s.stepId, declared, '(nothing read)', '', '', '', '']];
      return mine.map((r, i) => [i === 0 ? s.stepId : '', i === 0 ? declared : '', ...r]);
    });
    const outside = accesses.filter((a) => a.step === null);
    const outsideRows = outside.map((a) => [a.component ?? 'run', '', ...(accessRows([a])[0] ?? [])]);
    const secrets = table(['STEP', 'DECLARED', ...ACCESS_HEADERS], [...secretRows, ...outsideRows]);
    const allowing = steps.filter((s) => s.allowSecretOutputs.length > 0);
    const allowed =
      allowing.length === 0
        ? ''
        : `\n\nAllowed in outputs (allowSecretOutputs; not checked by the leak guard)\n${table(
            ['STEP', 'ALLOWED'],
            allowing.map((s) => [s.stepId, s.allowSecretOutputs.join(', ')]),
          )}`;
    return {
      data: {
        run,
        steps: steps.map((s) => ({ ...stepView(s), upstream: upstream(s, steps), accesses: ofStep(s.stepId) })),
        accesses: outside,
      },
      text: `${head}\n${table(['STEP', 'STATUS', 'DURATION', 'CACHE', ...(remote ? ['WORKER'] : []), 'ERROR'], rows)}\n\nSecrets\n${secrets}${allowed}`,
    };
  },
});
