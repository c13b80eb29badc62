/** Test helper: a bare WebSocket standing in for the simulated WhatsApp Web page of one account. */
import WebSocket from 'ws';

import type { ServerMessage } from '../protocol.js';

export interface PageSocket {
  readonly ws: WebSocket;
  /** Every message the phone server sent to this page, in order. */
  readonly received: ServerMessage[];
}

/** Opens `<base>/ws` (`base`: an account URL) and resolves once it is open. */
export async function openPageSocket(base: string): Promise<PageSocket> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
  const received: ServerMessage[] = [];
  ws.on('message', (data) => received.push(JSON.parse(data.toString()) as ServerMessage));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, received };
}
