import { describe, expect, it } from 'vitest';
import { componentFlavor } from '../../src/stack/components.js';
import { ReferenceResolver } from '../../src/stack/references.js';
import { ResolvedComponent } from '../../src/stack/runtime.js';
import { processMasker } from '../../src/support/masking.js';

describe('a plain value in a sensitive component field', () => {
  it('is masked once a run has read it, though no secrets manager handed it out', async () => {
    const key = `plain-encryption-key-${Date.now()}`;
    const record = {
      uuid: 'u1',
      type: 'artifact_store' as const,
      flavor: 'local',
      name: 'store',
      config: { encryption_key: key },
      createdAt: '',
    };
    const c = new ResolvedComponent(
      record,
      componentFlavor('artifact_store', 'local'),
      new ReferenceResolver({ manager: undefined, stackName: 's' }),
    );
    expect(processMasker.mask(`step failed: ${key}`)).toContain(key);
    expect(await c.getString('encryption_key')).toBe(key);
    expect(processMasker.mask(`step failed: ${key}`)).toBe('step failed: ***');
  });
});
