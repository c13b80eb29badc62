import { clientNames } from '@waq/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

import { openSse, type SseConnection } from '../testing/sse-client.js';
import { startTestApi, TEST_API_KEY, type TestApi } from '../testing/test-api.js';

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function start(limits = {}): Promise<TestApi> {
  const t = await startTestApi({ limits: { heartbeatMs: 10_000, ...limits } });
  opened.push(t);
  return t;
}

async function stream(t: TestApi, query = '', headers: Record<string, string> = {}): Promise<SseConnection> {
  const sse = await openSse(`${t.url}/v1/session/events${query}`, { Authorization: `Bearer ${TEST_API_KEY}`, ...headers });
  opened.push(sse);
  return sse;
}

const at = () => new Date().toISOString();

/** Clients connected to the test Redis with this connection name (the API's blocking readers). */
/** Connections named `name` (on Redis Cluster, one per node a connection uses). */
async function clientsNamed(t: TestApi, name: string): Promise<number> {
  return (await clientNames(t.fixture.redis)).filter((client) => client === name).length;
}

describe('GET /v1/session/events', () => {
  it('streams new events with their stream id, type and data, after a retry hint', async () => {
    const t = await start();
    await t.publishEvent({ type: 'state', at: at(), status: 'STARTING' }); // before connecting: not replayed
    const sse = await stream(t);
    expect(sse.response.status).toBe(200);
    expect(sse.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(sse.response.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(await sse.next()).toEqual({ retry: 3_000 });
    const id = await t.publishEvent({ type: 'state', at: at(), status: 'QR' });
    const frame = await sse.nextEvent();
    expect(frame).toMatchObject({ id, event: 'state' });
    expect(JSON.parse(frame.data ?? '')).toMatchObject({ status: 'QR' });
    const sent = await t.publishEvent({ type: 'message.sent', at: at(), id: 'm-1', waMessageId: 'true_1' });
    expect(await sse.nextEvent()).toMatchObject({ id: sent, event: 'message.sent' });
  });

  it('replays the newest events first with ?backlog=N', async () => {
    const t = await start();
    const ids: string[] = [];
    for (const status of ['STARTING', 'QR', 'AUTHENTICATED', 'READY'] as const) ids.push(await t.publishEvent({ type: 'state', at: at(), status }));
    const sse = await stream(t, '?backlog=2');
    expect((await sse.nextEvent()).id).toBe(ids[2]);
    expect((await sse.nextEvent()).id).toBe(ids[3]);
    const next = await t.publishEvent({ type: 'qr', at: at(), expiresAt: at() });
    expect((await sse.nextEvent()).id).toBe(next);
  });

  it('resumes after Last-Event-ID, replaying only what came after it', async () => {
    const t = await start();
    const first = await t.publishEvent({ type: 'state', at: at(), status: 'STARTING' });
    const second = await t.publishEvent({ type: 'state', at: at(), status: 'QR' });
    const third = await t.publishEvent({ type: 'qr', at: at(), expiresAt: at() });
    const sse = await stream(t, '?backlog=50', { 'Last-Event-ID': first });
    expect((await sse.nextEvent()).id).toBe(second);
    expect((await sse.nextEvent()).id).toBe(third);
  });

  it('sends a heartbeat comment while idle', async () => {
    const t = await start({ heartbeatMs: 50 });
    const sse = await stream(t);
    await sse.next(); // retry
    expect(await sse.next()).toEqual({ comment: 'heartbeat' });
  });

  it('skips entries that are not valid events', async () => {
    const t = await start();
    const sse = await stream(t);
    await sse.next();
    await t.fixture.redis.xadd(t.keys.events, '*', 'type', 'state', 'data', '{not json');
    await t.fixture.redis.xadd(t.keys.events, '*', 'type', 'bogus', 'data', '{}');
    const good = await t.publishEvent({ type: 'state', at: at(), status: 'READY' });
    expect((await sse.nextEvent()).id).toBe(good);
  });

  it('holds one Redis connection per stream and closes it when the client goes', async () => {
    const t = await start();
    const before = await clientsNamed(t, 'waq-api-sse');
    const a = await stream(t);
    const b = await stream(t);
    await a.next();
    await b.next();
    expect(await clientsNamed(t, 'waq-api-sse')).toBeGreaterThanOrEqual(before + 2);
    a.close();
    b.close();
    // Both streams' connections go (other API tests running at the same time may hold streams of their own).
    await expect.poll(() => clientsNamed(t, 'waq-api-sse')).toBeLessThanOrEqual(before);
  });

  it('refuses streams beyond the cap with 503 and Retry-After, and takes new ones once a slot frees', async () => {
    const t = await start({ maxStreams: 2 });
    const a = await stream(t);
    await stream(t);
    const refused = await t.fetch('/v1/session/events');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ error: { code: 'too_many_streams' } });
    a.close();
    await expect.poll(async () => {
      const response = await t.fetch('/v1/session/events');
      await response.body?.cancel();
      return response.status;
    }).toBe(200);
  });

  it('answers 422 for a bad Last-Event-ID or backlog', async () => {
    const t = await start();
    const badId = await t.fetch('/v1/session/events', { headers: { 'Last-Event-ID': '0 STREAMS x' } });
    expect(badId.status).toBe(422);
    expect(await badId.json()).toMatchObject({ error: { code: 'invalid_last_event_id', details: [{ path: 'Last-Event-ID' }] } });
    for (const backlog of ['-1', '101', 'many', '1.5', '%20', '', '0x10', '1e1', '+5']) {
      const response = await t.fetch(`/v1/session/events?backlog=${backlog}`);
      expect(response.status).toBe(422);
      expect(await response.json()).toMatchObject({ error: { details: [{ path: 'backlog' }] } });
    }
  });

  it('ends open streams when the API shuts down', async () => {
    const t = await start();
    const sse = await stream(t);
    await sse.next();
    t.api.endStreams();
    await expect(sse.next(5_000)).rejects.toThrow(/ended/);
  });
});
