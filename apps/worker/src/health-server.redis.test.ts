import { createRedis, createSessionQueues, type RedisClient } from '@waq/shared';
import { listen, promtoolCheckMetrics, testRedisUrl, uniquePrefix, type ListeningServer } from '@waq/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

import { createHealthServer } from './health-server.js';
import { WorkerMetrics } from './metrics.js';

const opened: { server: ListeningServer; redis: RedisClient }[] = [];

async function start(url: string): Promise<string> {
  const redis = createRedis({ url, role: 'producer', name: 'worker-health-test' });
  const server = await listen(createHealthServer({ redis, version: '1.0.0' }));
  opened.push({ server, redis });
  return server.url;
}

afterEach(async () => {
  for (const { server, redis } of opened.splice(0)) {
    await server.close();
    redis.disconnect();
  }
});

describe('worker health server', () => {
  it('answers /healthz, /readyz and a JSON 404', async () => {
    const url = await start(testRedisUrl());
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok', version: '1.0.0' });
    await expect.poll(async () => (await fetch(`${url}/readyz`)).status, { timeout: 5_000 }).toBe(200);
    const missing = await fetch(`${url}/admin`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('is not ready while Redis is unreachable', async () => {
    const url = await start('redis://127.0.0.1:1');
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});

describe('worker metrics', () => {
  it('serves status, lease, sends and queue depths by session, and the pool gauges, on /metrics, `promtool check metrics` clean; a session that leaves takes its series along', async () => {
    const redis = createRedis({ url: testRedisUrl(), role: 'consumer', name: 'worker-metrics-test' });
    const prefix = uniquePrefix();
    const sales = createSessionQueues(redis, { prefix, sessionId: 'sales' });
    const support = createSessionQueues(redis, { prefix, sessionId: 'support' });
    try {
      await sales.outbox.add('send', { to: '4915100000001@c.us', text: 'x' });
      const metrics = new WorkerMetrics();
      metrics.watchPool(() => ({ capacity: 4, owned: 2, starting: 1 }));
      const salesMetrics = metrics.session('sales', sales);
      salesMetrics.setStatus('READY');
      salesMetrics.setLeaseHeld(true);
      salesMetrics.recordSend('sent');
      salesMetrics.reconnect();
      salesMetrics.observeSend(0.2);
      salesMetrics.observeDelivery('delivered', 0.05);
      salesMetrics.observeDelivery('retry', 10);
      const supportMetrics = metrics.session('support', support);
      supportMetrics.recordSend('held');
      supportMetrics.observeDelivery('dead', 0.01);
      const health = { workerId: 'w1', capacity: 4, draining: false, sessions: [{ id: 'sales', status: 'READY' }] };
      const server = await listen(createHealthServer({ redis, version: '1', registry: metrics.registry, health: () => health }));
      opened.push({ server, redis: redis.duplicate() });
      expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok', version: '1', ...health });
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toContain('waq_session_status{session="sales",status="READY"} 1');
      expect(text).toContain('waq_session_status{session="sales",status="QR"} 0');
      expect(text).toContain('waq_session_status{session="support",status="STOPPED"} 1');
      expect(text).toContain('waq_lease_held{session="sales"} 1');
      expect(text).toContain('waq_sends_total{session="sales",outcome="sent"} 1');
      expect(text).toContain('waq_sends_total{session="support",outcome="held"} 1');
      expect(text).toContain('waq_reconnects_total{session="sales"} 1');
      expect(text).toContain('waq_queue_jobs{session="sales",queue="outbox",state="waiting"} 1');
      expect(text).toContain('waq_queue_jobs{session="support",queue="outbox",state="waiting"} 0');
      expect(text).toContain('waq_worker_sessions{kind="capacity"} 4');
      expect(text).toContain('waq_worker_sessions{kind="starting"} 1');
      expect(text).toContain('waq_webhook_deliveries_total{session="sales",outcome="delivered"} 1');
      expect(text).toContain('waq_webhook_deliveries_total{session="support",outcome="dead"} 1');
      expect(text).toContain('waq_webhook_delivery_duration_seconds_count{session="sales"} 2');
      // Node's default metrics unprefixed, as the API's (see metrics.ts), without prom-client's gauges named `*_total`.
      expect(text).toContain('\nprocess_resident_memory_bytes ');
      expect(text).toMatch(/^nodejs_active_handles\{type="[A-Za-z]+"\} \d+$/m);
      expect(text).not.toContain('nodejs_active_handles_total');
      expect(await promtoolCheckMetrics(text)).toEqual({ code: 0, output: '' });

      metrics.forget('support');
      const after = await (await fetch(`${server.url}/metrics`)).text();
      expect(after).not.toContain('session="support"');
      expect(after).toContain('waq_sends_total{session="sales",outcome="sent"} 1');
    } finally {
      for (const queues of [sales, support]) {
        await queues.outbox.obliterate({ force: true });
        await queues.close();
      }
      redis.disconnect();
    }
  });
});
