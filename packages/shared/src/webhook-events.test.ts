import { describe, expect, it } from 'vitest';

import type { SessionEvent } from './events.js';
import { WEBHOOK_EVENT_TYPES } from './webhook-registry.js';
import { webhookEnvelope, webhookEventOf } from './webhook-events.js';

const at = '2026-12-04T18:00:00.000Z';

describe('webhook envelopes', () => {
  it('map every session event to a webhook event type', () => {
    const events: SessionEvent[] = [
      { type: 'state', at, status: 'READY' },
      { type: 'qr', at, expiresAt: at },
      { type: 'message.sent', at, id: 'm1', waMessageId: 'w1' },
      { type: 'message.failed', at, id: 'm2', code: 'send_failed', reason: 'x' },
      { type: 'message.cancelled', at, id: 'm3' },
      { type: 'message.ack', at, id: 'm1', waMessageId: 'w1', ack: 'read' },
      { type: 'message.incoming', at, waMessageId: 'w2', from: '+4915123456789', body: 'hi', timestamp: 1 },
    ];
    expect(events.map((event) => webhookEventOf(event)?.type).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    expect(webhookEventOf({ type: 'webhook.paused', at, webhookId: 'wh_x', reason: 'failing' })).toBeNull();
  });

  it('carry the event id, the session, the seq, the event time and the data without the type', () => {
    expect(webhookEnvelope('sales', '1733335200000-0', 7, { type: 'state', at, status: 'DISCONNECTED', reason: 'phone offline' })).toEqual({
      id: '1733335200000-0',
      type: 'session.status',
      session: 'sales',
      seq: 7,
      timestamp: at,
      data: { status: 'DISCONNECTED', reason: 'phone offline' },
    });
    expect(webhookEnvelope('sales', '1-0', 1, { type: 'message.ack', at, waMessageId: 'w1', ack: 'device' })?.data).toEqual({ waMessageId: 'w1', ack: 'device' });
  });
});
