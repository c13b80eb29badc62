import { createRedis, createSessionQueues } from '@waq/shared';
import { listen, promtoolCheckMetrics, testRedisUrl, uniquePrefix, type ListeningServer } from '@waq/test-utils';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

import { createHealthServer } from './health-server.js';
import { WorkerMetrics } from './metrics.js';

const opened: { server: ListeningServer; redis: Redis }[] = [];

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
  it('serves session status, lease, sends by outcome and queue depths on /metrics, `promtool check metrics` clean', async () => {
    const redis = createRedis({ url: testRedisUrl(), role: 'consumer', name: 'worker-metrics-test' });
    const prefix = uniquePrefix();
    const queues = createSessionQueues(redis, { prefix, sessionId: 'default' });
    try {
      await queues.outbox.add('send', { to: '4915100000001@c.us', text: 'x' });
      const metrics = new WorkerMetrics(queues);
      metrics.setStatus('READY');
      metrics.setLeaseHeld(true);
      metrics.recordSend('sent');
      metrics.reconnects.inc();
      metrics.sendSeconds.observe(0.2);
      const server = await listen(createHealthServer({ redis, version: '1', registry: metrics.registry, health: () => ({ role: 'owner', sessionStatus: 'READY' }) }));
      opened.push({ server, redis: redis.duplicate() });
      expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok', version: '1', role: 'owner', sessionStatus: 'READY' });
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toContain('waq_session_status{status="READY"} 1');
      expect(text).toContain('waq_session_status{status="QR"} 0');
      expect(text).toContain('waq_lease_held 1');
      expect(text).toContain('waq_sends_total{outcome="sent"} 1');
      expect(text).toContain('waq_reconnects_total 1');
      expect(text).toContain('waq_queue_jobs{queue="outbox",state="waiting"} 1');
      // Node's default metrics unprefixed, as the API's (see metrics.ts), without prom-client's gauges named `*_total`.
      expect(text).toContain('\nprocess_resident_memory_bytes ');
      expect(text).toMatch(/^nodejs_active_handles\{type="[A-Za-z]+"\} \d+$/m);
      expect(text).not.toContain('nodejs_active_handles_total');
      expect(await promtoolCheckMetrics(text)).toEqual({ code: 0, output: '' });
    } finally {
      await queues.outbox.obliterate({ force: true });
      await queues.close();
      redis.disconnect();
    }
  });
});
