import { UsageError } from '../../../errors.js';
import type { ValidationLevel } from '../../../stack/validation.js';
import { defineCommand, type CommandInput } from '../../define.js';

interface ValidateOptions {
  pipeline?: string;
  level?: string;
}

export default defineCommand({
  path: 'pipeline validate',
  description:
    "check a pipeline module against the current stack: the stack itself, and that every secret (and key) its steps declare in `secrets:` exists; lists each step's declaration (never a value)",
  arguments: [{ spec: '<file>' }],
  options: [
    {
      flags: '-p, --pipeline <export>',
      description: 'which exported pipeline to check (default: the only one, or the default export)',
    },
    {
      flags: '--level <level>',
      description:
        'NONE | SECRET_EXISTS | SECRET_AND_KEY_EXISTS (default: $KEYSTACK_SECRET_VALIDATION_LEVEL, else SECRET_AND_KEY_EXISTS)',
      complete: 'level',
    },
  ],
  examples: [
    'keystack pipeline validate pipeline.ts',
    'keystack pipeline validate pipeline.ts -p training --level SECRET_EXISTS --json',
  ],
  shape: (z) =>
    z.strictObject({
      pipeline: z.string(),
      stack: z.string(),
      valid: z.literal(true),
      level: z.enum(['NONE', 'SECRET_EXISTS', 'SECRET_AND_KEY_EXISTS']),
      steps: z.array(z.strictObject({ step: z.string(), secrets: z.union([z.literal('*'), z.array(z.string())]) })),
    }),
  run: async (ctx, { args, opts }: CommandInput<ValidateOptions>) => {
    const { loadPipelineModule } = await import('../../../pipeline/module.js');
    const { checkDeclarations } = await import('../../../pipeline/declarations.js');
    const { StackRuntime } = await import('../../../stack/runtime.js');
    const { assertValid, validatePipeline, validateRuntime, validationLevelFrom, VALIDATION_LEVELS } = await import(
      '../../../stack/validation.js'
    );
    const { contextStack, stackContext } = await import('../../select.js');
    const ks = ctx.keystack();
    const level: ValidationLevel =
      opts.level === undefined ? validationLevelFrom(ks.env) : levelOption(opts.level, VALIDATION_LEVELS);
    const pick = await stackContext(ctx);
    const stackName = pick.kind === 'active' ? undefined : (await contextStack(ctx, pick)).name;
    const loaded = await loadPipelineModule(args['file'] ?? '', opts.pipeline, ctx.cwd);
    const stack = await StackRuntime.load(ks, { stack: stackName });
    const report = await validateRuntime(stack, level);
    report.problems.push(...validatePipeline(loaded.pipeline, stack));
    const declared = await checkDeclarations(loaded.pipeline, stack, level);
    report.problems.push(...declared.problems);
    assertValid(report);
    const steps = declared.steps.map((s) => ({ step: s.step, secrets: s.secrets }));
    return {
      data: { pipeline: declared.pipeline, stack: stack.name, valid: true as const, level: declared.level, steps },
      text: [
        `Pipeline '${declared.pipeline}' is valid on stack '${stack.name}' (secret validation level ${declared.level}). Its steps read:`,
        ...steps.map((s) => `  ${s.step}: ${declarationText(s.secrets)}`),
      ].join('\n'),
    };
  },
});

/** What a step declares, as `pipeline run` and `pipeline validate` print it. */
export function declarationText(secrets: '*' | readonly string[]): string {
  if (secrets === '*') return "every secret (secrets: '*')";
  return secrets.length === 0 ? 'no secrets' : secrets.join(', ');
}

function levelOption(raw: string, levels: readonly ValidationLevel[]): ValidationLevel {
  const level = levels.find((l) => l === raw.trim().toUpperCase());
  if (!level)
    throw new UsageError(
      `--level must be one of ${levels.join(', ')}, not '${raw}'`,
      'Run `keystack pipeline validate --help` to see the levels.',
    );
  return level;
}
