#!/usr/bin/env bash
# `npm test`: build, typecheck, install the emulators (cached outside the repo), then run every
# test inside a network namespace whose only interface is loopback, with the emulators started in
# that same namespace, so that any attempt to leave the machine fails at once.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci
npm run build
node node_modules/typescript/bin/tsc -p tsconfig.test.json
bash scripts/package-check.sh
node node_modules/eslint/bin/eslint.js .
npm run -s deps
npm run -s format:check
bash scripts/emulators/install.sh
# While the registry is in reach: the packed-install test (test/docs/own-project.test.ts) installs
# from npm's cache inside the namespace, and `npm ci` leaves the cache without package documents.
warm="$(mktemp -d)"
node scripts/install-packed.mjs "$warm"
rm -rf "$warm"

if [ "${KEYSTACK_NO_NETNS:-}" = 1 ]; then
  echo "warning: KEYSTACK_NO_NETNS=1: running without the loopback-only network namespace" >&2
  exec bash scripts/test-inner.sh "$@"
fi
if ! unshare -n true 2>/dev/null; then
  echo "error: cannot create a network namespace (unshare -n needs root or user namespaces)." >&2
  echo "hint: run as root, or set KEYSTACK_NO_NETNS=1 to run without the loopback-only guard." >&2
  exit 1
fi
exec unshare -n bash -c 'ip link set lo up && exec bash scripts/test-inner.sh "$@"' test-inner "$@"
