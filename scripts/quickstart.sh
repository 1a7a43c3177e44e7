#!/usr/bin/env bash
# The README's first command: set up (install, build, put `keystack` on the PATH: scripts/setup.sh),
# then the main job on the embedded default store: register a secret on the default stack's local
# secrets manager and read it back. Safe to run again, also on a kept KEYSTACK_CONFIG_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KEYSTACK_CONFIG_DIR="${KEYSTACK_CONFIG_DIR:-$(mktemp -d)/keystack}"
k() { node bin/keystack.cjs "$@"; }
echo "config dir: $KEYSTACK_CONFIG_DIR"
# `secret set` creates the secret, or on a second run sets the same values again instead of failing.
printf 'Kx9-demo-pw-7781' | k secret set quickstart_db --username=admin --password=@-
k secret get quickstart_db
k secret list
test "$(k secret get quickstart_db --key username)" = admin
echo "quickstart OK"
