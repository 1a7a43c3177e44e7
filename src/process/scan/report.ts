/** How `keystack scan` prints its findings: lines for people, SARIF 2.1.0 for code-scanning UIs. */
import type { LeakEncoding } from '../../support/leak-match.js';
import type { Skipped } from './files.js';
import type { Finding } from './index.js';

export interface ScanSummary {
  findings: readonly Finding[];
  files: number;
  bytes: number;
  patterns: number;
  values: number;
  belowMinimum: number;
  managers: readonly string[];
  skipped: readonly Skipped[];
}

const ENCODINGS: Record<LeakEncoding, string> = {
  raw: 'as stored',
  line: 'one line of a multi-line value',
  json: 'JSON-escaped',
  base64: 'base64',
  base64url: 'base64url',
  url: 'URL-encoded',
  hex: 'hex',
};

/** `path:line:column: secret 'db' key 'password' (manager 'team') as base64`, then a summary. */
export function textReport(s: ScanSummary): string {
  const lines = s.findings.map((f) => {
    const at = f.where === undefined ? '' : ` in ${f.where}`;
    return `${f.path}:${f.line}:${f.column}: secret '${f.secret}' key '${f.key}' (manager '${f.manager}'), ${ENCODINGS[f.encoding]}${at}`;
  });
  const files = `${s.files} file${s.files === 1 ? '' : 's'} (${s.bytes} bytes)`;
  const of = `${s.values} value${s.values === 1 ? '' : 's'} of ${s.managers.map((m) => `'${m}'`).join(', ') || 'no manager'}`;
  lines.push(
    s.findings.length === 0
      ? `No secret values found in ${files}; looked for ${s.patterns} forms of ${of}.`
      : `${s.findings.length} finding${s.findings.length === 1 ? '' : 's'} in ${files}; looked for ${s.patterns} forms of ${of}.`,
  );
  if (s.belowMinimum > 0)
    lines.push(
      `${s.belowMinimum} value${s.belowMinimum === 1 ? ' was' : 's were'} shorter than --min-length and not looked for.`,
    );
  const links = s.skipped.filter((k) => k.reason === 'symlink').length;
  if (links > 0) lines.push(`${links} symlink${links === 1 ? '' : 's'} not followed.`);
  for (const k of s.skipped.filter((x) => x.reason !== 'symlink'))
    lines.push(`skipped ${k.path}: ${k.reason.replace('_', ' ')}`);
  return lines.join('\n');
}

/** A SARIF 2.1.0 log: one rule per encoding, one result per finding, located by line and column. */
export function sarifReport(s: ScanSummary, version: string): Record<string, unknown> {
  const used = [...new Set(s.findings.map((f) => f.encoding))];
  const rules = (Object.keys(ENCODINGS) as LeakEncoding[]).map((e) => ({
    id: ruleId(e),
    name: `SecretValue${e[0]?.toUpperCase()}${e.slice(1)}`,
    shortDescription: { text: `A secret value, ${ENCODINGS[e]}` },
    fullDescription: {
      text: `The value of a secret keystack manages appears in this file, ${ENCODINGS[e]}. Rotate the secret and remove it from the file.`,
    },
    help: {
      text: 'Rotate the secret (`keystack secret rotate NAME`), then remove the value from the file and its history.',
    },
    defaultConfiguration: { level: 'error' },
  }));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'keystack',
            version,
            rules,
          },
        },
        results: s.findings.map((f) => ({
          ruleId: ruleId(f.encoding),
          ruleIndex: rules.findIndex((r) => r.id === ruleId(f.encoding)),
          level: 'error',
          message: {
            text: `Secret '${f.secret}' key '${f.key}' of manager '${f.manager}' found, ${ENCODINGS[f.encoding]}${f.where === undefined ? '' : ` in ${f.where}`}.`,
          },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: toUri(f.path) },
                region: { startLine: f.line, startColumn: f.column },
              },
            },
          ],
          properties: {
            manager: f.manager,
            secret: f.secret,
            key: f.key,
            encoding: f.encoding,
            ...(f.cell === undefined ? {} : { cell: f.cell }),
          },
        })),
        properties: { encodingsFound: used, files: s.files, bytes: s.bytes, patterns: s.patterns },
      },
    ],
  };
}

function ruleId(e: LeakEncoding): string {
  return `keystack/secret-value/${e}`;
}

/** A relative path as a relative URI reference; an absolute one as a file: URI. */
function toUri(path: string): string {
  const enc = path.split('/').map(encodeURIComponent).join('/');
  return path.startsWith('/') ? `file://${enc}` : enc;
}
