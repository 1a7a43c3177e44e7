#!/usr/bin/env bash
# Runs inside the loopback-only namespace: start the emulators, run vitest, stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYSTACK_EMULATOR_STATE="${KEYSTACK_EMULATOR_STATE:-$(mktemp -d /tmp/keystack-emu.XXXXXX)}"
trap 'bash scripts/emulators/stop.sh >/dev/null 2>&1 || true' EXIT
bash scripts/emulators/start.sh
# shellcheck disable=SC1091
. "$KEYSTACK_EMULATOR_STATE/env.sh"
node node_modules/vitest/vitest.mjs run "$@"
