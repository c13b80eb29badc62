import type { AddressInfo } from 'node:net';
import { createServer, type RequestListener, type Server } from 'node:http';

export interface ListeningServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves `handler` (an Express app or a plain listener) on a free loopback port. */
export async function listen(handler: RequestListener | Server): Promise<ListeningServer> {
  const server = typeof handler === 'function' ? createServer(handler) : handler;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
