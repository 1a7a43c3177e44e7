import { UsageError } from '../../../errors.js';
import type { ValidationLevel } from '../../../stack/validation.js';
import { listText } from '../../output.js';
import { defineCommand, type CommandInput } from '../../define.js';

export default defineCommand({
  path: 'stack validate',
  description: 'check a stack (default: the active one): components, and that every referenced secret exists',
  arguments: [{ spec: '[name]', complete: 'stack' }],
  options: [
    {
      flags: '--level <level>',
      description:
        'NONE | SECRET_EXISTS | SECRET_AND_KEY_EXISTS (default: $KEYSTACK_SECRET_VALIDATION_LEVEL, else SECRET_AND_KEY_EXISTS)',
      complete: 'level',
    },
  ],
  examples: ['keystack stack validate', 'keystack stack validate prod --level SECRET_EXISTS'],
  shape: (z) =>
    z.strictObject({
      stack: z.string(),
      valid: z.literal(true),
      level: z.enum(['NONE', 'SECRET_EXISTS', 'SECRET_AND_KEY_EXISTS']),
      references: z.array(z.string()),
    }),
  run: async (ctx, { args, opts }: CommandInput<{ level?: string }>) => {
    const { formatReference } = await import('../../../secrets/reference.js');
    const { StackRuntime } = await import('../../../stack/runtime.js');
    const { assertValid, validateRuntime, validationLevelFrom, VALIDATION_LEVELS } = await import(
      '../../../stack/validation.js'
    );
    const ks = ctx.keystack();
    const level: ValidationLevel =
      opts.level === undefined ? validationLevelFrom(ks.env) : levelOption(opts.level, VALIDATION_LEVELS);
    const stack = await StackRuntime.load(ks, { stack: args['name'] });
    const report = await validateRuntime(stack, level);
    assertValid(report);
    const refs = report.references.map(formatReference);
    return {
      data: { stack: report.stack, valid: true as const, level, references: refs },
      text: `Stack '${report.stack}' is valid (secret validation level ${level}; ${refs.length} secret reference${refs.length === 1 ? '' : 's'}${refs.length ? `: ${listText(refs)}` : ''}).`,
    };
  },
});

/** `--level` is a command-line option: a bad one is a usage error (exit 2), not a config error. */
function levelOption(raw: string, levels: readonly ValidationLevel[]): ValidationLevel {
  const level = levels.find((l) => l === raw.trim().toUpperCase());
  if (!level)
    throw new UsageError(
      `--level must be one of ${levels.join(', ')}, not '${raw}'`,
      'Run `keystack stack validate --help` to see the levels.',
    );
  return level;
}
