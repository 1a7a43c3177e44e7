/**
 * The layer rules of DESIGN §2 / ARCHITECTURE.md, checked by `npm run deps` (part of `npm test`).
 * Layers, top to bottom: cli → ui, process, transfer → pipeline → stack, testing → core →
 * flavors → secrets. A file may import its own layer or any layer below; support/ and errors.ts
 * may be imported from anywhere and import no layer themselves. A violation names its rule.
 */
const above = {
  secrets: '^src/(core|flavors|stack|testing|pipeline|process|transfer|ui|cli)/',
  flavors: '^src/(stack|testing|pipeline|process|transfer|ui|cli)/',
  core: '^src/(stack|testing|pipeline|process|transfer|ui|cli)/',
  stack: '^src/(pipeline|process|transfer|ui|cli)/',
  testing: '^src/(pipeline|process|transfer|ui|cli)/',
  pipeline: '^src/(process|transfer|ui|cli)/',
  process: '^src/cli/',
  transfer: '^src/cli/',
  ui: '^src/cli/',
};

module.exports = {
  forbidden: [
    ...Object.entries(above).map(([layer, higher]) => ({
      name: 'layer-order',
      comment: `${layer}/ imports a layer above it (order: cli → ui/process/transfer → pipeline → stack/testing → core → flavors → secrets)`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: higher },
    })),
    {
      name: 'support-is-a-leaf',
      comment: 'support/ and errors.ts are infrastructure any layer may use: they import no layer',
      severity: 'error',
      from: { path: '^src/(support/|errors\\.ts$)' },
      to: { path: '^src/', pathNot: '^src/(support/|errors\\.ts$)' },
    },
    {
      name: 'flavors-use-contract-and-kit',
      comment:
        "a flavor uses only the core's contract (core/types.ts) and kit (core/kit.ts), never the manager or the registry",
      severity: 'error',
      from: { path: '^src/flavors/' },
      to: { path: '^src/core/', pathNot: '^src/core/(types|kit)\\.ts$' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'the CLI is the top: nothing imports it',
      severity: 'error',
      from: { pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'ui-reads-what-the-cli-reads',
      comment:
        'the dashboard shows what the CLI --json shows: it gets its data through a UiSource (src/ui/source.ts), never from a flavor or a store of its own',
      severity: 'error',
      from: { path: '^src/ui/' },
      to: { path: '^src/(flavors|core)/' },
    },
    {
      name: 'flavors-never-import-stack-or-pipeline',
      comment: 'a flavor holds only what its backend needs',
      severity: 'error',
      from: { path: '^src/flavors/' },
      to: { path: '^src/(stack|pipeline)/' },
    },
    {
      name: 'cli-reaches-flavors-through-the-library',
      comment: 'the CLI uses the library (stack/, core/), never a flavor file directly',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/flavors/' },
    },
    {
      name: 'no-circular',
      comment: 'no import circles between files, static or dynamic (type-only imports aside)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
