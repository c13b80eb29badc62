import { createRedis, IdempotencyConflictError, InvalidPayloadError, SessionNotFoundError } from '@waq/shared';
import { afterEach, describe, expect, it } from 'vitest';

import { errorFromThrown, isRedisConnectionError } from './thrown-error.js';

const connections: { disconnect(): void }[] = [];
afterEach(() => {
  for (const c of connections.splice(0)) c.disconnect();
});

describe('errorFromThrown', () => {
  it('maps what the fail-fast producer connection throws while Redis is unreachable to 503 + Retry-After', async () => {
    const redis = createRedis({ url: 'redis://127.0.0.1:1', role: 'producer', name: 'test-dead' });
    connections.push(redis);
    const error = await redis.get('x').catch((e: unknown) => e);
    expect(isRedisConnectionError(error)).toBe(true);
    expect(errorFromThrown(error)).toEqual({
      status: 503,
      body: { error: { code: 'redis_unavailable', message: expect.stringContaining('retry later') } },
      headers: { 'Retry-After': '5' },
    });
    expect(isRedisConnectionError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRedisConnectionError(Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' }))).toBe(true);
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
  });

  it('maps domain errors to their status with the fields at fault', () => {
    expect(errorFromThrown(new InvalidPayloadError([{ path: 'to', message: 'bad' }]))).toMatchObject({ status: 422, body: { error: { code: 'invalid_payload', details: [{ path: 'to' }] } } });
    expect(errorFromThrown(new IdempotencyConflictError('k'))).toMatchObject({ status: 409, body: { error: { code: 'idempotency_conflict' } } });
    expect(errorFromThrown(new SessionNotFoundError('sales'))).toMatchObject({ status: 404, body: { error: { code: 'session_not_found', message: expect.stringContaining('POST /v1/sessions') } } });
  });

  it('maps body-parser failures to 4xx, and leaves anything else to the 500 handler', () => {
    expect(errorFromThrown(Object.assign(new Error('x'), { status: 400, type: 'entity.parse.failed' }))?.status).toBe(400);
    expect(errorFromThrown(Object.assign(new Error('x'), { status: 413, type: 'entity.too.large' }))?.status).toBe(413);
    expect(errorFromThrown(Object.assign(new Error('x'), { status: 415, type: 'encoding.unsupported' }))?.status).toBe(415);
    expect(errorFromThrown(Object.assign(new Error('x'), { status: 400, type: 'something.new' }))).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(errorFromThrown(new TypeError('a bug'))).toBeUndefined();
    expect(errorFromThrown('a string')).toBeUndefined();
  });
});
