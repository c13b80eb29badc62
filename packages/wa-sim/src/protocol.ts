/**
 * Wire format between the simulated WhatsApp Web page and the phone server (one WebSocket per page at
 * `/ws`). Page → server messages are validated with zod (the page is code we ship, but a stale cached
 * page from an older wa-sim could still connect); server → page messages are typed only.
 */
import { z } from 'zod';

/** A jid as the page sends it: `<number>@c.us`. */
const jid = z.string().regex(/^\d{5,20}@c\.us$/);

/** WhatsApp's media message types (whatsapp-web.js `MessageTypes`). */
export const MEDIA_TYPES = ['image', 'video', 'audio', 'ptt', 'document', 'sticker'] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];

/** A media message's metadata, as the page sends it and as incoming messages carry it (never the bytes). */
export const wireMediaSchema = z.object({
  type: z.enum(MEDIA_TYPES),
  mimetype: z.string(),
  /** Documents only, as in WhatsApp. */
  filename: z.string().optional(),
  size: z.number().int().min(0),
  /** Base64 SHA-256 of the bytes (WhatsApp's `filehash`). */
  filehash: z.string().min(1),
  /** Where the bytes are: what the upload answered. */
  directPath: z.string().min(1),
  caption: z.string().optional(),
  isGif: z.boolean().optional(),
});
export type WireMedia = z.infer<typeof wireMediaSchema>;

export const pageMessageSchema = z.discriminatedUnion('type', [
  /** First message on every connection, and again right after a pairing has been persisted. */
  z.object({ type: z.literal('hello'), deviceId: z.string().min(1).nullable(), version: z.string() }),
  /** An outgoing message (also re-sent after a reconnect until acknowledged: the server dedupes by id). */
  z.object({
    type: z.literal('send'),
    msg: z.object({ id: z.string().min(1), to: jid, body: z.string(), t: z.number().int(), msgType: z.string(), media: wireMediaSchema.optional() }),
  }),
  /** A media file's bytes, before the message that carries it: answered with its `directPath`. */
  z.object({
    type: z.literal('upload'),
    reqId: z.number().int(),
    mediaType: z.string(),
    mimetype: z.string(),
    /** Base64 SHA-256 of the bytes, checked by the server. */
    filehash: z.string().min(1),
    /** The bytes, base64. */
    data: z.string(),
  }),
  /** The bytes at a `directPath` (an incoming message's media): answered with `{ data, mimetype }` or null. */
  z.object({ type: z.literal('download'), reqId: z.number().int(), directPath: z.string().min(1) }),
  /** The page handed an incoming message to whatsapp-web.js: stop re-delivering it. */
  z.object({ type: z.literal('received'), id: z.string().min(1) }),
  z.object({ type: z.literal('query'), reqId: z.number().int(), op: z.literal('exists'), jid: z.string() }),
  /** Linking with a code instead of a QR (whatsapp-web.js `pairWithPhoneNumber` / `requestPairingCode`): answered with the 8-character code. */
  z.object({ type: z.literal('pairing-code'), reqId: z.number().int(), phone: z.string() }),
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
  /** A media message: its metadata (the page fetches the bytes with a `download` when asked). */
  media?: WireMedia;
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
  /** The browser is to act as a Chromium without H.264/AAC (`video: false`), or with them. */
  | { type: 'codecs'; video: boolean }
  | { type: 'result'; reqId: number; ok: true; value: unknown }
  | { type: 'result'; reqId: number; ok: false; error: string };
