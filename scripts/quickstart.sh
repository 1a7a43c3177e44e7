#!/usr/bin/env bash
# The README's first command: install, build, then the main job on the embedded default store:
# register a secret on the default stack's local secrets manager and read it back.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build
export KEYSTACK_CONFIG_DIR="${KEYSTACK_CONFIG_DIR:-$(mktemp -d)/keystack}"
k() { node bin/keystack.cjs "$@"; }
echo "config dir: $KEYSTACK_CONFIG_DIR"
printf 'quickstart-password' | k secret register quickstart_db --username=admin --password=@-
k secret get quickstart_db
k secret list
test "$(k secret get quickstart_db --key username)" = admin
echo "quickstart OK"
