/**
 * Plain HTTP for the backends that need no SDK (Vault): a fetch with a timeout, and JSON requests
 * whose answer is checked, not trusted to be JSON.
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';

/** The HTTP status of an SDK error (`status`, `statusCode` or the AWS SDK's `$metadata`). */
export function httpStatus(e: unknown): number | undefined {
  const x = e as { status?: unknown; statusCode?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  const s = x?.status ?? x?.statusCode ?? x?.$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

/** fetch with a deadline for the whole exchange; a request past it fails with code ETIMEDOUT. */
export function fetchWithTimeout(ms: number): typeof fetch {
  return async (input, init) => {
    const deadline = AbortSignal.timeout(ms);
    try {
      return await fetch(input, {
        ...init,
        signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline,
      });
    } catch (e) {
      throw deadline.aborted ? Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' }) : e;
    }
  };
}

/** An HTTP answer read as a JSON object; `odd` says what came instead (never quoting it). */
export interface JsonReply {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Record<string, unknown> | null;
  odd?: string;
}

// node:http and node:https cost a few ms to load; every CLI call that needs no HTTP would pay for them.
let httpLibs: Promise<[typeof Http, typeof Https]> | undefined;

/**
 * One request through node:http(s) (which, unlike fetch, takes an https agent with a CA or
 * skip-verify), with a deadline for the whole exchange: a socket timeout alone lets a server
 * that trickles bytes hang the call.
 */
export async function requestJson(
  url: URL,
  o: {
    method: string;
    headers: Record<string, string>;
    body?: unknown;
    agent?: Http.Agent | undefined;
    timeoutMs: number;
  },
): Promise<JsonReply> {
  const [http, https] = await (httpLibs ??= Promise.all([import('node:http'), import('node:https')]));
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers =
    payload === undefined
      ? o.headers
      : { ...o.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) };
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise<JsonReply>((resolve, reject) => {
    const req = request(url, { method: o.method, headers, ...(o.agent ? { agent: o.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const reply = { status: res.statusCode ?? 0, headers: res.headers };
        const text = Buffer.concat(chunks).toString('utf8');
        const body = parseObject(text);
        if (body) resolve({ ...reply, body });
        else
          resolve({
            ...reply,
            body: null,
            odd: text
              ? `a body that is not a JSON object (${res.headers['content-type']?.split(';')[0] ?? 'no content type'}, ${text.length} bytes)`
              : 'an empty body',
          });
      });
    });
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      o.timeoutMs,
    );
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

/** The JSON object in `text`, or null; a parse error would quote the text, so it is dropped. */
function parseObject(text: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
