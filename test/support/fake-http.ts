/** Tiny loopback HTTP servers for error-path tests: throttling, auth failures, closed ports. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeServer {
  url: string;
  /** Requests received so far. */
  readonly requests: number;
  close(): Promise<void>;
}

/** Serves every request with `handle` on 127.0.0.1 and an ephemeral port. */
export async function fakeServer(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<FakeServer> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A loopback URL on which nothing listens (a port that was just free). */
export async function closedPortUrl(): Promise<string> {
  const s = await fakeServer(() => undefined);
  await s.close();
  return s.url;
}

/** Reads an endpoint from the environment, failing the test file (never skipping) when it is missing. */
export function requireEnv(name: string, what: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: ${what} is needed for this test. Run \`npm test\` (it starts the emulators), or start them with scripts/emulators/start.sh and source its env.sh.`,
    );
  }
  return v;
}

/** A loopback TCP server that accepts connections and never answers (a hung endpoint or proxy). */
export async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer: createTcpServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
