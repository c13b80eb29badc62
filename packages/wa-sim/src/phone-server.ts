/**
 * The phone server: HTTP (phone API) + WebSocket (`/ws`, one per simulated WhatsApp Web page) on one
 * loopback port, for many accounts (phone-accounts.ts): the default one at the root, account `<id>` under
 * `/accounts/<id>/` (account-id.ts), each created on first use. Run it in-process with
 * {@link startPhoneServer} or as its own process (cli.ts) so it outlives gateway crashes. With `stateDir`
 * every account is kept on disk (account-file.ts), so a restarted server knows the devices linked before;
 * without it, everything is in memory.
 */
import { STATUS_CODES, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_ACCOUNT_ID, simAccountUrl, type AccountSummary } from './account-id.js';
import { PhoneAccounts, type PhoneAccountsOptions } from './phone-accounts.js';
import { errorResponse, handleServerRequest, pageRoute, type ApiResponse } from './phone-api.js';
import type { PageLink, SimPhone } from './sim-phone.js';

export interface PhoneServerOptions extends PhoneAccountsOptions {
  /** TCP port; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** Listen address. Loopback only: the phone API has no authentication. @defaultValue `'127.0.0.1'` */
  host?: string;
}

export interface PhoneServer {
  /** `http://host:port`: the default account's URL; pass it as `phoneUrl` to the page and use it for the phone API. */
  readonly url: string;
  readonly port: number;
  /** Direct access to the default account's simulated phone (same operations as the HTTP API). */
  readonly phone: SimPhone;
  /** Where the default account is kept, when `stateDir` was given. */
  readonly stateFile: string | undefined;
  /**
   * Direct access to account `id`, created on first use as a request or a page would create it;
   * `account('default')` is {@link phone}. @throws InvalidAccountIdError
   */
  account(id: string): SimPhone;
  /** The base URL of account `id` (`simAccountUrl(url, id)`): its `phoneUrl` and phone API base. */
  accountUrl(id: string): string;
  /** Every account, sorted by id, as `GET /accounts` lists them. */
  listAccounts(): AccountSummary[];
  /** Stop listening, drop every page, write every account file (with `stateDir`); idempotent. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1_000_000;
/** A page's frames carry media uploads and downloads as base64 (a 64 MiB file is about 86 MiB of it). */
const MAX_FRAME_BYTES = 128 * 1024 * 1024;

export async function startPhoneServer(options: PhoneServerOptions = {}): Promise<PhoneServer> {
  const { port: listenPort, host: listenHost, ...accountOptions } = options;
  const accounts = await PhoneAccounts.open(accountOptions);
  const phone = accounts.account(DEFAULT_ACCOUNT_ID);
  const host = listenHost ?? '127.0.0.1';
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  const server = createServer((req, res) => {
    void respond(accounts, req, res);
  });
  server.on('upgrade', (req, socket, head) => {
    let route: ReturnType<typeof pageRoute>;
    try {
      route = pageRoute(accounts, new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch (err) {
      // An event handler: a throw here would take the whole server down.
      route = { refused: errorResponse(500, 'INTERNAL', err instanceof Error ? err.message : 'internal error') };
    }
    if ('refused' in route) {
      refuseUpgrade(socket, route.refused);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => attachPage(route.phone, ws));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await accounts.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    phone,
    stateFile: accounts.stateFile(DEFAULT_ACCOUNT_ID),
    account: (id) => accounts.account(id),
    accountUrl: (id) => simAccountUrl(url, id),
    listAccounts: () => accounts.list(),
    close() {
      closing ??= (async () => {
        // Every step runs even when one throws; the first error is rethrown.
        const steps: (() => unknown)[] = [
          () => accounts.stop(),
          () => {
            for (const client of wss.clients) client.terminate();
            wss.close();
            server.closeAllConnections();
          },
          () => new Promise<void>((resolve) => server.close(() => resolve())),
          () => accounts.close(),
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

/**
 * Answers a refused upgrade with a plain HTTP error in the phone API's shape (the page and `ws` then
 * see the status, e.g. "Unexpected server response: 404", instead of a bare reset), and closes.
 */
function refuseUpgrade(socket: Duplex, response: ApiResponse): void {
  const body = JSON.stringify(response.body);
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
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

async function respond(accounts: PhoneAccounts, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let result: ApiResponse;
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = await readJson(req);
    result = body === INVALID_JSON
      ? errorResponse(400, 'INVALID_JSON', 'Request body is not valid JSON.')
      : handleServerRequest(accounts, req.method ?? 'GET', url, body);
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
