/**
 * How aws reads its service's answers beyond the SDK's errors: the ListSecrets filters of a scope,
 * a stored value that is not keystack's, and the answers AWS would never give.
 */
import type * as Sdk from '@aws-sdk/client-secrets-manager';
import type { StoredSecret } from '../secrets/content.js';
import { BackendError } from '../errors.js';
import { scopeMetadata } from '../secrets/scope.js';
import { decodeOrFail, unlikeBackend } from '../core/kit.js';
import type { FlavorContext } from '../core/types.js';
import { errorMessage, errorName } from './aws-client.js';

const FLAVOR_NAME = 'aws';

/**
 * ListSecrets filters for this scope, as ZenML built them: AWS matches tag keys and values by
 * prefix and independently of each other, so the name prefix pins the scope and names.parse()
 * drops the rest. Unscoped managers get no filter: ZenML's negated `tag-key=!zenml_scope` never
 * matches a secret without tags on moto (and AWS documents negation only loosely), so secrets
 * carrying the scope tag are dropped on this side instead (ListSecrets returns the tags).
 */
export function listFilters(ctx: FlavorContext<unknown>): Sdk.Filter[] {
  const { scope } = ctx;
  if (scope.scope === 'none') return [];
  const filters: Sdk.Filter[] = [];
  for (const [k, v] of Object.entries(scopeMetadata(scope))) {
    filters.push({ Key: 'tag-key', Values: [k] }, { Key: 'tag-value', Values: [v] });
  }
  filters.push({ Key: 'name', Values: [ctx.names.prefix] });
  return filters;
}

/** The names of this scope's live secrets in a listing (ListSecrets returns the tags). */
export function ownNames(ctx: FlavorContext<unknown>, entries: Sdk.SecretListEntry[]): string[] {
  const { scope, names } = ctx;
  const scopeTag = `${scope.prefix}_scope`;
  return entries
    .filter((e) => !e.DeletedDate && !(scope.scope === 'none' && e.Tags?.some((t) => t.Key === scopeTag)))
    .map((e) => (e.Name === undefined ? null : names.parse(e.Name)))
    .filter((n) => n !== null);
}

export function decode(name: string, id: string, out: Sdk.GetSecretValueCommandOutput, prefix: string): StoredSecret {
  if (out.SecretString === undefined) {
    throw new BackendError({
      flavor: FLAVOR_NAME,
      operation: 'get',
      secretName: name,
      reason: `AWS secret '${id}' holds binary data (SecretBinary), not a keystack JSON secret`,
      hint: 'keystack reads only SecretString values holding a JSON object; manage this secret with the AWS console or CLI.',
    });
  }
  return decodeOrFail(FLAVOR_NAME, name, out.SecretString, prefix, `AWS secret '${id}'`);
}

/** A 2xx answer without the fields AWS always returns: something else answered (a proxy, a stub). */
export function unconfirmed(
  operation: string,
  secretName: string | undefined,
  action: string,
  fields: string,
): BackendError {
  return unlikeBackend(FLAVOR_NAME, operation, secretName, {
    service: 'AWS Secrets Manager',
    detail: `its answer to ${action} has no ${fields}`,
    check: 'Check endpoint_url: it must reach AWS Secrets Manager itself, not a proxy or another service.',
    write: operation !== 'get' && operation !== 'list',
  });
}

/** A CreateSecret failure: a name still in its recovery window gets its two ways out. */
export function registerFailure(e: unknown, name: string, id: string): unknown {
  return errorName(e) === 'InvalidRequestException' && /deletion|deleted/i.test(errorMessage(e))
    ? pendingDeletion(name, id)
    : e;
}

function pendingDeletion(name: string, id: string): BackendError {
  return new BackendError({
    flavor: FLAVOR_NAME,
    operation: 'register',
    secretName: name,
    reason: `AWS secret '${id}' is scheduled for deletion (recovery window), so its name cannot be reused yet`,
    hint: `Restore it with \`aws secretsmanager restore-secret --secret-id ${id}\`, or remove it for good with \`aws secretsmanager delete-secret --secret-id ${id} --force-delete-without-recovery\`.`,
  });
}
