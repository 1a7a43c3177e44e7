#!/usr/bin/env bash
# The package as consumers get it: pack the built tree, lint the manifest against the tarball
# (publint), check that the types resolve for ESM consumers (are-the-types-wrong, ESM-only
# profile), and import both entry points from an unpacked copy outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm pack --silent --pack-destination "$tmp" >/dev/null
tgz=$(ls "$tmp"/keystack-*.tgz)
node node_modules/publint/src/cli.js run --strict "$tgz"
# keystack ui serves its stylesheet and script from the package: they must be in it.
# (The listing is read whole: grep -q would stop tar mid-stream, which pipefail counts as a failure.)
listing=$(tar -tzf "$tgz")
for f in dist/ui/assets/ui.css dist/ui/assets/ui.js; do
  grep -qx "package/$f" <<<"$listing" || { echo "package-check: $f is not in the package" >&2; exit 1; }
done
node node_modules/@arethetypeswrong/cli/dist/index.js "$tgz" --profile esm-only --format ascii
mkdir -p "$tmp/app/node_modules/keystack"
tar -xzf "$tgz" -C "$tmp/app/node_modules/keystack" --strip-components=1
ln -s "$PWD/node_modules" "$tmp/app/node_modules/keystack/node_modules"
cd "$tmp/app"
node --input-type=module -e "
const lib = await import('keystack');
const testing = await import('keystack/testing');
const authoring = await import('keystack/pipeline');
if (typeof lib.Keystack !== 'function' || typeof testing.testFlavor !== 'function') throw new Error('entry points export the wrong things');
if (authoring.step !== lib.step || authoring.pipeline !== lib.pipeline) throw new Error('keystack/pipeline exports the wrong things');
console.log('package-check: keystack, keystack/pipeline and keystack/testing import cleanly');"
