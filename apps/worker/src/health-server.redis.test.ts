import { createRedis } from '@waq/shared';
import { listen, testRedisUrl, type ListeningServer } from '@waq/test-utils';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

import { createHealthServer } from './health-server.js';

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
