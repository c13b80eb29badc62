/**
 * Session events: an append-only Redis stream per session (`keys.events`), trimmed with
 * `XADD … MAXLEN ~ EVENTS_MAX_LEN`. Each entry has two fields: `type` and `data` (JSON). The stream
 * id is the event id: SSE clients resume with `Last-Event-ID`.
 *
 * Events never carry QR values or message bodies' secrets beyond what the event is about: a `qr`
 * event says a new code exists (read it from the state); `message.incoming` carries the text because
 * that is its purpose (logs redact it).
 */
import { z } from 'zod';

import { sessionStatusSchema } from './state.js';

const at = z.iso.datetime();

/** WhatsApp delivery acks as whatsapp-web.js numbers them (`MessageAck`). */
export const ACK_LEVELS = { error: -1, pending: 0, server: 1, device: 2, read: 3, played: 4 } as const;
export type AckName = keyof typeof ACK_LEVELS;
export const ackNameSchema = z.enum(Object.keys(ACK_LEVELS) as [AckName, ...AckName[]]);

export const sessionEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('state'),
    at,
    status: sessionStatusSchema,
    reason: z.string().optional(),
  }),
  z.object({ type: z.literal('qr'), at, expiresAt: at }),
  /** A pairing code to enter on the phone is shown (read it from the state), until `expiresAt`. */
  z.object({ type: z.literal('pairing_code'), at, expiresAt: at }),
  z.object({ type: z.literal('message.sent'), at, id: z.string(), waMessageId: z.string() }),
  z.object({ type: z.literal('message.failed'), at, id: z.string(), code: z.string(), reason: z.string() }),
  /** Withdrawn before it was sent (`DELETE …/messages/:id`). */
  z.object({ type: z.literal('message.cancelled'), at, id: z.string() }),
  z.object({ type: z.literal('message.ack'), at, id: z.string().optional(), waMessageId: z.string(), ack: ackNameSchema }),
  /** A webhook of the session was paused after its deliveries kept failing (resume it with PATCH `enabled: true`). */
  z.object({ type: z.literal('webhook.paused'), at, webhookId: z.string(), reason: z.string() }),
  z.object({
    type: z.literal('message.incoming'),
    at,
    waMessageId: z.string(),
    from: z.string(),
    /** The text; for a file, its caption ('' without one). */
    body: z.string(),
    timestamp: z.number().int(),
    /**
     * A file the contact sent: stored in the session's media store (read it at `url`, a path on the API,
     * until MEDIA_RETENTION_S), or, when it could not be downloaded, its `type` and the `error`.
     */
    media: z
      .union([
        z.object({ mediaId: z.string(), mimetype: z.string(), size: z.number().int(), sha256: z.string(), filename: z.string().optional(), url: z.string() }),
        z.object({ type: z.string(), error: z.string() }),
      ])
      .optional(),
  }),
]);
export type SessionEvent = z.infer<typeof sessionEventSchema>;
export type SessionEventType = SessionEvent['type'];

export interface StoredEvent {
  /** Redis stream id, e.g. `1732500000000-0`. */
  readonly id: string;
  readonly event: SessionEvent;
}

/** Stream fields for XADD. */
export function encodeEvent(event: SessionEvent): [string, string, string, string] {
  const { type, ...data } = event;
  return ['type', type, 'data', JSON.stringify(data)];
}

/** Decodes one XRANGE/XREAD entry; entries that do not parse (foreign writers, old versions) are skipped. */
export function decodeEvent(id: string, fields: readonly string[]): StoredEvent | null {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
  const type = map.get('type');
  const data = map.get('data');
  if (type === undefined || data === undefined) return null;
  try {
    const parsed = sessionEventSchema.safeParse({ ...(JSON.parse(data) as object), type });
    return parsed.success ? { id, event: parsed.data } : null;
  } catch {
    return null;
  }
}
