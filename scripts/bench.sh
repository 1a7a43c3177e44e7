#!/usr/bin/env bash
# `npm run bench`: build, then CLI latency and start-up, local-store scale, the masking stream, provenance, worker
# isolation and keystack scan against grep, then backend calls per operation counted against the emulators (or
# announced doubles), and the remote-stack figures (Redis, OpenBao, moto), inside a loopback-only namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
node bench/run.mjs cli startup store mask-stream provenance isolation scan leak-guard
bash scripts/emulators/install.sh >/dev/null
export KEYSTACK_EMULATOR_STATE_DIR="$(mktemp -d /tmp/keystack-bench.XXXXXX)"
run_calls='trap "bash scripts/emulators/stop.sh >/dev/null 2>&1 || true" EXIT
  bash scripts/emulators/start.sh >/dev/null && . "$KEYSTACK_EMULATOR_STATE_DIR/env.sh" && node bench/run.mjs calls remote run-calls transfer'
if [ "${KEYSTACK_NO_NETNS:-}" = 1 ]; then bash -c "$run_calls"; else unshare -n bash -c "ip link set lo up && $run_calls"; fi
