import { describe, expect, expectTypeOf, it } from 'vitest';

import { InvalidPayloadError, UnknownJobError } from './errors.js';
import { JOB_NAMES, idempotencyKeySchema, jobCatalog, parseJobPayload, parseQueuedJob, type JobHandlers, type JobPayload } from './jobs.js';

describe('job catalog', () => {
  it('has connect, logout and restart on the control queue and send on the outbox', () => {
    expect(Object.fromEntries(JOB_NAMES.map((name) => [name, jobCatalog[name].queue]))).toEqual({
      connect: 'control',
      logout: 'control',
      restart: 'control',
      send: 'outbox',
    });
  });

  it('derives the handler map type from the catalog', () => {
    expectTypeOf<keyof JobHandlers<unknown>>().toEqualTypeOf<'connect' | 'logout' | 'restart' | 'send'>();
    expectTypeOf<JobPayload<'send'>>().toEqualTypeOf<{ to: string; text: string; acceptedAt?: string | undefined }>();
  });

  it('gives sends the configured attempts and retention, with jittered exponential backoff', () => {
    const options = jobCatalog.send.options({ sendMaxAttempts: 7, retentionSeconds: 60 });
    expect(options).toMatchObject({ attempts: 7, backoff: { type: 'exponential', jitter: 0.5 }, removeOnComplete: { age: 60 } });
    expect(jobCatalog.connect.options({ sendMaxAttempts: 7, retentionSeconds: 60 })).toMatchObject({ attempts: 1, deduplication: { id: 'connect' } });
  });
});

describe('send payload', () => {
  it('normalises the recipient and keeps the text', () => {
    expect(parseJobPayload('send', { to: '+49 151 23456789', text: 'hi *there*' })).toEqual({ to: '4915123456789@c.us', text: 'hi *there*' });
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
