/**
 * Command-line wiring for stack components, stack secrets and pipelines (kept out of main.ts so
 * that the command table there stays short).
 */
import type { Command } from 'commander';
import type { StackComponentType } from '../stack/components.js';
import type { CommandContext, CommandResult } from './context.js';
import * as component from './commands/component.js';
import * as pipeline from './commands/pipeline.js';
import * as stackSecrets from './commands/stack-secrets.js';

type Runner = (fn: () => Promise<CommandResult>) => () => Promise<void>;

/** A repeatable option's values, in order. */
const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

const GROUPS: [StackComponentType, string, string][] = [
  ['orchestrator', 'orchestrator', 'orchestrators: where pipeline steps run'],
  ['artifact_store', 'artifact-store', 'artifact stores: where step outputs are kept'],
  ['container_registry', 'container-registry', 'container registries and their credentials'],
  ['step_operator', 'step-operator', 'step operators: where the steps that name one run (a stack may have several)'],
];

export function addComponentCommands(program: Command, stack: Command, ctx: CommandContext, run: Runner): void {
  for (const [type, label, description] of GROUPS) {
    const g = program.command(label).description(description);
    g.command('register')
      .description(`register a ${label} (config as --KEY=VALUE; string fields may be secret references '{{name.key}}')`)
      .argument('<name>')
      .requiredOption('-f, --flavor <flavor>', `flavor (see \`keystack ${label} flavor list\`)`)
      .allowUnknownOption()
      .allowExcessArguments()
      .action((_n, o: { flavor: string }, cmd: Command) =>
        run(() => component.componentRegister(ctx, type, { args: cmd.args, flavor: o.flavor }))(),
      );
    g.command('list')
      .description(`list ${label}s (* = in the active stack)`)
      .action(() => run(() => component.componentList(ctx, type))());
    g.command('describe')
      .description(`show a ${label}'s config; references are shown as text (default: the active stack's)`)
      .argument('[name]')
      .action((name?: string) => run(() => component.componentDescribe(ctx, type, { name }))());
    g.command('update')
      .description(`change a ${label}'s config: --KEY=VALUE, or --KEY= to remove a field`)
      .argument('<name>')
      .allowUnknownOption()
      .allowExcessArguments()
      .action((_n, _o, cmd: Command) => run(() => component.componentUpdate(ctx, type, { args: cmd.args }))());
    g.command('delete')
      .description(`delete a ${label} (refused while a stack uses it)`)
      .argument('<name>')
      .option('-y, --yes', 'do not ask for confirmation')
      .action((name: string, o: { yes?: boolean }) =>
        run(() => component.componentDelete(ctx, type, { name, yes: o.yes }))(),
      );
    const fl = g.command('flavor').description(`${label} flavors`);
    fl.command('list')
      .description('list flavors and their config fields')
      .action(() => run(() => component.componentFlavorList(ctx, type))());
    fl.command('describe')
      .description("show a flavor's config fields")
      .argument('<flavor>')
      .action((flavor: string) => run(() => component.componentFlavorDescribe(ctx, type, { flavor }))());
  }

  stack
    .command('validate')
    .description('check a stack (default: the active one): components, and that every referenced secret exists')
    .argument('[name]')
    .option(
      '--level <level>',
      'NONE | SECRET_EXISTS | SECRET_AND_KEY_EXISTS (default: $KEYSTACK_SECRET_VALIDATION_LEVEL, else SECRET_AND_KEY_EXISTS)',
    )
    .action((name: string | undefined, o: { level?: string }) =>
      run(() => stackSecrets.stackValidate(ctx, { name, level: o.level }))(),
    );
  stack
    .command('register-secrets')
    .description('register the secrets a stack references: hidden prompts, or --values/--env-file for CI')
    .argument('[name]')
    .option('--skip-existing', 'do not ask for keys that already have a value')
    .option('--values <file>', 'JSON file: {"SECRET": {"KEY": "VALUE"}} or {"SECRET.KEY": "VALUE"}')
    .option('--env-file <file>', '.env file with SECRET.KEY=VALUE lines')
    .action((name: string | undefined, o: { skipExisting?: boolean; values?: string; envFile?: string }) =>
      run(() =>
        stackSecrets.stackRegisterSecrets(ctx, {
          name,
          skipExisting: o.skipExisting,
          values: o.values,
          envFile: o.envFile,
        }),
      )(),
    );

  const p = program.command('pipeline').description('run TypeScript pipelines and inspect past runs');
  p.command('run')
    .description('run a pipeline module (.ts/.js) on the active stack')
    .argument('<file>')
    .option('-p, --pipeline <export>', 'which exported pipeline to run (default: the only one, or the default export)')
    .option('--no-cache', 'run every step, ignoring cached results')
    .option(
      '--detach',
      'remote (bullmq) stacks: return once the run is enqueued; follow it with `pipeline runs describe RUN`',
    )
    .option(
      '--code-root <dir>',
      'remote (bullmq) stacks: the directory workers load the module from, relative to theirs (default: $KEYSTACK_CODE_ROOT, else the current directory)',
    )
    .option(
      '--trust-worker-key <file>',
      'remote (bullmq) stacks: a file with a worker public key whose step results this run accepts; repeatable (also: `keystack keys trust`, $KEYSTACK_TRUSTED_WORKER_KEYS)',
      collect,
    )
    .action(
      (
        file: string,
        o: { pipeline?: string; cache: boolean; detach?: boolean; codeRoot?: string; trustWorkerKey?: string[] },
      ) =>
        run(() =>
          pipeline.pipelineRun(ctx, {
            file,
            exportName: o.pipeline,
            noCache: !o.cache,
            detach: o.detach,
            codeRoot: o.codeRoot,
            trustWorkerKeys: o.trustWorkerKey,
          }),
        )(),
    );
  const runs = p.command('runs').description('past pipeline runs');
  runs
    .command('list')
    .description('list runs, newest first')
    .option('-n, --limit <n>', 'how many', '20')
    .action((o: { limit: string }) => run(() => pipeline.runsList(ctx, { limit: o.limit }))());
  runs
    .command('describe')
    .description("show a run's steps (an id or a unique prefix of one)")
    .argument('<run>')
    .action((id: string) => run(() => pipeline.runsDescribe(ctx, { id }))());
  program
    .command('worker')
    .summary('run the steps of remote (bullmq) stacks: take step jobs from Redis until SIGTERM')
    .description(
      [
        'Run the steps of remote (bullmq) stacks: take step jobs from Redis until SIGTERM or SIGINT, then finish the current steps and exit 0.',
        '',
        "A job runs only if it is signed by a client key this worker trusts (--trust-key, $KEYSTACK_WORKER_TRUSTED_KEYS, `keystack keys trust --role client`), its run deadline has not passed, and this worker has not run that attempt of the step before. Anything else is refused before the job's stack is built. With no trusted client key the worker does not start.",
        '',
        "The worker's credentials go only to a secrets manager or artifact store whose location --allow-manager / --allow-artifact-store allow; for a kind with no such flag, only to a component registered in this worker's config store with the same UUID and location. Local-only components are refused.",
        '',
        "Each step result is signed with this worker's key (`keystack keys show-public --role worker`); the client records only results signed by a worker key it trusts.",
        '',
        "Not prevented: whoever can write to Redis can still delete, delay or reorder jobs, and replay a signed step to another worker of its queue before the run's deadline; whoever can read it sees the stack configs (references as text), step parameters and output URIs, never a value read from a secrets manager. See docs/remote-stacks.md.",
      ].join('\n'),
    )
    .option(
      '--redis-url <url>',
      "the orchestrator's Redis (default: $KEYSTACK_REDIS_URL, which keeps the password out of the process list)",
    )
    .option('-q, --queue <name>', 'a queue to serve, repeatable (default: keystack)', collect)
    .option('--concurrency <n>', 'steps run at once', '1')
    .option('--code-root <dir>', 'where pipeline modules are loaded from (default: the current directory)')
    .option('--name <name>', 'the worker id recorded for its steps (default: HOST:PID)')
    .option(
      '--trust-key <file>',
      'a file with a client public key (`keystack keys show-public` on the client) whose jobs this worker runs; repeatable (also: $KEYSTACK_WORKER_TRUSTED_KEYS, `keystack keys trust --role client`)',
      collect,
    )
    .option(
      '--allow-manager <spec>',
      "FLAVOR:FIELD=VALUE,... a secrets-manager location this worker's credentials may go to, e.g. vault:url=https://vault:8200; repeatable (default: only managers registered on this worker, matched by UUID)",
      collect,
    )
    .option(
      '--allow-artifact-store <spec>',
      'FLAVOR:FIELD=VALUE,... an artifact-store location, e.g. s3:path=s3://bucket/runs,region=eu-west-1; repeatable (default: only stores registered on this worker)',
      collect,
    )
    .action(
      (o: {
        redisUrl?: string;
        queue?: string[];
        concurrency: string;
        codeRoot?: string;
        name?: string;
        trustKey?: string[];
        allowManager?: string[];
        allowArtifactStore?: string[];
      }) => run(async () => (await import('./commands/worker.js')).worker(ctx, o))(),
    );
  // The step process of the local_process orchestrator: not for people.
  p.command('__step', { hidden: true })
    .argument('<run>')
    .argument('<step>')
    .action((runId: string, stepId: string) => run(() => pipeline.pipelineStepWorker(ctx, { runId, stepId }))());
}
