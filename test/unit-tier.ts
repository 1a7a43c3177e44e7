/**
 * The unit tier (`npm run test:unit`): the test files that import src/ directly and need neither
 * the emulators nor a build, so a contributor gets an answer in seconds with nothing running.
 *
 * The rule for a file here: it and the test helpers it imports read no emulator variable
 * (EMULATOR_VARIABLES), spawn no built CLI (bin/keystack.cjs, test/support/cli.ts), and load
 * nothing from dist/ (including the package's own name, `keystack` or `keystack/testing`, which
 * resolves to dist/). In-process doubles and fake servers are fine: they start with the test.
 * test/unit-tier.test.ts holds every file here to that rule. A new test that obeys it belongs
 * here; everything else still runs in `npm test`, which runs every file.
 */
export const UNIT_TESTS: readonly string[] = [
  'test/unit-tier.test.ts',
  'test/library.test.ts',
  'test/leak/matcher.test.ts',
  'test/leak/scan.test.ts',
  'test/cli/command-table.test.ts',
  'test/cli/generate.test.ts',
  'test/doubles/azure-key-vault.contract.test.ts',
  'test/doubles/gcp-secret-manager.contract.test.ts',
  'test/flavors/local.test.ts',
  'test/flavors/meta.test.ts',
  'test/flavors/shared-plumbing.test.ts',
  'test/pipeline/access.test.ts',
  'test/pipeline/pipeline.test.ts',
  'test/pipeline/pins.test.ts',
  'test/pipeline/remote-provenance.test.ts',
  'test/pipeline/remote-trust.test.ts',
  'test/pipeline/sealing.test.ts',
  'test/pipeline/written-outputs.test.ts',
  'test/process/env.test.ts',
  'test/process/mask-stream.test.ts',
  'test/process/mount.test.ts',
  'test/docs/node-versions.test.ts',
  'test/reliability/at-rest.test.ts',
  'test/reliability/rotate.test.ts',
  'test/reliability/upsert.test.ts',
  'test/secrets/content-and-names.test.ts',
  'test/secrets/schema.test.ts',
  'test/secrets/scope.test.ts',
  'test/security/backend-errors.test.ts',
  'test/security/masking.test.ts',
  'test/security/sensitive-plain.test.ts',
  'test/stack/config-store-errors.test.ts',
  'test/stack/migrations.test.ts',
  'test/stack/provenance.test.ts',
  'test/stack/references.test.ts',
  'test/stack/validation.test.ts',
  'test/support/aead.test.ts',
  'test/support/module-cache.test.ts',
  'test/support/trust.test.ts',
  'test/testing/conformance.test.ts',
  'test/transfer/formats.test.ts',
  'test/transfer/library.test.ts',
];

/** What scripts/emulators/start.sh exports for the tests: reading one means needing an emulator. */
export const EMULATOR_VARIABLES: readonly string[] = [
  'AWS_SM_ENDPOINT',
  'BAO_ADDR',
  'BAO_TOKEN',
  'GSM_GRPC',
  'GSM_HTTP',
  'AKV_URL',
  'KEYSTACK_TEST_REDIS_URL',
  'KEYSTACK_GCP_SERVER',
  'KEYSTACK_AZURE_SERVER',
  'KEYSTACK_EMULATORS',
];
