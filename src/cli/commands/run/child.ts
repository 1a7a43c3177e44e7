/**
 * What `keystack run` does once its options are read: everything is resolved before the child
 * starts (all missing secrets reported at once); values go only into the child's environment,
 * never into its argv, keystack's own environment, its output or a file. keystack passes on the
 * child's exit status (128+N for death by signal N).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { resolve } from 'node:path';
import { UsageError, type KeystackError } from '../../../errors.js';
import { ChildStartError } from '../../child-error.js';
import { readTemplate, resolveEnv, validateEnvName, type SecretRequest } from '../../../process/env.js';
import { writeMounts } from '../../../process/mount.js';
import { MaskingStream } from '../../../support/mask-stream.js';
import { processMasker } from '../../../support/masking.js';
import type { CommandContext, CommandResult } from '../../context.js';
import { selectManager } from '../../select.js';
import { FORWARDED_SIGNALS, ISOLATED_ENV } from './passed-on.js';

export interface RunOptions {
  command: string;
  args: readonly string[];
  envFiles?: readonly string[] | undefined;
  /** `NAME` (every key) or `NAME.KEY`. */
  secrets?: readonly string[] | undefined;
  /** `VAR=VALUE`, the value plain text or a whole `{{name.key}}` reference. */
  env?: readonly string[] | undefined;
  /** `VAR=TEMPLATE`: VAR names a 0600 file holding the rendered template while the child runs. */
  mounts?: readonly string[] | undefined;
  prefix?: string | undefined;
  isolated?: boolean | undefined;
  /** Default: on (as `op run` does). */
  mask?: boolean | undefined;
  manager?: string | undefined;
  stack?: string | undefined;
}

export async function runCommand(ctx: CommandContext, o: RunOptions): Promise<CommandResult<{ exitCode: number }>> {
  const secrets = (o.secrets ?? []).map(secretOption);
  const vars = envOptions(o.env ?? []);
  const mounts = mountOptions(o.mounts ?? [], vars);
  const templates: Record<string, string> = {};
  for (const [name, m] of Object.entries(mounts))
    templates[name] = readTemplate(resolve(ctx.cwd, m.template), m.template, '--mount');
  const pick = () => selectManager(ctx, { manager: o.manager, stack: o.stack });
  // A manager named on the command line must exist, even when nothing refers to a secret.
  if (o.manager !== undefined || o.stack !== undefined) await pick();
  const resolved = await resolveEnv(pick, {
    envFiles: (o.envFiles ?? []).map((f) => resolve(ctx.cwd, f)),
    vars,
    secrets,
    prefix: o.prefix,
    templates,
  });
  for (const name of Object.keys(mounts)) {
    if (Object.hasOwn(resolved.env, name))
      throw new UsageError(
        `two values map to the environment variable ${name}: --mount ${name}=… and an env file or -s`,
        'Give the --mount another variable name.',
      );
  }
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.env)) {
    if (v !== undefined && (!o.isolated || (ISOLATED_ENV as readonly string[]).includes(k))) base[k] = v;
  }
  const rendered: Record<string, { template: string; text: string }> = {};
  for (const [name, m] of Object.entries(mounts))
    rendered[name] = { template: m.template, text: resolved.rendered[name] ?? '' };
  // Written only now, once every reference resolved; removed whichever way the child ends.
  const files = Object.keys(rendered).length > 0 ? writeMounts(rendered) : undefined;
  let code: number;
  try {
    code = await runChild(ctx, o.command, o.args, { ...base, ...resolved.env, ...files?.paths }, o.mask ?? true);
  } finally {
    files?.remove();
  }
  return { data: { exitCode: code }, exitCode: code };
}

function startError(command: string, e: unknown): KeystackError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT')
    return new ChildStartError(
      'not_found',
      `command not found: ${command}`,
      command.includes('/') ? 'Check the path.' : 'Check the name, or give its path; it is looked up in PATH.',
    );
  if (code === 'EACCES' || code === 'EISDIR' || code === 'ENOEXEC') {
    return new ChildStartError(
      'not_executable',
      `cannot execute ${command} (${code})`,
      `Check that it is an executable file (\`chmod +x ${command}\`).`,
    );
  }
  if (code === 'E2BIG') {
    return new ChildStartError(
      'other',
      `cannot start ${command}: its environment and arguments are too large for the operating system (E2BIG)`,
      'Inject fewer or smaller values (one variable may hold at most 128 KiB on Linux), or write large values to a file with `keystack inject`.',
    );
  }
  return new ChildStartError(
    'other',
    `cannot start ${command}: ${(e as Error).message}`,
    'Check the command and its arguments.',
  );
}

function runChild(
  ctx: CommandContext,
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  mask: boolean,
): Promise<number> {
  return new Promise((done, fail) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, { env, cwd: ctx.cwd, stdio: mask ? ['inherit', 'pipe', 'pipe'] : 'inherit' });
    } catch (e) {
      fail(startError(command, e));
      return;
    }
    // At a terminal, Ctrl-C also reaches the child straight from the terminal (it shares
    // keystack's process group); the kernel merges a second SIGINT that comes while the first is
    // still pending, which is the usual case.
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    const relays = mask ? [relay(ctx, child.stdout, 'stdout'), relay(ctx, child.stderr, 'stderr')] : [];
    let finished = false;
    const finish = (outcome: () => void) => {
      if (finished) return;
      finished = true;
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      void Promise.all(relays).then(outcome);
    };
    child.on('error', (e) => finish(() => fail(startError(command, e))));
    child.on('close', (code, signal) => finish(() => done(signal ? 128 + constants.signals[signal] : (code ?? 1))));
  });
}

/** Passes a child stream on through the masker; resolves when it ended and all was written. */
function relay(ctx: CommandContext, from: Readable | null, to: 'stdout' | 'stderr'): Promise<void> {
  if (!from) return Promise.resolve();
  const stream = new MaskingStream(processMasker);
  let inFlight = 0;
  const send = (text: string) => {
    if (text === '') return;
    inFlight++;
    from.pause();
    void ctx.out.relay(to, text).then((ok) => {
      // The reader went away (`keystack run -- yes | head -1`): close the child's pipe too, so
      // that it gets EPIPE or SIGPIPE as it would without keystack in between.
      if (!ok) from.destroy();
      if (--inFlight === 0) from.resume();
    });
  };
  return new Promise((ended) => {
    // No timer: the stream holds back only what could still begin a value, and lets it go on the
    // character that rules that out, so a pause in the output never releases half of a value.
    from.on('data', (chunk: Buffer) => send(stream.push(chunk)));
    from.on('end', () => send(stream.flush()));
    // After 'end', or after the pipe was destroyed (which gives no 'end').
    from.on('close', () => {
      const wait = () => (inFlight === 0 ? ended() : setImmediate(wait));
      wait();
    });
  });
}

function secretOption(s: string): SecretRequest {
  const dot = s.indexOf('.');
  if (s === '' || dot === 0 || dot === s.length - 1) {
    throw new UsageError(
      `invalid -s ${JSON.stringify(s)}`,
      'Give a secret name (every key of it) or NAME.KEY (one key), e.g. -s db or -s db.password.',
    );
  }
  return dot === -1 ? { name: s } : { name: s.slice(0, dot), key: s.slice(dot + 1) };
}

function envOptions(pairs: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0)
      throw new UsageError(
        `invalid --env ${JSON.stringify(p.split('=')[0])}`,
        'Give --env VAR={{name.key}} (or VAR=plain text).',
      );
    vars[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return vars;
}

function mountOptions(
  specs: readonly string[],
  vars: Readonly<Record<string, string>>,
): Record<string, { template: string }> {
  const mounts: Record<string, { template: string }> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1)
      throw new UsageError(
        `invalid --mount ${JSON.stringify(spec)}`,
        'Give --mount VAR=TEMPLATE: the variable that gets the file path, then the template file, e.g. --mount KUBECONFIG=kubeconfig.tmpl.',
      );
    const name = spec.slice(0, eq);
    validateEnvName(name, 'in --mount');
    if (Object.hasOwn(mounts, name) || Object.hasOwn(vars, name))
      throw new UsageError(
        `the variable ${name} is given twice (--mount${Object.hasOwn(vars, name) ? ' and --env' : ''})`,
        'Give each --mount its own variable name.',
      );
    mounts[name] = { template: spec.slice(eq + 1) };
  }
  return mounts;
}
