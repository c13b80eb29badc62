/**
 * What a webhook posts: one envelope per session event,
 *
 *   { "id": "<event id>", "type": "message.incoming", "session": "sales", "seq": 42, "timestamp": "…", "data": { … } }
 *
 * `id` is the event's id in the session's event stream (the SSE `id:` too); `seq` is the event's place
 * among the events one subscription receives: it grows by one per event posted to that subscription,
 * so a receiver tells a gap (a number skipped) from a redelivery (a number seen, with the same
 * `webhook-id` header). The session's own event types map to the webhook's: `state` → `session.status`,
 * `qr` → `session.qr` (that a new code is shown and until when; the code itself is read from the API).
 */
import type { SessionEvent } from './events.js';
import type { WebhookEventType } from './webhook-registry.js';

export interface WebhookEnvelope {
  readonly id: string;
  readonly type: WebhookEventType;
  readonly session: string;
  readonly seq: number;
  readonly timestamp: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** The webhook type and data of a session event; null for the events webhooks do not post (`webhook.paused`: to whom?). */
export function webhookEventOf(event: SessionEvent): { type: WebhookEventType; timestamp: string; data: Record<string, unknown> } | null {
  const { type, at, ...data } = event;
  switch (type) {
    case 'state':
      return { type: 'session.status', timestamp: at, data };
    case 'qr':
      return { type: 'session.qr', timestamp: at, data };
    case 'pairing_code':
      // A way to link the device, like a QR code: the same opt-in event, said apart by its data.
      return { type: 'session.qr', timestamp: at, data: { ...data, pairingCode: true } };
    case 'webhook.paused':
      return null;
    default:
      return { type, timestamp: at, data };
  }
}

/** The envelope of a session event webhooks post (see `webhookEventOf`). */
export function webhookEnvelope(session: string, eventId: string, seq: number, event: SessionEvent): WebhookEnvelope | null {
  const mapped = webhookEventOf(event);
  return mapped === null ? null : { id: eventId, type: mapped.type, session, seq, timestamp: mapped.timestamp, data: mapped.data };
}
