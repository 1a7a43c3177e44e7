/**
 * The step's context inside a step child: `context.secrets` (and `context.stack.secretsManager`,
 * the same view) asks the parent through the capability; the stack is a description without
 * secrets, whose reference attributes resolve through the same capability, so only if declared.
 */
import type { Secret } from '../../core/manager.js';
import { KeystackError, NotFoundError, SecretAccessDeniedError, type ErrorCode } from '../../errors.js';
import { parseReference } from '../../secrets/reference.js';
import { processMasker } from '../../support/masking.js';
import type { StackRuntime } from '../../stack/runtime.js';
import type { GetOptions, StepSecrets } from '../access.js';
import type { StepContext } from '../step.js';
import type { ComponentView, Requester, StartMessage } from './protocol.js';

export function childContext(start: StartMessage, stepName: string, ask: Requester): StepContext {
  const secrets: StepSecrets = {
    async get(name: string, options: GetOptions = {}): Promise<Secret> {
      const reply = await ask(name, options.fresh === true);
      if (reply.error) {
        const { code, message, hint } = reply.error;
        if (code === 'denied') {
          // The same class as in-process, with the parent's message (it may be about the capability).
          const denied = new SecretAccessDeniedError(stepName, `the secret '${name}'`, name);
          denied.message = message;
          throw denied;
        }
        throw new KeystackError(code as ErrorCode, message, hint === undefined ? {} : { hint });
      }
      const s = reply.secret as Secret;
      processMasker.add(Object.values(s.values));
      return s;
    },
  };
  const stack = stackFor(start, stepName, secrets);
  return {
    stack: stack as unknown as StackRuntime,
    stepName,
    stepId: start.stepId,
    runId: start.runId,
    pipelineName: start.pipeline,
    secrets,
  } as StepContext;
}

/** Any other manager method is refused: a step reads, and only through its declaration. */
function guardedManager(stepName: string, secrets: StepSecrets, name: string): unknown {
  return new Proxy(
    { name, get: (n: string, o?: GetOptions) => secrets.get(n, o) },
    {
      get(target, prop) {
        if (prop in target) return Reflect.get(target, prop) as unknown;
        if (typeof prop === 'symbol' || prop === 'then') return undefined;
        return () => {
          throw new SecretAccessDeniedError(stepName, `the secrets manager's ${prop}()`, '...');
        };
      },
    },
  );
}

function stackFor(start: StartMessage, stepName: string, secrets: StepSecrets): Record<string, unknown> {
  const view = start.stack;
  const components = view.components.map((c) => componentFor(c, secrets));
  const one = (type: string) => components.find((c) => c.type === type);
  return {
    name: view.name,
    hasSecretsManager: view.secretsManager !== undefined,
    get secretsManager(): unknown {
      if (!view.secretsManager)
        throw new NotFoundError(
          `stack '${view.name}' has no secrets manager`,
          `Add one with \`keystack stack update ${view.name} -x NAME\`.`,
        );
      return guardedManager(stepName, secrets, view.secretsManager.name);
    },
    orchestrator: one('orchestrator'),
    artifactStore: one('artifact_store'),
    containerRegistry: one('container_registry'),
    components: () => [...components],
    stepOperators: () => components.filter((c) => c.type === 'step_operator'),
    stepOperator: (n: string) => components.find((c) => c.type === 'step_operator' && c.name === n),
  };
}

interface ChildComponent {
  type: string;
  name: string;
  flavor: { name: string };
  config: Readonly<Record<string, unknown>>;
  get(field: string): Promise<unknown>;
  getString(field: string): Promise<string | undefined>;
}

function componentFor(c: ComponentView, secrets: StepSecrets): ChildComponent {
  const get = async (field: string): Promise<unknown> => {
    const v = c.config[field];
    const ref = typeof v === 'string' ? parseReference(v) : null;
    if (!ref) return v;
    const s = await secrets.get(ref.name);
    if (!Object.hasOwn(s.values, ref.key))
      throw new NotFoundError(
        `the reference in field '${field}' of ${c.name} names key '${ref.key}', which '${ref.name}' does not have (or the step did not declare)`,
      );
    return s.values[ref.key];
  };
  return {
    type: c.type,
    name: c.name,
    flavor: { name: c.flavor },
    config: c.config,
    get,
    async getString(field) {
      const v = await get(field);
      if (v === undefined || v === null || v === '') return undefined;
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- config fields hold scalars
      return String(v);
    },
  };
}
