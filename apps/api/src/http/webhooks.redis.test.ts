/**
 * Webhook subscriptions over HTTP, on real Redis: create (secret shown once), list, read, change,
 * delete; bad input and refused addresses answered with the field at fault; nothing stored for them.
 */
import { recordDeadLetter, signWebhook, webhookQueue, WebhookRegistry } from '@waq/shared';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';

import { startTestApi, type TestApi } from '../testing/test-api.js';

let t: TestApi | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function start(env: Record<string, string> = {}): Promise<TestApi> {
  t = await startTestApi({ env });
  return t;
}

function call(api: TestApi, method: string, path: string, body?: unknown): Promise<Response> {
  return api.fetch(path, { method, ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });
}

interface WebhookBody {
  id: string;
  session: string;
  url: string;
  events: string[];
  enabled: boolean;
  paused: { at: string; reason: string } | null;
  secret?: string;
}

describe('webhook subscriptions', () => {
  it('creates one (201, Location, the secret once), lists, reads, changes and deletes it', async () => {
    const api = await start();
    const created = await call(api, 'POST', '/v1/sessions/default/webhooks', { url: 'https://receiver.example/hooks', events: ['message.incoming', 'message.ack'] });
    expect(created.status).toBe(201);
    const body = (await created.json()) as WebhookBody;
    expect(body).toMatchObject({ session: 'default', url: 'https://receiver.example/hooks', events: ['message.incoming', 'message.ack'], enabled: true, paused: null });
    expect(created.headers.get('location')).toBe(`/v1/sessions/default/webhooks/${body.id}`);
    // The secret signs what a Standard Webhooks receiver verifies.
    const secret = body.secret ?? '';
    const headers = signWebhook({ id: 'msg_test', at: new Date(), body: '{"ok":true}', secrets: [secret] });
    expect(new Webhook(secret).verify('{"ok":true}', { ...headers })).toEqual({ ok: true });

    const listed = (await (await call(api, 'GET', '/v1/sessions/default/webhooks')).json()) as { webhooks: WebhookBody[] };
    expect(listed.webhooks.map((w) => w.id)).toEqual([body.id]);
    expect(JSON.stringify(listed)).not.toContain(secret);
    const read = await call(api, 'GET', `/v1/sessions/default/webhooks/${body.id}`);
    expect(read.status).toBe(200);
    expect(JSON.stringify(await read.json())).not.toContain(secret);

    const changed = await call(api, 'PATCH', `/v1/sessions/default/webhooks/${body.id}`, { enabled: false, events: ['session.qr'] });
    expect(changed.status).toBe(200);
    expect(await changed.json()).toMatchObject({ enabled: false, events: ['session.qr'] });

    const deleted = await call(api, 'DELETE', `/v1/sessions/default/webhooks/${body.id}`);
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect((await call(api, 'DELETE', `/v1/sessions/default/webhooks/${body.id}`)).status).toBe(404);
    expect(await new WebhookRegistry(api.fixture.redis, api.prefix).list('default')).toEqual([]);
  });

  it('resumes a paused webhook when it is enabled again', async () => {
    const api = await start();
    const registry = new WebhookRegistry(api.fixture.redis, api.prefix);
    const { subscription } = await registry.create('default', { url: 'https://receiver.example/' });
    await registry.pause('default', subscription.id, '10 deliveries in a row failed');
    expect(((await (await call(api, 'GET', `/v1/sessions/default/webhooks/${subscription.id}`)).json()) as WebhookBody).paused).toMatchObject({ reason: '10 deliveries in a row failed' });
    expect(await (await call(api, 'PATCH', `/v1/sessions/default/webhooks/${subscription.id}`, { enabled: true })).json()).toMatchObject({ enabled: true, paused: null });
  });

  it('answers bad input with the field at fault and stores nothing', async () => {
    const api = await start();
    const problems = async (body: unknown): Promise<{ status: number; details: { path: string; message: string }[] }> => {
      const response = await call(api, 'POST', '/v1/sessions/default/webhooks', body);
      return { status: response.status, details: ((await response.json()) as { error: { details?: { path: string; message: string }[] } }).error.details ?? [] };
    };
    expect(await problems({ url: 'ftp://receiver.example/' })).toEqual({ status: 422, details: [{ path: 'url', message: 'must be an http:// or https:// URL, e.g. https://example.com/hooks/waq' }] });
    expect(await problems({ url: 'https://receiver.example/', events: ['message.deleted'] })).toMatchObject({ status: 422, details: [{ path: 'events.0' }] });
    expect(await problems({ url: 'https://receiver.example/', secret: 'short' })).toMatchObject({ status: 422, details: [{ path: 'secret', message: expect.stringMatching(/whsec_/) }] });
    expect(await problems([])).toMatchObject({ status: 422, details: [{ path: '' }] });
    // Loopback, private and link-local addresses are refused (WEBHOOK_ALLOW_PRIVATE is off by default).
    for (const url of ['http://127.0.0.1:8080/hook', 'http://[::1]/hook', 'http://169.254.169.254/latest/meta-data', 'https://10.0.0.8/']) {
      expect(await problems({ url }), url).toMatchObject({ status: 422, details: [{ path: 'url', message: expect.stringMatching(/webhooks are not posted there \(set WEBHOOK_ALLOW_PRIVATE=true to allow it\)/) }] });
    }
    const patch = await call(api, 'PATCH', '/v1/sessions/default/webhooks/wh_aaaaaaaaaaaaaaaa', { url: 'http://127.0.0.1/' });
    expect(patch.status).toBe(422);
    expect(await new WebhookRegistry(api.fixture.redis, api.prefix).list('default')).toEqual([]);
  });

  it('takes private addresses with WEBHOOK_ALLOW_PRIVATE=true', async () => {
    const api = await start({ WEBHOOK_ALLOW_PRIVATE: 'true' });
    expect((await call(api, 'POST', '/v1/sessions/default/webhooks', { url: 'http://127.0.0.1:8080/hook' })).status).toBe(201);
  });

  it('answers 404 for an unknown session or webhook, naming what to do', async () => {
    const api = await start();
    const noSession = await call(api, 'POST', '/v1/sessions/nobody/webhooks', { url: 'https://receiver.example/' });
    expect(noSession.status).toBe(404);
    expect(((await noSession.json()) as { error: { code: string } }).error.code).toBe('session_not_found');
    expect((await call(api, 'GET', '/v1/sessions/nobody/webhooks')).status).toBe(404);
    for (const id of ['wh_aaaaaaaaaaaaaaaa', 'not-an-id']) {
      const missing = await call(api, 'GET', `/v1/sessions/default/webhooks/${id}`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ error: { code: 'webhook_not_found', message: expect.stringMatching(/list them with GET \/v1\/sessions\/default\/webhooks/) } });
    }
  });

  it('lists a webhook\'s dead letters with their last answer and redrives them in order', async () => {
    const api = await start();
    const { subscription } = await new WebhookRegistry(api.fixture.redis, api.prefix).create('default', { url: 'https://receiver.example/' });
    const scope = { redis: api.fixture.redis, prefix: api.prefix, sessionId: 'default' };
    for (const seq of [1, 2, 3]) {
      await recordDeadLetter(scope, subscription.id, {
        deliveryId: `msg_${seq}`,
        envelope: { id: `${seq}-0`, type: 'message.incoming', session: 'default', seq, timestamp: new Date().toISOString(), data: {} },
        attempts: 7,
        firstAttemptAt: new Date().toISOString(),
        lastAttemptAt: new Date().toISOString(),
        status: 500,
        reason: 'HTTP 500',
        answer: 'oops',
      });
    }
    const failuresAnswer = await call(api, 'GET', `/v1/sessions/default/webhooks/${subscription.id}/failures`);
    const failures = (await failuresAnswer.json()) as { failures: { deliveryId: string; status: number; answer: string }[] };
    expect(failuresAnswer.status, JSON.stringify(failures)).toBe(200);
    expect(failures.failures.map((f) => [f.deliveryId, f.status, f.answer])).toEqual([['msg_1', 500, 'oops'], ['msg_2', 500, 'oops'], ['msg_3', 500, 'oops']]);

    const redrive = await call(api, 'POST', `/v1/sessions/default/webhooks/${subscription.id}/redrive`);
    expect(redrive.status).toBe(200);
    expect(await redrive.json()).toEqual({ redriven: 3 });
    // Back in the webhook's queue, in order (oldest first), with their delivery ids; the list is empty.
    const queue = webhookQueue(scope, subscription.id);
    try {
      // asc: the order they are taken in.
      const waiting = await queue.getJobs(['wait'], 0, -1, true);
      expect(waiting.map((job) => (job.data as { deliveryId: string }).deliveryId)).toEqual(['msg_1', 'msg_2', 'msg_3']);
    } finally {
      await queue.close();
    }
    expect(((await (await call(api, 'GET', `/v1/sessions/default/webhooks/${subscription.id}/failures`)).json()) as { failures: unknown[] }).failures).toEqual([]);
    expect((await call(api, 'POST', '/v1/sessions/default/webhooks/wh_aaaaaaaaaaaaaaaa/redrive')).status).toBe(404);
  });
});
