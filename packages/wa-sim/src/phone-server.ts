/**
 * The phone server: HTTP (phone API) + WebSocket (`/ws`, one per simulated WhatsApp Web page) on one
 * loopback port. Run it in-process with {@link startPhoneServer} or as its own process (cli.ts) so it
 * outlives gateway crashes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorResponse, handlePhoneRequest, type ApiResponse } from './phone-api.js';
import { SimPhone, type PageLink, type SimPhoneOptions } from './sim-phone.js';

export interface PhoneServerOptions extends SimPhoneOptions {
  /** TCP port; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** Listen address. Loopback only: the phone API has no authentication. @defaultValue `'127.0.0.1'` */
  host?: string;
}

export interface PhoneServer {
  /** `http://host:port`: pass it as `phoneUrl` to the page and use it for the phone API. */
  readonly url: string;
  readonly port: number;
  /** Direct access to the simulated phone (same operations as the HTTP API). */
  readonly phone: SimPhone;
  /** Stop listening and drop every page; idempotent. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1_000_000;

export async function startPhoneServer(options: PhoneServerOptions = {}): Promise<PhoneServer> {
  const phone = new SimPhone(options);
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

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    phone,
    close() {
      closing ??= (async () => {
        phone.close();
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
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
