// A value read in one step and thrown, in any common form, by a later step is never in the CLI
// output (text and --json) nor in the stored run history, on both local orchestrators: the leak
// guard fails the step as a leak (code secret_leak) for every form it knows, and what it does not
// know (a fragment of the value quoted by JSON.parse) is masked.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { cli, tempEnv, type CliEnv } from '../support/cli.js';
import { FRAGMENT_LENGTH, MIN_MASK_LENGTH } from '../../src/support/masking.js';
import { LEAK_FORMS, leakedForm } from '../pipeline/fixtures/leak-pipeline.js';

const FIXTURE = resolve('test/pipeline/fixtures/leak-pipeline.ts');
// A quote, a backslash, characters that URL- and base64url-encoding change, and several lines.
const VALUE = 'tok"en\\with/slash+plus?&= ü-0123456789~~>?\nsecond-line-of-the-key\n  third line ';

/** Every form of the value that must not appear in output. */
function forbidden(): string[] {
  const lines = VALUE.split('\n')
    .flatMap((l) => [l, l.trim()])
    .filter((l) => l.length >= MIN_MASK_LENGTH);
  return [
    ...new Set([
      VALUE,
      ...lines,
      VALUE.slice(0, FRAGMENT_LENGTH),
      ...LEAK_FORMS.filter((f) => f !== 'json_parse').map((f) => leakedForm(f, VALUE)),
    ]),
  ];
}

function expectNoValue(what: string, text: string): void {
  for (const f of forbidden()) expect(text, `${what} shows ${JSON.stringify(f)}`).not.toContain(f);
}

function expectMasked(what: string, text: string): void {
  expectNoValue(what, text);
  expect(text, what).toContain('***');
}

function setup(orchestrator: 'local' | 'local_process'): CliEnv {
  const e = tempEnv();
  if (orchestrator === 'local_process') {
    expect(cli(e, ['orchestrator', 'register', 'proc', '-f', 'local_process']).status).toBe(0);
    expect(cli(e, ['stack', 'register', 'p', '-o', 'proc', '-x', 'default', '--set']).status).toBe(0);
  }
  expect(cli(e, ['secret', 'register', 'leaky', '--value=@-'], { input: VALUE }).status).toBe(0);
  return e;
}

describe.each(['local', 'local_process'] as const)('a step error on the %s orchestrator', (orchestrator) => {
  const e = setup(orchestrator);

  it('the forms under test are all different', () => {
    const forms = LEAK_FORMS.map((f) => leakedForm(f, VALUE));
    expect(new Set(forms).size).toBe(forms.length);
    expect(leakedForm('json_parse', VALUE)).toContain(VALUE.slice(0, FRAGMENT_LENGTH));
  });

  it.each(LEAK_FORMS)('keeps the value thrown as %s out of the output and the run history', (form) => {
    const env = { LEAK_FORM: form };
    // The guard knows every form but a quoted fragment: those fail as leaks, the fragment is masked.
    const leak = form !== 'json_parse';
    const check = leak ? expectNoValue : expectMasked;
    const text = cli(e, ['pipeline', 'run', FIXTURE], { env });
    expect(text.status, text.stderr).toBe(1);
    expect(text.stderr).toContain(
      leak
        ? "step 'leak' failed: secret_leak: step 'leak' would store the value of secret 'leaky' key 'value'"
        : "step 'leak' failed: SyntaxError: ",
    );
    check('pipeline run', text.stdout + text.stderr);

    const json = cli(e, ['--json', 'pipeline', 'run', FIXTURE], { env });
    expect(json.status, json.stderr).toBe(1);
    const err = JSON.parse(json.stdout) as { error: { code: string; message: string } };
    expect(err.error.code).toBe(leak ? 'secret_leak' : 'step_failed');
    check('pipeline run --json', json.stdout + json.stderr);
    check('pipeline run --json (decoded)', err.error.message);

    const id =
      (JSON.parse(cli(e, ['--json', 'pipeline', 'runs', 'list']).stdout) as { runs: { id: string }[] }).runs[0]?.id ??
      '';
    const described = cli(e, ['--json', 'pipeline', 'runs', 'describe', id]);
    expect(described.status, described.stderr).toBe(0);
    const run = JSON.parse(described.stdout) as {
      run: { status: string; error: string };
      steps: { step: string; status: string; error: string | null }[];
    };
    expect(run.run.status).toBe('failed');
    expect(run.steps.map((s) => [s.step, s.status])).toEqual([
      ['read_secret', 'completed'],
      ['leak', 'failed'],
    ]);
    check('runs describe --json', described.stdout);
    check('stored step error', run.steps[1]?.error ?? '');
    check('stored run error', run.run.error);
    check('runs describe', cli(e, ['pipeline', 'runs', 'describe', id]).stdout);
    if (leak) expect(run.steps[1]?.error).toMatch(/^secret_leak: /);
  });
});

describe.each(['local', 'local_process'] as const)('a step on the %s orchestrator', (orchestrator) => {
  const e = setup(orchestrator);
  it.each(LEAK_FORMS.filter((f) => f !== 'json_parse'))('masks what the step prints (%s)', (form) => {
    const r = cli(e, ['pipeline', 'run', FIXTURE], { env: { LEAK_FORM: form, LEAK_LOG: '1' } });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toContain('step log: ***');
    expectMasked('step output', r.stdout + r.stderr);
  });
});
