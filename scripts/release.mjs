// `npm run release -- patch|minor|major|X.Y.Z`: the one way a release is cut (CONTRIBUTING.md).
// It only edits files: the version in package.json (and package-lock.json) and CHANGELOG.md, whose
// [Unreleased] entries move under the new version with today's date. Tagging, pushing and
// publishing stay with a person, who reviews the diff first; the script prints those commands.
// It refuses a dirty tree, so the release commit holds the bump and nothing else, and an empty
// [Unreleased] section, so no version goes out that the changelog does not explain.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const bump = process.argv[2];
if (!bump || !/^(patch|minor|major|\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?)$/.test(bump)) {
  fail('usage: npm run release -- patch|minor|major|X.Y.Z');
}

let status;
try {
  status = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
} catch {
  fail('not in a git work tree: a release is cut from a clean checkout');
}
if (status.trim() !== '') {
  fail(`the work tree has uncommitted changes; commit or remove them first:\n${status.trimEnd()}`);
}

const changelog = readFileSync('CHANGELOG.md', 'utf8');
const head = /^## \[Unreleased\][^\n]*\n/m.exec(changelog);
if (!head) fail('CHANGELOG.md has no "## [Unreleased]" section');
const bodyStart = head.index + head[0].length;
const next = changelog.slice(bodyStart).search(/^## \[/m);
const bodyEnd = next === -1 ? changelog.length : bodyStart + next;
const entries = changelog.slice(bodyStart, bodyEnd).trim();
// Link definitions (`[Unreleased]: …`) may follow the last section; they are not entries.
const entryText = entries.replace(/^\[[^\]]+\]:\s.*$/gm, '').trim();
if (entryText === '') fail('nothing under "## [Unreleased]" in CHANGELOG.md: say what this release changes first');

const previous = readJson('package.json').version;
// npm's own bump: the same rules as `npm version`, and package-lock.json follows.
execFileSync('npm', ['version', bump, '--no-git-tag-version'], { stdio: ['ignore', 'ignore', 'inherit'] });
const version = readJson('package.json').version;
const date = new Date().toISOString().slice(0, 10);

let updated = `${changelog.slice(0, bodyStart)}\n## [${version}] - ${date}\n\n${entries}\n\n${changelog.slice(bodyEnd).replace(/^\n+/, '')}`;
// Keep a Changelog's comparison links, where the file has them: [Unreleased] now starts at this version.
const link = /^\[Unreleased\]:\s*(\S+)\/compare\/(\S+)\.\.\.HEAD\s*$/m.exec(updated);
if (link) {
  const [line, base, from] = link;
  updated = updated.replace(
    line,
    `[Unreleased]: ${base}/compare/v${version}...HEAD\n[${version}]: ${base}/compare/${from}...v${version}`,
  );
}
writeFileSync('CHANGELOG.md', updated);

console.log(`keystack ${previous} → ${version} (${date}): package.json and CHANGELOG.md updated.

Review the diff (git diff), run npm test, then:

  git commit -am "release ${version}"
  git tag -a v${version} -m "keystack ${version}"
  git push origin HEAD v${version}
  npm publish
`);

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function fail(message) {
  process.stderr.write(`release: ${message}\n`);
  process.exit(1);
}
