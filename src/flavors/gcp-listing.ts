/**
 * gcp's listing of a scope: its own secrets (in `none` scope also unlabelled ones that hold a
 * keystack payload), and ZenML's legacy per-key groups, which are read as one secret each.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { decodeContent, type StoredSecret } from '../secrets/content.js';
import { scopeMetadata } from '../secrets/scope.js';
import { allPages } from '../core/kit.js';
import { backendFailure } from '../support/scrub.js';
import type { Connection, FlavorContext } from '../core/types.js';
import { payloadText } from './gcp-cas.js';
import { GrpcCode as G, grpcCode as _code } from './shared/grpc.js';
import { assembleGroup, GROUP_KEY, GROUP_SCHEMA, withPayloads } from './shared/zenml-groups.js';

const FLAVOR_NAME = 'gcp';
const PAGE_SIZE = 100;
const READ_CONCURRENCY = 8;

export interface GcpListingNeeds {
  conn: Connection<SecretManagerServiceClient>;
  ctx: FlavorContext<{ project_id: string }>;
  opts: { retry: null; timeout: number };
  /** The keystack name of a Google secret of this scope, or null. */
  nameOf: (id: string, labels: Record<string, string>) => string | null;
  /** Whether a name follows the flavor's name rule. */
  validName: (name: string) => boolean;
}

export function gcpListing({ conn, ctx, opts: OPTS, nameOf, validName }: GcpListingNeeds) {
  const { scope } = ctx;
  const P = scope.prefix;
  const none = scope.scope === 'none';
  const parent = `projects/${ctx.config.project_id}`;
  const schemaLabel = `${P}_secret_schema`;
  const listRaw = (filter: string) =>
    allPages(async (pageToken = '') => {
      const [secrets, , res] = await conn.call('list', undefined, (c) =>
        c.listSecrets({ parent, filter, pageSize: PAGE_SIZE, pageToken }, { ...OPTS, autoPaginate: false }),
      );
      const items = secrets.map((s) => ({
        id: s.name?.slice(s.name.lastIndexOf('/') + 1) ?? '',
        labels: s.labels ?? {},
      }));
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the raw page response is typed as always there; if a backend leaves it out the listing ends instead of throwing
      return { items, next: res?.nextPageToken };
    });

  /** This scope's own secrets, and (in `none` scope) ZenML's per-key groups. */
  const scan = async (): Promise<{ own: string[]; groups: Set<string> }> => {
    const filter = none
      ? `NOT labels.${P}_scope:*`
      : Object.entries(scopeMetadata(scope))
          .map(([k, v]) => `labels.${k}=${v}`)
          .join(' AND ');
    const own: string[] = [];
    const groups = new Set<string>();
    const unmarked: string[] = [];
    for (const { id, labels } of await listRaw(filter)) {
      const group = none ? labels[GROUP_KEY] : undefined;
      if (group !== undefined) {
        if (validName(group)) groups.add(group);
        continue;
      }
      const name = nameOf(id, labels);
      if (name !== null && !(none && 'zenml_scope' in labels))
        (!none || schemaLabel in labels ? own : unmarked).push(name);
    }
    own.push(...(await withPayloads(unmarked, READ_CONCURRENCY, readable)));
    return { own, groups };
  };
  const readable = async (id: string): Promise<boolean> => {
    try {
      const [v] = await conn.call('list', id, (c) =>
        c.accessSecretVersion({ name: `${parent}/secrets/${id}/versions/latest` }, OPTS),
      );
      decodeContent(payloadText(v.payload?.data), P);
      return true;
    } catch (e) {
      if (
        _code(e) === G.NOT_FOUND ||
        _code(e) === G.FAILED_PRECONDITION ||
        e instanceof SyntaxError ||
        e instanceof TypeError
      )
        return false;
      throw e;
    }
  };

  /** ZenML's per-key group `name`, assembled, or null when there is none. */
  const membersOf = async (name: string) =>
    (await listRaw(`labels.${GROUP_KEY}=${name}`)).filter((m) => m.labels[GROUP_KEY] === name);
  const readGroup = async (name: string): Promise<StoredSecret | null> => {
    const members = await membersOf(name);
    if (members.length === 0) return null;
    const keyed = members.map((m) => {
      const key = m.id.startsWith(`${name}_`) ? m.id.slice(name.length + 1) : '';
      if (key === '')
        throw backendFailure(
          { flavor: FLAVOR_NAME, operation: 'get', secretName: name },
          new Error(`per-key secret '${m.id}' is not named '${name}_<key>'`),
        );
      return { id: m.id, key };
    });
    return assembleGroup(keyed, members[0]?.labels[GROUP_SCHEMA], keyed.length, async (id) =>
      payloadText(
        (
          await conn.call('get', name, (c) =>
            c.accessSecretVersion({ name: `${parent}/secrets/${id}/versions/latest` }, OPTS),
          )
        )[0].payload?.data,
      ),
    );
  };

  return { scan, membersOf, readGroup };
}
