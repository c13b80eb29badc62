/**
 * Redis unreachable: every route that needs it answers 503 with Retry-After, at once, whether Redis
 * was never there or went away after start; the API recovers when it is back.
 */
import { testRedisUrl } from '@waq/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

import { openSse } from '../testing/sse-client.js';
import { startTcpProxy, type TcpProxy } from '../testing/tcp-proxy.js';
import { startTestApi, TEST_API_KEY, type TestApi } from '../testing/test-api.js';

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

const REDIS_ROUTES: [string, string, RequestInit?][] = [
  ['POST', '/v1/messages', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to: '+4915123456789', text: 'hi' }) }],
  ['GET', '/v1/messages/m-1'],
  ['GET', '/v1/session'],
  ['POST', '/v1/session/connect'],
  ['POST', '/v1/session/connect?wait=true'],
  ['POST', '/v1/session/logout'],
  ['GET', '/v1/session/qr'],
  ['GET', '/v1/session/events'],
  ['GET', '/readyz'],
];

async function expectAllUnavailable(t: TestApi): Promise<void> {
  for (const [method, path, init = {}] of REDIS_ROUTES) {
    const started = Date.now();
    const response = await t.fetch(path, { ...init, method });
    expect({ path, status: response.status }).toEqual({ path, status: 503 });
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toMatchObject({ error: { code: 'redis_unavailable' } });
    expect(Date.now() - started).toBeLessThan(2_500);
  }
}

function redisTarget(url: string): { host: string; port: number } {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port || 6379) };
}

describe('Redis down', () => {
  it('answers 503 at once when Redis was never reachable, and still serves pages and /metrics', async () => {
    const t = await startTestApi({ apiRedisUrl: 'redis://127.0.0.1:1' });
    opened.push(t);
    await expectAllUnavailable(t);
    expect((await t.fetch('/healthz')).status).toBe(200);
    expect((await t.fetch('/')).status).toBe(200);
    const metrics = await (await t.fetch('/metrics')).text();
    expect(metrics).toContain('waq_redis_up 0');
  });

  it('answers 503 when Redis goes away after start, ends open event streams, and recovers', async () => {
    const proxy: TcpProxy = await startTcpProxy(redisTarget(testRedisUrl()));
    opened.push(proxy);
    const t = await startTestApi({ apiRedisUrl: proxy.url });
    opened.push(t);
    await expect.poll(async () => (await t.fetch('/v1/session')).status).toBe(200);
    const sse = await openSse(`${t.url}/v1/session/events`, { Authorization: `Bearer ${TEST_API_KEY}` });
    opened.push(sse);
    await sse.next();

    await proxy.cut();
    await expect(sse.next(5_000)).rejects.toThrow(/ended/);
    await expectAllUnavailable(t);

    await proxy.restore();
    await expect.poll(async () => (await t.fetch('/v1/session')).status, { timeout: 10_000 }).toBe(200);
    const sent = await t.fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to: '+4915123456789', text: 'after' }) });
    expect(sent.status).toBe(202);
  });
});
