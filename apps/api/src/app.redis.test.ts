import { describe, expect, it, vi } from 'vitest';

import { startTestApiForTest, type TestApi } from './testing/test-api.js';

const start = startTestApiForTest;

describe('health endpoints', () => {
  it('answers /healthz with the version and /readyz when Redis is up, without a key', async () => {
    const { url } = await start();
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', version: '9.9.9' });
    await vi.waitFor(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), { timeout: 5_000 });
  });

  it('answers /readyz with 503 and Retry-After when Redis is down, and /healthz still 200', async () => {
    const { url } = await start({ apiRedisUrl: 'redis://127.0.0.1:1' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(await ready.json()).toMatchObject({ error: { code: 'redis_unavailable' } });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('answers unknown routes with a JSON 404 and sets security headers and a request id', async () => {
    const t = await start();
    const response = await t.fetch('/no/such/route', { headers: { 'X-Request-Id': 'trace-123' } });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'not_found', message: expect.stringContaining('GET /no/such/route') } });
    expect(response.headers.get('x-request-id')).toBe('trace-123');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(response.headers.get('x-powered-by')).toBeNull();
  });
});
