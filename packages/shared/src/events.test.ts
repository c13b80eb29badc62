import { describe, expect, it } from 'vitest';

import { decodeEvent, encodeEvent, type SessionEvent } from './events.js';

const at = '2026-01-02T03:04:05.000Z';

describe('event codec', () => {
  it.each<SessionEvent>([
    { type: 'state', at, status: 'READY' },
    { type: 'state', at, status: 'DISCONNECTED', reason: 'NAVIGATION' },
    { type: 'qr', at, expiresAt: at },
    { type: 'message.sent', at, id: 'm1', waMessageId: 'true_49@c.us_ABC' },
    { type: 'message.failed', at, id: 'm1', code: 'recipient_not_on_whatsapp', reason: 'not registered' },
    { type: 'message.ack', at, id: 'm1', waMessageId: 'true_49@c.us_ABC', ack: 'read' },
    { type: 'message.incoming', at, waMessageId: 'false_49@c.us_X', from: '4915123456789@c.us', body: 'hi', timestamp: 1_700_000_000 },
  ])('round-trips %j through stream fields', (event) => {
    expect(decodeEvent('1-0', encodeEvent(event))).toEqual({ id: '1-0', event });
  });

  it.each([
    [['type', 'state']],
    [['data', '{}']],
    [['type', 'state', 'data', 'not json']],
    [['type', 'telepathy', 'data', JSON.stringify({ at })]],
    [['type', 'state', 'data', JSON.stringify({ at, status: 'ONLINE' })]],
    [['type', 'state', 'data', 'null']],
  ])('skips a foreign or corrupt entry %j', (fields) => {
    expect(decodeEvent('1-0', fields)).toBeNull();
  });
});
