/** `keystack ui`: the local read-only dashboard, served on 127.0.0.1 until Ctrl-C. */
import { stopSignal } from '../../stop-signal.js';
import { UsageError } from '../../../errors.js';
import { defineCommand, type CommandInput } from '../../define.js';

export interface UiFlags {
  port: string;
  open: boolean;
}

export default defineCommand({
  path: 'ui',
  summary: 'a local read-only dashboard of stacks, secrets, runs and their provenance',
  description: [
    'Serve a read-only dashboard on 127.0.0.1 until Ctrl-C: stacks and components (sensitive config `***`), secrets managers and their secrets (names, keys, versions, used-by; never a value), runs drawn as their DAG with the secrets each step declared and read, the audit, and search by secret name or by leaked value.',
    '',
    'The URL printed carries a random one-time token: it is a credential. Opening it exchanges the token for an HttpOnly, SameSite=Strict session cookie and the token stops working. Every other request without that session gets 401, a Host header other than 127.0.0.1:PORT or localhost:PORT is refused (421), and the pages load nothing from outside. See docs/ui.md.',
  ].join('\n'),
  options: [
    { flags: '--port <port>', description: 'the port on 127.0.0.1 (default: a free one)', default: '0' },
    { flags: '--no-open', description: 'do not open a browser (it is opened only where xdg-open or open exists)' },
  ],
  examples: [
    'keystack ui',
    'keystack ui --port 7777 --no-open',
    'keystack ui --json --no-open   # prints {url, port} once listening',
  ],
  // Printed once the server listens (the command then runs until stopped).
  shape: (z) => z.strictObject({ url: z.string(), port: z.number().int() }),
  run: async (ctx, { opts }: CommandInput<UiFlags>) => {
    const port = Number(opts.port);
    if (!/^\d+$/.test(opts.port) || port > 65535)
      throw new UsageError(
        `--port must be a port number (0 to 65535), not '${opts.port}'`,
        'E.g. `keystack ui --port 7777`; 0 picks a free port.',
      );
    const { cliSource } = await import('./source.js');
    const { startUiServer } = await import('../../../ui/server.js');
    const server = await startUiServer({ source: cliSource(ctx), port }).catch((e: unknown) => {
      const code = (e as { code?: unknown } | null)?.code;
      if (code === 'EADDRINUSE')
        throw new UsageError(
          `port ${port} on 127.0.0.1 is in use`,
          'Pick another with --port, or leave it out for a free one.',
        );
      throw e;
    });
    // Listening for the stop signals before the URL is out: a script may stop us as soon as it reads it.
    const stopped = stopSignal();
    const data = { url: server.url, port: server.port };
    ctx.out.result(
      data,
      `keystack ui is serving on http://127.0.0.1:${server.port}/ (read-only; Ctrl-C stops it).\nOpen this URL; it works once and is a credential until then:\n\n  ${server.url}\n`,
    );
    if (opts.open && !ctx.out.json) openBrowser(server.url);
    const signal = await stopped;
    ctx.out.note(`keystack ui: ${signal}, stopping`);
    await server.close();
    return { data, printed: true };
  },
});

/**
 * Opens the URL with xdg-open (open on macOS) where one is on the PATH; the dashboard works the
 * same without one, so a missing opener (ENOENT) or any other failure is ignored.
 */
function openBrowser(url: string): void {
  void import('node:child_process')
    .then(({ spawn }) => {
      const child = spawn(process.platform === 'darwin' ? 'open' : 'xdg-open', [url], {
        stdio: 'ignore',
        detached: true,
      });
      child.on('error', () => undefined);
      child.unref();
    })
    .catch(() => undefined);
}
