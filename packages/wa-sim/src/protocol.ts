/**
 * Wire format between the simulated WhatsApp Web page and the phone server (one WebSocket per page at
 * `/ws`). Page → server messages are validated with zod (the page is code we ship, but a stale cached
 * page from an older wa-sim could still connect); server → page messages are typed only.
 */
import { z } from 'zod';

/** A jid as the page sends it: `<number>@c.us`. */
const jid = z.string().regex(/^\d{5,20}@c\.us$/);

export const pageMessageSchema = z.discriminatedUnion('type', [
  /** First message on every connection, and again right after a pairing has been persisted. */
  z.object({ type: z.literal('hello'), deviceId: z.string().min(1).nullable(), version: z.string() }),
  /** An outgoing message (also re-sent after a reconnect until acknowledged: the server dedupes by id). */
  z.object({
    type: z.literal('send'),
    msg: z.object({ id: z.string().min(1), to: jid, body: z.string(), t: z.number().int(), msgType: z.string() }),
  }),
  /** The page handed an incoming message to whatsapp-web.js: stop re-delivering it. */
  z.object({ type: z.literal('received'), id: z.string().min(1) }),
  z.object({ type: z.literal('query'), reqId: z.number().int(), op: z.literal('exists'), jid: z.string() }),
  /** The gateway called `client.logout()`. */
  z.object({ type: z.literal('unlink'), reqId: z.number().int() }),
  z.object({ type: z.literal('refresh-qr') }),
  z.object({ type: z.literal('chatstate'), to: z.string(), state: z.enum(['typing', 'recording', 'stop']) }),
]);
export type PageMessage = z.infer<typeof pageMessageSchema>;

/** A message as the page rebuilds it (history sync and incoming delivery). */
export interface WireMessage {
  id: string;
  /** The other party's jid (`<number>@c.us`). */
  chat: string;
  fromMe: boolean;
  body: string;
  /** Unix seconds, like WhatsApp's `t`. */
  t: number;
  ack: number;
}

export type ServerMessage =
  | { type: 'unpaired'; ref: string }
  | { type: 'ref'; ref: string }
  | { type: 'paired'; deviceId: string; me: string; lid: string; pushname: string }
  | {
      type: 'welcome';
      deviceId: string;
      me: string;
      lid: string;
      pushname: string;
      history: WireMessage[];
      pending: WireMessage[];
    }
  | { type: 'ack'; id: string; ack: number }
  | { type: 'incoming'; msg: WireMessage }
  | { type: 'logout' }
  | { type: 'result'; reqId: number; ok: true; value: unknown }
  | { type: 'result'; reqId: number; ok: false; error: string };
