import { describe, expect, it } from 'vitest';

import {
  ConfigError,
  IdempotencyConflictError,
  InvalidPayloadError,
  AccountChangedError,
  LeaseLostError,
  SessionNotReadyError,
  UnknownJobError,
  UnregisteredRecipientError,
  backoffDelay,
  failureOf,
  retryClassOf,
} from './errors.js';

describe('retry taxonomy', () => {
  it.each([
    [new InvalidPayloadError([{ path: 'to', message: 'bad' }]), 'unrecoverable', 'InvalidPayloadError', 'invalid_payload'],
    [new UnknownJobError('x', ['send']), 'unrecoverable', 'UnknownJobError', 'unknown_job'],
    [new UnregisteredRecipientError(), 'unrecoverable', 'UnregisteredRecipientError', 'recipient_not_on_whatsapp'],
    [new IdempotencyConflictError('k'), 'unrecoverable', 'IdempotencyConflictError', 'idempotency_conflict'],
    [new ConfigError([]), 'unrecoverable', 'ConfigError', 'invalid_config'],
    [new SessionNotReadyError('QR'), 'held', 'SessionNotReadyError', 'session_not_ready'],
    [new LeaseLostError('default'), 'held', 'LeaseLostError', 'lease_lost'],
    [new AccountChangedError(), 'unrecoverable', 'AccountChangedError', 'account_changed'],
    [new Error('socket hang up'), 'retryable', 'Error', undefined],
    ['a string', 'retryable', undefined, undefined],
  ])('%s is %s', (error, retry, name, code) => {
    expect(retryClassOf(error)).toBe(retry);
    if (error instanceof Error) expect(error.name).toBe(name);
    if (code !== undefined) expect(error).toHaveProperty('code', code);
  });

  it('carries a failure as data: our code, or send_failed for anything else', () => {
    expect(failureOf(new UnregisteredRecipientError())).toEqual({ code: 'recipient_not_on_whatsapp', message: expect.stringMatching(/not registered on WhatsApp/) });
    expect(failureOf(new Error('socket hang up'))).toEqual({ code: 'send_failed', message: 'socket hang up' });
    expect(failureOf('boom')).toEqual({ code: 'send_failed', message: 'boom' });
  });

  it('says which field is wrong', () => {
    expect(new InvalidPayloadError([{ path: 'to', message: 'has no country code' }], 'message').message).toBe('invalid message: to: has no country code');
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt between half and all of the exponential delay, up to the cap', () => {
    const options = { baseMs: 1_000, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, { ...options, random: () => 0 }))).toEqual([500, 1_000, 2_000, 4_000, 5_000, 5_000]);
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, { ...options, random: () => 0.999_999 }))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
  });

  it('spreads retries out', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(3, { baseMs: 1_000, maxMs: 60_000 })));
    expect(delays.size).toBeGreaterThan(10);
  });
});
