/**
 * The phone server: HTTP (phone API) + WebSocket (`/ws`, one per simulated WhatsApp Web page) on one
 * loopback port. Run it in-process with {@link startPhoneServer} or as its own process (cli.ts) so it
 * outlives gateway crashes. With `stateDir` the account is kept on disk (account-file.ts), so a restarted
 * server knows the devices linked before; without it, everything is in memory.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { AccountFile, stderrLog, type PhoneLog } from './account-file.js';
import { errorResponse, handlePhoneRequest, type ApiResponse } from './phone-api.js';
import { SimPhone, type PageLink, type SimPhoneOptions } from './sim-phone.js';

export interface PhoneServerOptions extends Omit<SimPhoneOptions, 'account' | 'onChange'> {
  /** TCP port; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** Listen address. Loopback only: the phone API has no authentication. @defaultValue `'127.0.0.1'` */
  host?: string;
  /**
   * Keep the account (identity, linked devices, message history) in `<stateDir>/account.json`, so a
   * phone server restarted on the same directory restores linked pages without a QR. A saved account
   * wins over `me`/`pushname`. One server per directory (a lock file says which).
   * @defaultValue none: the account lives in memory and dies with the server
   */
  stateDir?: string;
  /** How long changes are gathered before one write of the account file, in ms. @defaultValue 200 */
  stateWriteDelayMs?: number;
  /** The server's own log lines (account restored, unreadable file, failed write). @defaultValue one line on stderr */
  log?: PhoneLog;
}

export interface PhoneServer {
  /** `http://host:port`: pass it as `phoneUrl` to the page and use it for the phone API. */
  readonly url: string;
  readonly port: number;
  /** Direct access to the simulated phone (same operations as the HTTP API). */
  readonly phone: SimPhone;
  /** Where the account is kept, when `stateDir` was given. */
  readonly stateFile: string | undefined;
  /** Stop listening, drop every page, write the account file (with `stateDir`); idempotent. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1_000_000;

export async function startPhoneServer(options: PhoneServerOptions = {}): Promise<PhoneServer> {
  const log = options.log ?? stderrLog;
  const opened = options.stateDir === undefined
    ? undefined
    : await AccountFile.open({ dir: options.stateDir, log, ...(options.stateWriteDelayMs === undefined ? {} : { writeDelayMs: options.stateWriteDelayMs }) });
  const store = opened?.store;
  const saved = opened?.saved;
  if (saved !== undefined && ((options.me !== undefined && options.me !== saved.me) || (options.pushname !== undefined && options.pushname !== saved.pushname))) {
    log('warn', `the saved account is ${saved.me} ("${saved.pushname}"): the me/pushname options apply to a new account only; delete ${options.stateDir} for a new one.`);
  }
  const phone = new SimPhone({
    ...options,
    ...(saved === undefined ? {} : { account: saved }),
    ...(store === undefined ? {} : { onChange: () => store.changed() }),
  });
  store?.bind(() => phone.account());
  const host = options.host ?? '127.0.0.1';
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });

  const server = createServer((req, res) => {
    void respond(phone, req, res);
  });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => attachPage(phone, ws));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    phone.close();
    await store?.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    phone,
    stateFile: store?.file,
    close() {
      closing ??= (async () => {
        // Every step runs even when one throws; the first error is rethrown.
        const steps: (() => unknown)[] = [
          () => phone.close(),
          () => {
            for (const client of wss.clients) client.terminate();
            wss.close();
            server.closeAllConnections();
          },
          () => new Promise<void>((resolve) => server.close(() => resolve())),
          () => store?.close(),
        ];
        const errors: unknown[] = [];
        for (const step of steps) {
          try {
            await step();
          } catch (err) {
            errors.push(err);
          }
        }
        if (errors.length > 0) throw errors[0];
      })();
      return closing;
    },
  };
}

function attachPage(phone: SimPhone, ws: WebSocket): void {
  const link: PageLink = {
    send: (message) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    },
    close: (code, reason) => ws.close(code, reason),
  };
  phone.attach(link);
  ws.on('message', (data) => {
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch {
      return;
    }
    phone.receive(link, raw);
  });
  ws.on('close', () => phone.detach(link));
  ws.on('error', () => phone.detach(link));
}

async function respond(phone: SimPhone, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let result: ApiResponse;
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = await readJson(req);
    result = body === INVALID_JSON
      ? errorResponse(400, 'INVALID_JSON', 'Request body is not valid JSON.')
      : handlePhoneRequest(phone, req.method ?? 'GET', url, body);
  } catch (err) {
    result = errorResponse(500, 'INTERNAL', err instanceof Error ? err.message : 'internal error');
  }
  res.writeHead(result.status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(result.body));
}

const INVALID_JSON = Symbol('invalid json');

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return INVALID_JSON;
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return INVALID_JSON;
  }
}
