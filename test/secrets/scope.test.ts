import { describe, expect, it } from 'vitest';
import {
  scopeMetadata,
  scopePath,
  scopedName,
  scopedPrefix,
  secretMetadata,
  unscopedName,
  type ScopeContext,
} from '../../src/secrets/scope.js';

const uuid = '5f0c3b5e-8c55-4b8e-9d59-0d3d1f2d9c11';
const ctx = (scope: ScopeContext['scope'], extra: Partial<ScopeContext> = {}): ScopeContext => ({
  scope,
  componentUuid: uuid,
  componentName: 'sm',
  prefix: 'zenml',
  ...extra,
});

// The expected values reproduce ZenML 0.30's BaseSecretsManager helpers (reference §2.2).
describe('scope paths and names (ZenML-compatible with prefix zenml)', () => {
  it('builds scope paths', () => {
    expect(scopePath(ctx('none'))).toEqual([]);
    expect(scopePath(ctx('global'))).toEqual(['zenml', 'global']);
    expect(scopePath(ctx('component'))).toEqual(['zenml', 'component', uuid]);
    expect(scopePath(ctx('namespace', { namespace: 'team1' }))).toEqual(['zenml', 'namespace', 'team1']);
  });

  it('joins scoped names and prefixes with the separator', () => {
    expect(scopedName(ctx('namespace', { namespace: 'team1' }), 'db_creds')).toBe('zenml/namespace/team1/db_creds');
    expect(scopedName(ctx('none'), 'db_creds')).toBe('db_creds');
    expect(scopedName(ctx('global'), 'x', '-')).toBe('zenml-global-x');
    expect(scopedPrefix(ctx('global'))).toBe('zenml/global/');
    expect(scopedPrefix(ctx('none'))).toBe('');
  });

  it('parses backend names back only when they are in scope', () => {
    expect(unscopedName(ctx('global'), 'zenml/global/a')).toBe('a');
    expect(unscopedName(ctx('global'), 'zenml/component/x/a')).toBeNull();
    expect(unscopedName(ctx('component'), `zenml/component/${uuid}/a`)).toBe('a');
    expect(unscopedName(ctx('component'), 'zenml/component/other/a')).toBeNull();
    expect(unscopedName(ctx('none'), 'a')).toBe('a');
    expect(unscopedName(ctx('none'), 'a/b')).toBeNull();
    expect(unscopedName(ctx('global'), 'zenml/global/')).toBeNull();
  });

  it('builds the scope and full metadata tags', () => {
    expect(scopeMetadata(ctx('none'), 'a')).toEqual({});
    expect(scopeMetadata(ctx('namespace', { namespace: 'n' }), 'a')).toEqual({
      zenml_scope: 'namespace',
      zenml_secret_name: 'a',
      zenml_namespace: 'n',
    });
    expect(scopeMetadata(ctx('component'))).toEqual({ zenml_scope: 'component', zenml_component_uuid: uuid });
    expect(secretMetadata(ctx('global'), 'a', 'aws')).toEqual({
      zenml_scope: 'global',
      zenml_secret_name: 'a',
      zenml_component_name: 'sm',
      zenml_component_uuid: uuid,
      zenml_secret_schema: 'aws',
    });
    expect(secretMetadata(ctx('none'), 'a', 'aws')).toEqual({});
  });

  it('ignores a namespace outside namespace scope', () => {
    expect(scopePath(ctx('global', { namespace: 'team1' }))).toEqual(['zenml', 'global']);
    expect(scopeMetadata(ctx('component', { namespace: 'team1' }), 'a')).not.toHaveProperty('zenml_namespace');
  });
});
