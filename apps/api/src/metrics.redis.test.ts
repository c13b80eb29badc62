import { addDelivery, recordDeadLetter, webhookQueue, WebhookRegistry } from '@waq/shared';
import { promtoolCheckMetrics } from '@waq/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

import { startTestApi, type TestApi } from './testing/test-api.js';

let t: TestApi | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function scrape(api: TestApi): Promise<string> {
  const response = await api.fetch('/metrics');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
  return response.text();
}

describe('GET /metrics', () => {
  it('counts requests by route pattern and status, never by raw path', async () => {
    t = await startTestApi();
    await t.fetch('/v1/messages/some-unknown-id');
    await t.fetch('/v1/messages/another-unknown-id');
    await t.fetch('/v1/session');
    await t.fetch('/no/such/page/unknown-page-name');
    await fetch(`${t.url}/v1/session`); // no key
    const text = await scrape(t);
    expect(text).toContain('waq_http_requests_total{method="GET",route="/v1/messages/:id",status="404"} 2');
    expect(text).toContain('waq_http_requests_total{method="GET",route="/v1/session",status="200"} 1');
    expect(text).toContain('waq_http_requests_total{method="GET",route="/v1/session",status="401"} 1');
    expect(text).toContain('waq_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(text).toMatch(/waq_http_request_duration_seconds_bucket\{le="0.1",method="GET",route="\/v1\/session",status="200"\} 1/);
    expect(text).not.toContain('some-unknown-id');
    // (Not a number: a digit string can appear by chance in process metrics such as byte counts.)
    expect(text).not.toContain('unknown-page-name');
  });

  it('reports queue depths by session and state, each session status one-hot, and Redis up', async () => {
    t = await startTestApi();
    await t.publishState('QR');
    expect((await t.fetch('/v1/sessions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id: 'sales' }) })).status).toBe(201);
    await t.fetch('/v1/sessions/sales/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to: '+4915123456789', text: 'c' }) });
    for (const text of ['a', 'b']) {
      await t.fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to: '+4915123456789', text }) });
    }
    await t.fetch('/v1/session/connect', { method: 'POST' });
    const text = await scrape(t);
    expect(text).toContain('waq_queue_jobs{session="default",queue="outbox",state="prioritized"} 2');
    expect(text).toContain('waq_queue_jobs{session="default",queue="control",state="waiting"} 1');
    expect(text).toContain('waq_queue_jobs{session="default",queue="outbox",state="failed"} 0');
    expect(text).toContain('waq_queue_jobs{session="sales",queue="outbox",state="prioritized"} 1');
    expect(text).toContain('waq_queue_jobs{session="sales",queue="control",state="waiting"} 0');
    expect(text).toContain('waq_session_status{session="default",status="QR"} 1');
    expect(text).toContain('waq_session_status{session="default",status="READY"} 0');
    expect(text).toContain('waq_session_status{session="default",status="WORKER_OFFLINE"} 0');
    expect(text).toContain('waq_session_status{session="sales",status="WORKER_OFFLINE"} 1');
    expect(text).toContain('waq_redis_up 1');
    expect(text).toContain('waq_sse_streams 0');
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('reports each webhook\'s queue, dead letters and whether it is paused', async () => {
    t = await startTestApi();
    const registry = new WebhookRegistry(t.fixture.redis, t.prefix);
    const { subscription } = await registry.create('default', { url: 'https://receiver.example/' });
    const scope = { redis: t.fixture.redis, prefix: t.prefix, sessionId: 'default' };
    const queue = webhookQueue(scope, subscription.id);
    try {
      const envelope = { id: '1-0', type: 'message.incoming' as const, session: 'default', seq: 1, timestamp: new Date().toISOString(), data: {} };
      await addDelivery(queue, { deliveryId: 'msg_a', envelope });
      await addDelivery(queue, { deliveryId: 'msg_b', envelope: { ...envelope, seq: 2 } });
      await recordDeadLetter(scope, subscription.id, { deliveryId: 'msg_0', envelope, attempts: 3, firstAttemptAt: new Date().toISOString(), lastAttemptAt: new Date().toISOString(), status: 500, reason: 'HTTP 500', answer: '' });
      await registry.pause('default', subscription.id, 'failing');
      const text = await scrape(t);
      expect(text).toContain(`waq_webhook_queue_jobs{session="default",webhook="${subscription.id}",state="waiting"} 2`);
      expect(text).toContain(`waq_webhook_queue_jobs{session="default",webhook="${subscription.id}",state="active"} 0`);
      expect(text).toContain(`waq_webhook_dead_letters{session="default",webhook="${subscription.id}"} 1`);
      expect(text).toContain(`waq_webhook_paused{session="default",webhook="${subscription.id}"} 1`);
      expect(await promtoolCheckMetrics(text)).toEqual({ code: 0, output: '' });
    } finally {
      await queue.close();
    }
  });

  it('passes `promtool check metrics` (naming and types), with every series present', async () => {
    t = await startTestApi();
    await t.publishState('READY');
    await t.fetch('/v1/session');
    const text = await scrape(t);
    // Node's default metrics unprefixed (see metrics.ts), without prom-client's gauges named `*_total`.
    expect(text).toContain('\nnodejs_eventloop_lag_seconds ');
    expect(text).toContain('\nprocess_resident_memory_bytes ');
    expect(text).toMatch(/^nodejs_active_handles\{type="[A-Za-z]+"\} \d+$/m);
    expect(text).not.toContain('nodejs_active_handles_total');
    expect(await promtoolCheckMetrics(text)).toEqual({ code: 0, output: '' });
  });
});
