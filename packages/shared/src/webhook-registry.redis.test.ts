import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ZodError } from 'zod';

import { sessionKeys } from './keys.js';
import { CONFIGURED_WEBHOOK_ID, DEFAULT_WEBHOOK_EVENTS, WebhookRegistry } from './webhook-registry.js';
import { signWebhook } from './webhook-signature.js';

let fixture: RedisFixture;
let registry: WebhookRegistry;

beforeEach(async () => {
  fixture = await createRedisFixture();
  registry = new WebhookRegistry(fixture.redis, fixture.prefix);
});

afterEach(async () => {
  await fixture.cleanup();
});

describe('WebhookRegistry', () => {
  it('creates a subscription with a generated secret shown once, all events but session.qr by default', async () => {
    const { subscription, secret } = await registry.create('sales', { url: 'https://receiver.example/hooks' });
    expect(subscription).toMatchObject({ session: 'sales', url: 'https://receiver.example/hooks', events: DEFAULT_WEBHOOK_EVENTS, enabled: true, paused: null });
    expect(subscription.id).toMatch(/^wh_[a-z2-7]{16}$/);
    expect(DEFAULT_WEBHOOK_EVENTS).not.toContain('session.qr');
    // The secret works with the Standard Webhooks library, and no read shows it again.
    const headers = signWebhook({ id: 'msg_x', at: new Date(), body: '{"a":1}', secrets: [secret] });
    expect(new Webhook(secret).verify('{"a":1}', { ...headers })).toEqual({ a: 1 });
    expect(JSON.stringify(await registry.list('sales'))).not.toContain(secret);
    expect(JSON.stringify(await registry.get('sales', subscription.id))).not.toContain(secret);
    expect((await registry.getStored('sales', subscription.id))?.secret).toBe(secret);
    // In the session's slot: deleted with the session's other keys.
    expect(await fixture.redis.hexists(sessionKeys({ prefix: fixture.prefix, sessionId: 'sales' }).webhooks, subscription.id)).toBe(1);
  });

  it('keeps subscriptions per session, listed in creation order (several in one millisecond too)', async () => {
    const frozen = new Date('2026-12-04T18:00:00.000Z');
    registry = new WebhookRegistry(fixture.redis, fixture.prefix, () => frozen);
    const a = (await registry.create('sales', { url: 'https://a.example/', events: ['message.incoming'] })).subscription;
    const b = (await registry.create('sales', { url: 'https://b.example/', events: ['session.qr', 'session.status'], enabled: false })).subscription;
    await registry.create('support', { url: 'https://c.example/' });
    expect((await registry.list('sales')).map((s) => s.id)).toEqual([a.id, b.id]);
    expect((await registry.list('support')).map((s) => s.url)).toEqual(['https://c.example/']);
    expect(await registry.list('nobody')).toEqual([]);
  });

  it('refuses bad input with the field and what to do', async () => {
    const problems = async (input: unknown): Promise<string[]> => {
      try {
        await registry.create('sales', input as never);
        return [];
      } catch (error) {
        return error instanceof ZodError ? error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) : [String(error)];
      }
    };
    expect(await problems({ url: 'ftp://x.example/' })).toEqual(['url: must be an http:// or https:// URL, e.g. https://example.com/hooks/waq']);
    expect(await problems({ url: 'https://user:pw@x.example/' })).toEqual([expect.stringMatching(/^url: must not carry credentials/)]);
    expect(await problems({ url: 'https://x.example/', events: [] })).toEqual([expect.stringMatching(/^events: name at least one event/)]);
    expect(await problems({ url: 'https://x.example/', events: ['message.deleted'] })).toEqual([expect.stringMatching(/^events\.0: /)]);
    expect(await problems({ url: 'https://x.example/', secret: 'hunter2' })).toEqual([expect.stringMatching(/^secret: must be "whsec_"/)]);
    expect(await problems({ url: 'https://x.example/', extra: 1 })).toEqual([expect.stringMatching(/extra/)]);
    expect(await registry.list('sales')).toEqual([]);
  });

  it('updates url, events and enabled; enabling resumes a paused subscription; null for an unknown id', async () => {
    const { subscription, secret } = await registry.create('sales', { url: 'https://a.example/' });
    const paused = await registry.pause('sales', subscription.id, '10 deliveries in a row failed (HTTP 500)');
    expect(paused?.paused).toMatchObject({ reason: '10 deliveries in a row failed (HTTP 500)' });
    expect(await registry.update('sales', subscription.id, { events: ['message.ack', 'message.ack'] })).toMatchObject({ events: ['message.ack'], paused: { reason: expect.any(String) } });
    const resumed = await registry.update('sales', subscription.id, { enabled: true, url: 'https://b.example/x' });
    expect(resumed).toMatchObject({ url: 'https://b.example/x', enabled: true, paused: null });
    expect((await registry.getStored('sales', subscription.id))?.secret).toBe(secret);
    expect(await registry.update('sales', 'wh_aaaaaaaaaaaaaaaa', { enabled: false })).toBeNull();
    await expect(registry.update('sales', subscription.id, {})).rejects.toThrow(/change at least one of url, events, enabled/);
  });

  it('loses no change when two writers change one subscription at once', async () => {
    const { subscription } = await registry.create('sales', { url: 'https://a.example/' });
    await Promise.all([registry.update('sales', subscription.id, { url: 'https://b.example/' }), registry.pause('sales', subscription.id, 'failing'), registry.update('sales', subscription.id, { events: ['message.sent'] })]);
    expect(await registry.get('sales', subscription.id)).toMatchObject({ url: 'https://b.example/', events: ['message.sent'], paused: { reason: 'failing' } });
  });

  it('removes a subscription once', async () => {
    const { subscription } = await registry.create('sales', { url: 'https://a.example/' });
    expect(await registry.remove('sales', subscription.id)).toBe(true);
    expect(await registry.remove('sales', subscription.id)).toBe(false);
    expect(await registry.get('sales', subscription.id)).toBeNull();
  });
});

describe('the configured webhook (WEBHOOK_URL)', () => {
  it('is created for a session once, follows the configuration, and keeps whether it is enabled', async () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    await registry.ensureConfigured('sales', { url: 'https://hooks.example/a', events: ['message.incoming'], secret });
    await registry.ensureConfigured('sales', { url: 'https://hooks.example/a', events: ['message.incoming'], secret });
    expect((await registry.list('sales')).map((s) => [s.id, s.url, s.events])).toEqual([[CONFIGURED_WEBHOOK_ID, 'https://hooks.example/a', ['message.incoming']]]);
    await registry.update('sales', CONFIGURED_WEBHOOK_ID, { enabled: false });
    await registry.ensureConfigured('sales', { url: 'https://hooks.example/b', events: ['message.ack', 'session.status'], secret });
    expect(await registry.get('sales', CONFIGURED_WEBHOOK_ID)).toMatchObject({ url: 'https://hooks.example/b', events: ['message.ack', 'session.status'], enabled: false });
    expect((await registry.getStored('sales', CONFIGURED_WEBHOOK_ID))?.secret).toBe(secret);
  });
});
