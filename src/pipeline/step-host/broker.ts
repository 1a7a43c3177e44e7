/**
 * The parent's half of a step's capability: it answers the secret requests of one step child for
 * one (run, step, attempt), reading with the parent's own credentials through a SecretGuard, and
 * hands back only the declared keys. A request that names another run, step or attempt, or that
 * carries another token (an old one after its attempt ended), is denied and recorded.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccessRecord, AccessSink } from '../../core/provenance.js';
import { isKeystackError } from '../../errors.js';
import { processMasker } from '../../support/masking.js';
import type { Reader, StepSecrets } from '../access.js';
import type { SecretReply, SecretRequest } from './protocol.js';

export interface BrokerOptions {
  reader: Reader & { step: string };
  guard: StepSecrets;
  /** Where the guard records, so that a refused capability is on the same record. */
  sink: AccessSink;
  manager: AccessRecord['manager'];
}

export interface SecretBroker {
  /** The capability the child gets: good for this run, step and attempt until `end`. */
  readonly token: string;
  answer(request: SecretRequest): Promise<SecretReply>;
  /** The attempt is over: every later request with this token is denied. */
  end(): void;
}

export function createBroker(o: BrokerOptions): SecretBroker {
  const token = randomBytes(32).toString('base64url');
  let ended = false;
  const r = o.reader;
  const valid = (m: SecretRequest): boolean =>
    !ended && sameText(m.token, token) && m.runId === r.runId && m.stepId === r.step && m.attempt === r.attempt;
  const deny = (m: SecretRequest): SecretReply => {
    o.sink.record({
      runId: r.runId,
      pipeline: r.pipeline,
      step: r.step,
      component: undefined,
      attempt: r.attempt,
      worker: r.worker,
      host: r.host,
      at: new Date().toISOString(),
      manager: o.manager,
      secret: m.name,
      keys: [],
      version: null,
      pinned: null,
      fingerprints: {},
      outcome: 'denied',
      errorCode: 'capability',
    });
    return {
      kind: 'keystack.step.secret-reply',
      id: m.id,
      error: {
        code: 'denied',
        message: `step '${r.step}' asked for '${m.name}' with a capability that is not its own for this run, step and attempt`,
        hint: 'A step reads secrets through context.secrets only; its capability cannot be widened or reused.',
      },
    };
  };
  return {
    token,
    end() {
      ended = true;
    },
    async answer(m) {
      if (!valid(m)) return deny(m);
      try {
        const secret = await o.guard.get(m.name, { fresh: m.fresh });
        return {
          kind: 'keystack.step.secret-reply',
          id: m.id,
          secret: {
            name: secret.name,
            schema: secret.schema,
            values: secret.values,
            ...(secret.types ? { types: secret.types } : {}),
          },
        };
      } catch (e) {
        const message = processMasker.mask(e instanceof Error ? e.message : String(e));
        return {
          kind: 'keystack.step.secret-reply',
          id: m.id,
          error: {
            code: isKeystackError(e) ? e.code : 'error',
            message,
            hint: isKeystackError(e) && e.hint !== undefined ? processMasker.mask(e.hint) : undefined,
          },
        };
      }
    },
  };
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
