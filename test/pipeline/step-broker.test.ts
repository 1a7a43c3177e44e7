/** The parent's half of a step capability, without a child: what it answers and what it records. */
import { describe, expect, it } from 'vitest';
import { CollectingSink } from '../../src/core/provenance.js';
import { parseDeclaration, SecretGuard } from '../../src/pipeline/access.js';
import { createBroker } from '../../src/pipeline/step-host/broker.js';
import { scrubbedEnv, declaredCredentialVariables } from '../../src/pipeline/step-host/env.js';
import type { SecretsManager } from '../../src/core/manager.js';
import { childContext } from '../../src/pipeline/step-host/context.js';
import {
  isSecretRequest,
  isStart,
  type ManagerOp,
  type ManagerView,
  type SecretRequest,
} from '../../src/pipeline/step-host/protocol.js';
import { pipeline, step, type StepContext, type StepNode } from '../../src/pipeline/step.js';

const reader = { runId: 'run-1', pipeline: 'p', step: 's1', component: undefined, attempt: 2, worker: 'w1', host: 'h' };
const manager = { uuid: 'u', name: 'm', flavor: 'local' };

function broker(stepManager?: () => SecretsManager) {
  const sink = new CollectingSink();
  const guard = new SecretGuard({
    reader,
    declaration: parseDeclaration('s1', ['db.password']),
    manager,
    where: 'm',
    sink,
    fingerprint: (v) => `fp(${v.length})`,
    read: async (name) =>
      name === 'db'
        ? { secret: { name, schema: 'any', values: { password: 'pw-1', user: 'u-1' } }, version: '3' }
        : null,
  });
  return { b: createBroker({ reader, guard, sink, manager, stepManager }), sink };
}

const ask = (token: string, over: Partial<SecretRequest> = {}): SecretRequest => ({
  kind: 'keystack.step.secret',
  id: 1,
  token,
  runId: 'run-1',
  stepId: 's1',
  attempt: 2,
  name: 'db',
  fresh: false,
  ...over,
});

describe('the step broker', () => {
  it('answers its own capability with the declared keys only', async () => {
    const { b, sink } = broker();
    const reply = await b.answer(ask(b.token));
    expect(reply.secret?.values).toEqual({ password: 'pw-1' });
    expect(sink.drain().map((r) => [r.outcome, r.keys, r.version, r.worker])).toEqual([
      ['read', ['password'], '3', 'w1'],
    ]);
  });

  it.each([
    ['another run', { runId: 'run-2' }],
    ['another step', { stepId: 's2' }],
    ['another attempt', { attempt: 1 }],
    ['a guessed token', { token: 'x'.repeat(43) }],
  ])('denies and records a request for %s', async (_what, over) => {
    const { b, sink } = broker();
    const reply = await b.answer(ask(b.token, over));
    expect(reply.secret).toBeUndefined();
    expect(reply.error?.code).toBe('denied');
    expect(sink.drain().map((r) => [r.outcome, r.errorCode, r.step, r.runId])).toEqual([
      ['denied', 'capability', 's1', 'run-1'],
    ]);
  });

  it('denies its own token once the attempt has ended (a replay)', async () => {
    const { b, sink } = broker();
    const token = b.token;
    b.end();
    expect((await b.answer(ask(token))).error?.code).toBe('denied');
    expect(sink.drain()[0]?.outcome).toBe('denied');
  });

  it('gives each attempt its own token', () => {
    expect(broker().b.token).not.toBe(broker().b.token);
  });

  it('accepts the manager ops a step child has, and still drops a request for any other', () => {
    for (const op of ['get', 'has', 'describe', 'list', 'history', 'diff', 'write']) {
      expect(isSecretRequest(ask('t', { op: op as ManagerOp })), op).toBe(true);
    }
    for (const op of ['getVersion', 'rollback', 'rotate', 'History', '', 42]) {
      expect(isSecretRequest(ask('t', { op: op as ManagerOp })), String(op)).toBe(false);
    }
  });

  it("checks the manager's answers in the start message: a getter's answer is a boolean, the scope its fields", () => {
    const start = (secretsManager: unknown) => ({
      kind: 'keystack.step.start',
      token: 't',
      mask: [],
      module: { path: 'p', exportName: 'default' },
      stack: { name: 's', components: [], ...(secretsManager === undefined ? {} : { secretsManager }) },
    });
    const view = { uuid: 'u', name: 'm', flavor: 'local', where: "secrets manager 'm'" };
    const scope = { scope: 'component', componentUuid: 'u', componentName: 'm', prefix: 'keystack' };
    expect(isStart(start(undefined))).toBe(true);
    expect(isStart(start(view))).toBe(true);
    expect(isStart(start({ ...view, keepsVersions: true, mergesAtomically: false, scope }))).toBe(true);
    for (const bad of [
      { ...view, keepsVersions: 'yes' },
      { ...view, mergesAtomically: 1 },
      { ...view, scope: { ...scope, prefix: 7 } },
      { ...view, scope: 'component' },
      { ...view, uuid: undefined },
      'm',
    ]) {
      expect(isStart(start(bad)), JSON.stringify(bad)).toBe(false);
    }
  });

  it("passes history's { limit } and diff's versions to the step's manager, and nothing else", async () => {
    const calls: unknown[][] = [];
    const stepManager = {
      history: async (...a: unknown[]) => {
        calls.push(['history', ...a]);
        return [];
      },
      diff: async (...a: unknown[]) => {
        calls.push(['diff', ...a]);
        return {};
      },
    } as unknown as SecretsManager;
    const { b } = broker(() => stepManager);
    const answer = async (over: Partial<SecretRequest>) => (await b.answer(ask(b.token, over))).error ?? 'ok';
    expect(await answer({ op: 'history' })).toBe('ok');
    expect(await answer({ op: 'history', args: [null] })).toBe('ok');
    expect(await answer({ op: 'history', args: [{ limit: 2, values: true }] })).toBe('ok');
    // The manager checks the limit's value itself, after the guard, as for an in-process step.
    expect(await answer({ op: 'history', args: [{ limit: 'all' }] })).toBe('ok');
    expect(await answer({ op: 'diff', args: [null, '3'] })).toBe('ok');
    expect(await answer({ op: 'diff', args: ['1'] })).toBe('ok');
    expect(calls).toEqual([
      ['history', 'db', {}],
      ['history', 'db', {}],
      ['history', 'db', { limit: 2 }],
      ['history', 'db', { limit: 'all' }],
      ['diff', 'db', undefined, '3'],
      ['diff', 'db', '1', undefined],
    ]);
    calls.length = 0;
    const bad: Partial<SecretRequest>[] = [
      { op: 'history', args: ['x'] },
      { op: 'history', args: [[5]] },
      { op: 'history', args: [{}, {}] },
      { op: 'diff', args: [1] },
      { op: 'diff', args: [{ v: '1' }] },
      { op: 'diff', args: ['1', '2', '3'] },
    ];
    for (const request of bad) {
      expect(await answer(request), JSON.stringify(request)).toMatchObject({ code: 'input' });
    }
    expect(calls).toEqual([]);
  });
});

describe('the step environment', () => {
  it('drops every credential variable, keeps the rest, and marks the process', () => {
    const env = scrubbedEnv(
      {
        PATH: '/bin',
        HOME: '/h',
        VAULT_TOKEN: 'a',
        BAO_ROLE_ID: 'b',
        AWS_PROFILE: 'c',
        AZURE_CLIENT_SECRET: 'd',
        GOOGLE_APPLICATION_CREDENTIALS: 'e',
        CLOUDSDK_AUTH_ACCESS_TOKEN: 'f',
        GITHUB_TOKEN: 'g',
        KEYSTACK_LOCAL_KEY: 'h',
        KEYSTACK_PASSPHRASE: 'i',
        KEYSTACK_REDIS_URL: 'j',
        KEYSTACK_PROVENANCE_KEY: 'k',
        MY_GH: 'l',
      },
      ['MY_GH'],
    );
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', KEYSTACK_STEP_PROCESS: '1' });
  });

  it('takes the variables that manager configs name (token_env) and their defaults', () => {
    expect(
      declaredCredentialVariables(
        [{ token_env: 'TEAM_GH_TOKEN', owner: 'x' }],
        [{ token_env: { default: 'GITHUB_TOKEN' } }],
      ).sort(),
    ).toEqual(['GITHUB_TOKEN', 'TEAM_GH_TOKEN']);
  });
});

describe("a step child's stand-in manager", () => {
  const node = (): StepNode => {
    const s = step({ name: 'reader', secrets: ['db'], run: (_i: Record<string, never>, _c: StepContext) => 1 });
    const [first] = pipeline('p', () => s()).graph();
    return first as StepNode;
  };
  const contextWith = (manager: ManagerView) =>
    childContext(
      {
        kind: 'keystack.step.start',
        runId: 'r',
        pipeline: 'p',
        stepId: 'reader',
        attempt: 1,
        token: 't',
        mask: [],
        module: { path: 'p.mjs', exportName: 'default' },
        inputs: {},
        stack: {
          name: 's',
          components: [
            { type: 'orchestrator', flavor: 'local', name: 'default', config: {} },
            { type: 'artifact_store', flavor: 'local', name: 'default', config: {} },
          ],
          secretsManager: manager,
        },
      },
      node(),
      () => Promise.reject(new Error('no parent here')),
      () => undefined,
    );
  const view = { uuid: 'u', name: 'vault1', flavor: 'vault', where: "secrets manager 'vault1'" };

  it("gives the parent's answers of its getters, and throws where the parent had none, as in-process", () => {
    const answered = contextWith({ ...view, keepsVersions: true, mergesAtomically: false }).stack.secretsManager;
    expect([answered.keepsVersions, answered.mergesAtomically]).toEqual([true, false]);
    // The parent could not build the backend: in-process the getter throws; so it does here, not `false`.
    const unset = contextWith(view).stack.secretsManager;
    expect(() => unset.keepsVersions).toThrow(
      /the secrets manager 'vault1' could not be set up, so it has no keepsVersions/,
    );
    expect(() => unset.mergesAtomically).toThrow(/mergesAtomically/);
  });
});
