import { describe, expect, expectTypeOf, it } from 'vitest';

import { InvalidPayloadError, UnknownJobError } from './errors.js';
import { JOB_NAMES, idempotencyKeySchema, jobCatalog, parseJobPayload, parseQueuedJob, type JobHandlers, type JobPayload, type MediaRef } from './jobs.js';

describe('job catalog', () => {
  it('has connect, logout and restart on the control queue and send on the outbox', () => {
    expect(Object.fromEntries(JOB_NAMES.map((name) => [name, jobCatalog[name].queue]))).toEqual({
      connect: 'control',
      logout: 'control',
      restart: 'control',
      check: 'control',
      send: 'outbox',
    });
  });

  it('derives the handler map type from the catalog', () => {
    expectTypeOf<keyof JobHandlers<unknown>>().toEqualTypeOf<'connect' | 'logout' | 'restart' | 'check' | 'send'>();
    expectTypeOf<JobPayload<'send'>>().toEqualTypeOf<{
      to: string;
      text?: string | undefined;
      media?: MediaRef | undefined;
      asDocument?: boolean | undefined;
      asVoice?: boolean | undefined;
      asSticker?: boolean | undefined;
      acceptedAt?: string | undefined;
      expiresAt?: string | undefined;
      sendAt?: string | undefined;
      priority?: 'high' | 'normal' | 'low' | undefined;
      typing?: boolean | undefined;
    }>();
  });

  const config = { sendMaxAttempts: 7, retentionSeconds: 60 };
  const now = Date.parse('2026-12-07T12:00:00Z');

  it('gives sends the configured attempts and retention, with jittered exponential backoff', () => {
    const options = jobCatalog.send.options(config, { to: '4915123456789@c.us', text: 'x' }, now);
    expect(options).toMatchObject({ attempts: 7, backoff: { type: 'exponential', jitter: 0.5 }, removeOnComplete: { age: 60 } });
    expect(options).not.toHaveProperty('delay');
    expect(jobCatalog.connect.options(config, {}, now)).toMatchObject({ attempts: 1, deduplication: { id: 'connect' } });
  });

  it('queues a send with the BullMQ priority of its level (normal by default), and delays a scheduled one until sendAt', () => {
    const options = (payload: Partial<JobPayload<'send'>>) => jobCatalog.send.options(config, { to: '4915123456789@c.us', text: 'x', ...payload }, now);
    expect([options({ priority: 'high' }), options({}), options({ priority: 'low' })].map((o) => o.priority)).toEqual([1, 2, 3]);
    expect(options({ sendAt: '2026-12-07T12:01:30Z' }).delay).toBe(90_000);
    // Already due (a producer's clock ahead of this one): no negative delay.
    expect(options({ sendAt: '2026-12-07T11:59:00Z' }).delay).toBe(0);
  });
});

const PNG_REF = { mediaId: `md_${'a'.repeat(26)}`, mimetype: 'image/png', size: 70, sha256: 'e'.repeat(64) };

describe('send payload', () => {
  it('normalises the recipient and keeps the text', () => {
    expect(parseJobPayload('send', { to: '+49 151 23456789', text: 'hi *there*' })).toEqual({ to: '4915123456789@c.us', text: 'hi *there*' });
  });

  it('takes a file reference with an optional caption and one mode', () => {
    expect(parseJobPayload('send', { to: '+49 151 23456789', media: PNG_REF, text: 'look' })).toEqual({ to: '4915123456789@c.us', media: PNG_REF, text: 'look' });
    expect(parseJobPayload('send', { to: '+49 151 23456789', media: PNG_REF, asSticker: true })).toMatchObject({ asSticker: true });
  });

  it('strips unknown fields so older workers serve newer producers', () => {
    expect(parseJobPayload('send', { to: '4915123456789@c.us', text: 'x', futureField: 1 })).not.toHaveProperty('futureField');
  });

  it.each([
    [{ text: 'x' }, 'to'],
    [{ to: '0151 2345678', text: 'x' }, 'to'],
    [{ to: '+4915123456789' }, 'text'],
    [{ to: '+4915123456789', text: '' }, 'text'],
    [{ to: '+4915123456789', text: 'x'.repeat(65_537) }, 'text'],
    [{ to: '+4915123456789', text: 42 }, 'text'],
    [{ to: '+4915123456789', text: 'x', acceptedAt: 'yesterday' }, 'acceptedAt'],
    [{ to: '+4915123456789', media: { ...PNG_REF, mediaId: '../etc' } }, 'media.mediaId'],
    [{ to: '+4915123456789', media: { ...PNG_REF, sha256: 'abc' } }, 'media.sha256'],
    [{ to: '+4915123456789', text: 'x', asDocument: true }, 'asDocument'],
    [{ to: '+4915123456789', media: PNG_REF, asDocument: true, asSticker: true }, 'asSticker'],
    [{ to: '+4915123456789', media: PNG_REF, asVoice: true }, 'asVoice'],
    [{ to: '+4915123456789', media: { ...PNG_REF, mimetype: 'application/pdf' }, asSticker: true }, 'asSticker'],
    [{ to: '+4915123456789', media: PNG_REF, asSticker: true, text: 'caption' }, 'text'],
    [{ to: '+4915123456789', text: 'x', expiresAt: 'in an hour' }, 'expiresAt'],
    [{ to: '+4915123456789', text: 'x', sendAt: '2026-13-01T00:00:00Z' }, 'sendAt'],
    [{ to: '+4915123456789', text: 'x', sendAt: '2026-12-07T12:00:00Z', expiresAt: '2026-12-07T11:00:00Z' }, 'expiresAt'],
    [{ to: '+4915123456789', text: 'x', priority: 'urgent' }, 'priority'],
    [{ to: '+4915123456789', text: 'x', typing: 'yes' }, 'typing'],
  ])('rejects %j naming the field %s', (data, field) => {
    let error: unknown;
    try {
      parseJobPayload('send', data);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as InvalidPayloadError).problems.map((p) => p.path)).toContain(field);
    expect((error as InvalidPayloadError).retry).toBe('unrecoverable');
  });

  it.each([null, 'text', 42, []])('rejects a payload that is not an object (%j)', (data) => {
    expect(() => parseJobPayload('send', data)).toThrow(InvalidPayloadError);
  });
});

describe('parseQueuedJob', () => {
  it('accepts a catalog job on its own queue', () => {
    expect(parseQueuedJob('control', 'connect', {})).toEqual({ name: 'connect', payload: {} });
    expect(parseQueuedJob('outbox', 'send', { to: '+4915123456789', text: 'x' }).name).toBe('send');
  });

  it('rejects unknown names and jobs on the wrong queue as unrecoverable', () => {
    expect(() => parseQueuedJob('outbox', 'sendMedia', {})).toThrow(UnknownJobError);
    expect(() => parseQueuedJob('outbox', 'connect', {})).toThrow(/expected one of send/);
    expect(() => parseQueuedJob('control', 'send', {})).toThrow(/expected one of connect, logout, restart/);
    expect(() => parseQueuedJob('control', '__proto__', {})).toThrow(UnknownJobError);
  });
});

describe('idempotencyKeySchema', () => {
  it.each(['order-123', 'a', 'A.b_c~d-e', 'x'.repeat(128), '550e8400-e29b-41d4-a716-446655440000'])('accepts %j', (key) => {
    expect(idempotencyKeySchema.safeParse(key).success).toBe(true);
  });

  it.each([['', /1-128/], ['x'.repeat(129), /1-128/], ['a:b', /1-128/], ['a b', /1-128/], ['12345', /only digits/]])('rejects %j', (key, message) => {
    expect(idempotencyKeySchema.safeParse(key).error?.issues[0]?.message).toMatch(message);
  });
});
