import { writeNumberCheck } from '@waq/shared';
import { describe, expect, it } from 'vitest';

import { qrState, startTestApiForTest, type TestApi } from '../testing/test-api.js';

const start = (env: Record<string, string> = {}): Promise<TestApi> => startTestApiForTest({ env });

const now = () => new Date().toISOString();

describe('GET /v1/session', () => {
  it('reports WORKER_OFFLINE when no worker holds the lease, with what it last published', async () => {
    const t = await start();
    expect(await (await t.fetch('/v1/session')).json()).toMatchObject({ status: 'WORKER_OFFLINE', lastError: { code: 'worker_offline' } });
    await t.publishState('READY', { me: { wid: '4915123456789@c.us' } }, { lease: false });
    expect(await (await t.fetch('/v1/session')).json()).toMatchObject({ status: 'WORKER_OFFLINE', lastPublishedStatus: 'READY', me: { wid: '4915123456789@c.us' } });
  });

  it('reports the published state while a worker holds the lease', async () => {
    const t = await start();
    const state = await t.publishState('QR', qrState());
    const response = await t.fetch('/v1/session');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(state);
  });
});

describe('POST /v1/session/connect', () => {
  it('queues a connect job and answers 202 with the state at once', async () => {
    const t = await start();
    await t.publishState('STOPPED');
    const response = await t.fetch('/v1/session/connect', { method: 'POST' });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { job: { id: string }; state: { status: string }; waited: boolean };
    expect(body).toMatchObject({ state: { status: 'STOPPED' }, waited: false });
    const job = await t.api.producer.queues.control.getJob(body.job.id);
    expect(job?.name).toBe('connect');
    expect(job?.data).toEqual({ requestedBy: 'api' });
  });

  it('with wait=true, answers as soon as the worker publishes a QR code', async () => {
    const t = await start();
    await t.publishState('STOPPED');
    const pending = t.fetch('/v1/session/connect?wait=true', { method: 'POST' });
    // Play the worker: take the connect job, then publish STARTING and QR with their events.
    await expect.poll(() => t.api.producer.queues.control.getWaitingCount()).toBe(1);
    await t.publishState('STARTING');
    await t.publishEvent({ type: 'state', at: now(), status: 'STARTING' });
    const published = await t.publishState('QR', qrState('ref-after-connect'));
    await t.publishEvent({ type: 'qr', at: now(), expiresAt: published.qr?.expiresAt ?? now() });
    const response = await pending;
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ waited: true, state: { status: 'QR', qr: { value: 'ref-after-connect' } } });
  });

  it('with method code, queues a connect for a pairing code and answers the code once the worker shows it', async () => {
    const t = await start();
    await t.publishState('QR', qrState('ref-shown-first'));
    const pending = t.fetch('/v1/sessions/default/connect', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ method: 'code', phoneNumber: '+49 151 23456789' }) });
    await expect.poll(async () => (await t.api.producer.queues.control.getJobs(['waiting'])).map((job) => job.data)).toEqual([{ method: 'code', phoneNumber: '4915123456789', requestedBy: 'api' }]);
    const expiresAt = new Date(Date.now() + 170_000).toISOString();
    await t.publishState('QR', { ...qrState('ref-shown-first'), pairingCode: { code: 'K7QX2M9P', phoneNumber: '+4915123456789', expiresAt } });
    await t.publishEvent({ type: 'pairing_code', at: now(), expiresAt });
    const response = await pending;
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ waited: true, pairingCode: 'K7QX2M9P', state: { status: 'QR', qr: { value: 'ref-shown-first' }, pairingCode: { code: 'K7QX2M9P' } } });
  });

  it('answers 422 for a code without a phone number, a phone number without method code, a number that is none, or an unknown method; queues nothing', async () => {
    const t = await start();
    for (const [body, field] of [
      [{ method: 'code' }, 'phoneNumber'],
      [{ phoneNumber: '+49 151 23456789' }, 'phoneNumber'],
      [{ method: 'qr', phoneNumber: '+49 151 23456789' }, 'phoneNumber'],
      [{ method: 'code', phoneNumber: '0151 23456789' }, 'phoneNumber'],
      [{ method: 'sms' }, 'method'],
      [{ method: 'qr', extra: 1 }, ''],
    ] as const) {
      const response = await t.fetch('/v1/session/connect', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      expect(response.status).toBe(422);
      const details = ((await response.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path);
      expect(details.some((path) => path === field || (field === '' && path === ''))).toBe(true);
    }
    expect(await t.api.producer.queues.control.count()).toBe(0);
  });

  it('with wait=true, answers at once when the session is already READY', async () => {
    const t = await start({ QR_WAIT_MS: '20000' });
    await t.publishState('READY');
    const started = Date.now();
    const response = await t.fetch('/v1/session/connect?wait=1', { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ waited: true, state: { status: 'READY' } });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('with wait=true, answers when the connect fails, with the reason', async () => {
    const t = await start();
    await t.publishState('STOPPED');
    const pending = t.fetch('/v1/session/connect?wait=true', { method: 'POST' });
    await expect.poll(() => t.api.producer.queues.control.getWaitingCount()).toBe(1);
    await t.publishState('FAILED', { lastError: { code: 'qr_retries_exhausted', message: 'nobody scanned the QR code', at: now() } });
    await t.publishEvent({ type: 'state', at: now(), status: 'FAILED', reason: 'nobody scanned the QR code' });
    const response = await pending;
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ state: { status: 'FAILED', lastError: { code: 'qr_retries_exhausted' } } });
  });

  it('with wait=true, gives up after QR_WAIT_MS with 202 and the current state', async () => {
    const t = await start({ QR_WAIT_MS: '300' });
    await t.publishState('STARTING');
    const started = Date.now();
    const response = await t.fetch('/v1/session/connect?wait=true', { method: 'POST' });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ waited: true, state: { status: 'STARTING' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('does not take an already expired QR code for an answer', async () => {
    const t = await start({ QR_WAIT_MS: '300' });
    await t.publishState('QR', qrState('old', -1_000));
    const response = await t.fetch('/v1/session/connect?wait=true', { method: 'POST' });
    expect(response.status).toBe(202);
  });

  it('answers 422 for a bad wait parameter', async () => {
    const t = await start();
    const response = await t.fetch('/v1/session/connect?wait=soon', { method: 'POST' });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_query', details: [{ path: 'wait', message: 'must be true or false' }] } });
  });
});

describe('POST /v1/session/logout', () => {
  it('queues a logout job and answers 202', async () => {
    const t = await start();
    const response = await t.fetch('/v1/session/logout', { method: 'POST' });
    expect(response.status).toBe(202);
    const { job } = (await response.json()) as { job: { id: string } };
    expect((await t.api.producer.queues.control.getJob(job.id))?.name).toBe('logout');
  });
});

describe('GET /v1/session/qr', () => {
  it('serves the QR code as PNG (the default), SVG, text and JSON, never cached', async () => {
    const t = await start();
    const state = await t.publishState('QR', qrState('2@abcdefghijklmnop,XYZ=,123=,456='));
    const png = await t.fetch('/v1/session/qr');
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(png.headers.get('cache-control')).toBe('no-store');
    expect(Buffer.from(await png.arrayBuffer()).subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    const svg = await t.fetch('/v1/session/qr?format=svg');
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(await svg.text()).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const text = await t.fetch('/v1/session/qr?format=text');
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await text.text()).toMatch(/[█▀▄]/);
    expect(await (await t.fetch('/v1/session/qr?format=json')).json()).toEqual(state.qr);
  });

  it.each([
    ['READY', {}, 'already_linked'],
    ['STOPPED', {}, 'not_started'],
    ['LOGGED_OUT', {}, 'not_started'],
    ['FAILED', {}, 'not_started'],
    ['STARTING', {}, 'qr_pending'],
    ['AUTHENTICATED', {}, 'qr_pending'],
    ['QR', {}, 'qr_pending'],
    ['QR', qrState('old', -1), 'qr_expired'],
  ] as const)('answers 404 with the reason when the session is %s (%#)', async (status, extra, code) => {
    const t = await start();
    await t.publishState(status, extra);
    const response = await t.fetch('/v1/session/qr?format=json');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code, message: expect.any(String) } });
  });

  it('answers 404 not_started when no worker runs, and 422 for an unknown format', async () => {
    const t = await start();
    await t.publishState('QR', qrState(), { lease: false });
    expect(await (await t.fetch('/v1/session/qr')).json()).toMatchObject({ error: { code: 'not_started', message: expect.stringContaining('start a worker') } });
    const bad = await t.fetch('/v1/session/qr?format=gif');
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ error: { details: [{ path: 'format' }] } });
    expect((await t.fetch('/v1/session/qr?format=png&format=svg')).status).toBe(422);
  });
});

describe('GET /v1/sessions/:session/contacts/:number', () => {
  it('answers a kept answer at once, queues a check for the worker otherwise (503 check_pending while none answers), 409 while the session is not READY, and 422 for what is no number', async () => {
    const t = await startTestApiForTest({ limits: { numberCheckWaitMs: 300 } });
    // Not READY: no worker could ask WhatsApp, so nothing is queued for one.
    const notReady = await t.fetch('/v1/contacts/%2B33612345678');
    expect(notReady.status).toBe(409);
    expect(await notReady.json()).toMatchObject({ error: { code: 'session_not_ready' } });
    expect(await t.api.producer.queues.control.getJobs(['waiting'])).toEqual([]);
    await t.publishState('READY');
    await writeNumberCheck(t.fixture.redis, t.keys, '4915123456789', '4915123456789@c.us', { positiveSeconds: 60, negativeSeconds: 60 });
    const kept = await t.fetch('/v1/sessions/default/contacts/%2B49%20151%2023456789');
    expect(kept.status).toBe(200);
    expect(await kept.json()).toMatchObject({ number: '+4915123456789', onWhatsApp: true, wid: '4915123456789@c.us', cached: true });
    expect(await (await t.fetch('/v1/contacts/4915123456789@c.us')).json()).toMatchObject({ onWhatsApp: true });

    const pending = await t.fetch('/v1/contacts/%2B33612345678');
    expect(pending.status).toBe(503);
    expect(pending.headers.get('retry-after')).toBe('2');
    expect(await pending.json()).toMatchObject({ error: { code: 'check_pending' } });
    expect((await t.api.producer.queues.control.getJobs(['waiting'])).map((job) => [job.name, job.data])).toEqual([['check', { number: '33612345678', requestedBy: 'api' }]]);

    for (const bad of ['0151234567', '120363025343454321@g.us', 'hello']) {
      const response = await t.fetch(`/v1/contacts/${encodeURIComponent(bad)}`);
      expect(response.status).toBe(422);
      expect(await response.json()).toMatchObject({ error: { code: 'invalid_payload', details: [{ path: 'number' }] } });
    }
  });
});
