#!/usr/bin/env bash
# Runs inside the loopback-only namespace: start the emulators, run vitest, stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
# A state dir per run, so a developer's own emulators (or a second run) never clash with this one.
export KEYSTACK_EMULATOR_STATE_DIR="${KEYSTACK_EMULATOR_STATE_DIR:-$(mktemp -d /tmp/keystack-emu.XXXXXX)}"
trap 'bash scripts/emulators/stop.sh >/dev/null 2>&1 || true' EXIT
bash scripts/emulators/start.sh
# shellcheck disable=SC1091
. "$KEYSTACK_EMULATOR_STATE_DIR/env.sh"
KEYSTACK_SKIP_BUILD=1 node node_modules/vitest/vitest.mjs run "$@"
