import { Worker } from 'bullmq';
import { createRedis, encodeEvent, messageFailureFields } from '@waq/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startTestApi, type TestApi } from '../testing/test-api.js';

let t: TestApi;
const cleanups: (() => Promise<void>)[] = [];
beforeEach(async () => {
  t = await startTestApi();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await t.close();
});

function post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return t.fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

describe('POST /v1/messages', () => {
  it('accepts a message with 202, a Location, and a normalised job in the outbox', async () => {
    await t.publishState('READY');
    const response = await post({ to: '+49 151 23456789', text: 'hello', idempotencyKey: 'order-1' });
    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toBe('/v1/messages/order-1');
    expect(await response.json()).toEqual({ id: 'order-1', status: 'queued', duplicate: false });
    const job = await t.api.producer.queues.outbox.getJob('order-1');
    expect(job?.data).toMatchObject({ to: '4915123456789@c.us', text: 'hello' });
  });

  it('accepts while the session is not READY, reporting the message as held', async () => {
    await t.publishState('QR');
    expect(await (await post({ to: '+4915123456789', text: 'later' })).json()).toMatchObject({ status: 'held', duplicate: false });
    await t.publishState('READY', {}, { lease: false }); // READY published by a dead worker: still held
    expect(await (await post({ to: '+4915123456789', text: 'later' })).json()).toMatchObject({ status: 'held' });
  });

  it('generates an id when no key is given', async () => {
    const a = (await (await post({ to: '+4915123456789', text: 'a' })).json()) as { id: string };
    const b = (await (await post({ to: '+4915123456789', text: 'a' })).json()) as { id: string };
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.id).not.toBe(b.id);
  });

  it('returns the same id for a repeat with the Idempotency-Key header, and enqueues once', async () => {
    const first = await post({ to: '+4915123456789', text: 'once' }, { 'Idempotency-Key': 'otp-8812' });
    const again = await post({ to: '4915123456789@c.us', text: 'once' }, { 'Idempotency-Key': 'otp-8812' });
    expect(await first.json()).toMatchObject({ id: 'otp-8812', duplicate: false });
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ id: 'otp-8812', duplicate: true });
    expect(await t.api.producer.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(1);
  });

  it('accepts the key in the header and the body when they agree, and refuses them when they differ', async () => {
    expect((await post({ to: '+4915123456789', text: 'x', idempotencyKey: 'same-1' }, { 'Idempotency-Key': 'same-1' })).status).toBe(202);
    const response = await post({ to: '+4915123456789', text: 'x', idempotencyKey: 'other-1' }, { 'Idempotency-Key': 'same-1' });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_payload', details: [{ path: 'idempotencyKey' }] } });
  });

  it('answers 409 when a key is reused for a different message', async () => {
    await post({ to: '+4915123456789', text: 'first' }, { 'Idempotency-Key': 'k-1' });
    const response = await post({ to: '+4915123456789', text: 'second' }, { 'Idempotency-Key': 'k-1' });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { code: 'idempotency_conflict', details: [{ path: 'idempotencyKey' }] } });
  });

  it.each([
    ['a missing recipient', { text: 'hi' }, ['to']],
    ['a national number', { to: '0151 23456789', text: 'hi' }, ['to']],
    ['an empty text', { to: '+4915123456789', text: '' }, ['text']],
    ['a text that is not a string', { to: '+4915123456789', text: 42 }, ['text']],
    ['a too long text', { to: '+4915123456789', text: 'x'.repeat(65_537) }, ['text']],
    ['a bad key', { to: '+4915123456789', text: 'hi', idempotencyKey: 'a:b' }, ['idempotencyKey']],
    ['an all-digit key', { to: '+4915123456789', text: 'hi', idempotencyKey: '12345' }, ['idempotencyKey']],
    ['two bad fields', { to: 'nobody', text: null }, ['to', 'text']],
    ['an array', [1, 2], ['']],
    ['a JSON string', '"hello"', ['']],
    ['null', 'null', ['']],
  ])('answers 422 naming the field for %s', async (_name, body, paths) => {
    const response = await post(body);
    expect(response.status).toBe(422);
    const { error } = (await response.json()) as { error: { code: string; details: { path: string; message: string }[] } };
    expect(error.code).toBe('invalid_payload');
    expect(error.details.map((d) => d.path)).toEqual(paths);
    for (const detail of error.details) expect(detail.message.length).toBeGreaterThan(5);
  });

  it('answers 422 for a bad Idempotency-Key header, naming the header', async () => {
    const response = await post({ to: '+4915123456789', text: 'hi' }, { 'Idempotency-Key': 'has space' });
    expect(await response.json()).toMatchObject({ error: { details: [{ path: 'Idempotency-Key' }] } });
  });

  it('answers 400 for malformed JSON, 415 for other media types, 413 for a huge body', async () => {
    const malformed = await post('{"to": "+4915123456789", "text": ');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: { code: 'invalid_json', message: 'the request body is not valid JSON' } });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await t.fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': type }, body: 'to=%2B4915123456789&text=hi' });
      expect(response.status).toBe(415);
      expect(await response.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });
    }
    // multipart/form-data is taken (a file upload), so a body that is not one is a 400.
    const notMultipart = await t.fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': 'multipart/form-data; boundary=x' }, body: 'to=%2B4915123456789&text=hi' });
    expect(notMultipart.status).toBe(400);
    expect(await notMultipart.json()).toMatchObject({ error: { code: 'upload_incomplete' } });
    const none = await t.fetch('/v1/messages', { method: 'POST' });
    expect(none.status).toBe(415);
    const huge = await post({ to: '+4915123456789', text: 'x'.repeat(600_000) });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    expect(await t.api.producer.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(0);
  });

  it('accepts the longest text, escaped as \\u sequences, within the body limit', async () => {
    const body = JSON.stringify({ to: '+4915123456789', text: 'é'.repeat(65_536) }).replaceAll('é', '\\u00e9');
    expect((await post(body)).status).toBe(202);
  });
});

describe('POST …/messages with expiry, schedule and priority', () => {
  it('takes ttlSeconds, sendAt and priority in JSON and in a multipart form, and answers the expiry', async () => {
    await t.publishState('READY');
    const response = await post({ to: '+4915123456789', text: 'your code is 1234', ttlSeconds: 300, priority: 'high', typing: true, idempotencyKey: 'otp-1' });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { expiresAt: string; status: string };
    expect(body.status).toBe('queued');
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(290_000);
    expect((await t.api.producer.queues.outbox.getJob('otp-1'))?.data).toMatchObject({ priority: 'high', typing: true, expiresAt: body.expiresAt });

    const form = new FormData();
    form.set('to', '+4915123456789');
    form.set('text', 'caption');
    form.set('sendAt', new Date(Date.now() + 3_600_000).toISOString());
    form.set('ttlSeconds', '7200');
    form.set('typing', 'false');
    form.set('file', new Blob([Buffer.from('%PDF-1.4\n%%EOF\n')], { type: 'application/pdf' }), 'doc.pdf');
    const multipart = await t.fetch('/v1/sessions/default/messages', { method: 'POST', body: form });
    expect(multipart.status).toBe(202);
    expect(await multipart.json()).toMatchObject({ status: 'scheduled', expiresAt: expect.any(String) });
  });

  it('answers 422 naming the field for a bad expiry, schedule or priority, and enqueues nothing', async () => {
    for (const [body, field] of [
      [{ ttlSeconds: -5 }, 'ttlSeconds'],
      [{ ttlSeconds: 60, expiresAt: '2099-01-01T00:00:00Z' }, 'ttlSeconds'],
      [{ expiresAt: '2001-01-01T00:00:00Z' }, 'expiresAt'],
      [{ sendAt: 'tomorrow' }, 'sendAt'],
      [{ priority: 'urgent' }, 'priority'],
    ] as const) {
      const response = await post({ to: '+4915123456789', text: 'x', ...body });
      expect(response.status).toBe(422);
      expect(((await response.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path)).toContain(field);
    }
    expect(await t.api.producer.queues.outbox.count()).toBe(0);
  });
});

describe('DELETE /v1/messages/:id', () => {
  it('cancels a message not yet sent: 200 cancelled, then 409; 404 for an unknown one', async () => {
    await post({ to: '+4915123456789', text: 'cancel me', idempotencyKey: 'c-1' });
    const cancelled = await t.fetch('/v1/sessions/default/messages/c-1', { method: 'DELETE' });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ id: 'c-1', status: 'cancelled', error: { code: 'cancelled' } });
    expect(await (await t.fetch('/v1/messages/c-1')).json()).toMatchObject({ status: 'cancelled' });
    const again = await t.fetch('/v1/messages/c-1', { method: 'DELETE' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: 'message_final' } });
    expect((await t.fetch('/v1/messages/never-1', { method: 'DELETE' })).status).toBe(404);
    expect((await t.fetch('/v1/messages/not%3Aa%3Akey', { method: 'DELETE' })).status).toBe(404);
  });

  it('refuses to cancel a message being sent: 409 message_sending', async () => {
    await post({ to: '+4915123456789', text: 'in flight', idempotencyKey: 'c-2' });
    await t.fixture.redis.hset(t.keys.message('c-2'), { phase: 'sending', attemptStartedAt: new Date().toISOString() });
    const response = await t.fetch('/v1/messages/c-2', { method: 'DELETE' });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { code: 'message_sending' } });
    expect(await t.api.producer.queues.outbox.getJob('c-2')).toBeDefined();
  });
});

describe('GET /v1/messages/:id', () => {
  it('reports a held message with its attempts', async () => {
    await post({ to: '+4915123456789', text: 'hello' }, { 'Idempotency-Key': 'm-1' });
    const response = await t.fetch('/v1/messages/m-1');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: 'm-1', status: 'held', to: '4915123456789@c.us', attempts: 0, maxAttempts: 5, acceptedAt: expect.any(String) });
  });

  it('reports a sent message with its WhatsApp id and ack, and a failed one with its error', async () => {
    await t.publishState('READY');
    const worker = new Worker(
      'outbox',
      async (job) => {
        const id = String(job.id);
        if (id === 'bad-1') {
          await t.fixture.redis.hset(t.keys.message(id), messageFailureFields({ code: 'recipient_not_on_whatsapp', message: 'the recipient is not registered on WhatsApp' }));
          throw new Error('the recipient is not registered on WhatsApp');
        }
        const at = new Date().toISOString();
        await t.fixture.redis.hset(t.keys.message(id), { phase: 'sent', attemptStartedAt: at, waMessageId: `true_${id}`, sentAt: at, ack: 'device' });
        await t.fixture.redis.xadd(t.keys.events, '*', ...encodeEvent({ type: 'message.sent', at, id, waMessageId: `true_${id}` }));
      },
      { connection: createRedis({ url: t.fixture.url, role: 'consumer', name: 'test-sender' }), prefix: t.keys.bullPrefix },
    );
    cleanups.push(async () => {
      await worker.close();
      await worker.disconnect();
    });
    await post({ to: '+4915123456789', text: 'hello' }, { 'Idempotency-Key': 'good-1' });
    await t.api.producer.queues.outbox.add('send', { to: '4915123456789@c.us', text: 'x' }, { jobId: 'bad-1', attempts: 1 });
    await expect.poll(async () => ((await (await t.fetch('/v1/messages/good-1')).json()) as { status: string }).status, { timeout: 10_000 }).toBe('sent');
    expect(await (await t.fetch('/v1/messages/good-1')).json()).toMatchObject({ status: 'sent', waMessageId: 'true_good-1', ack: 'device', attempts: 1 });
    await expect.poll(async () => ((await (await t.fetch('/v1/messages/bad-1')).json()) as { status: string }).status, { timeout: 10_000 }).toBe('failed');
    expect(await (await t.fetch('/v1/messages/bad-1')).json()).toMatchObject({ error: { code: 'recipient_not_on_whatsapp' } });
  });

  it('answers 404 for an unknown id, and for an id that cannot be a key', async () => {
    for (const id of ['no-such-message', 'a%3Ab', '12345', 'x'.repeat(300)]) {
      const response = await t.fetch(`/v1/messages/${id}`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: 'message_not_found' } });
    }
  });
});
