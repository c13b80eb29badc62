import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startPhoneServer, type PhoneServer } from './phone-server.js';
import type { ServerMessage } from './protocol.js';

/** A bare WebSocket standing in for the simulated WhatsApp Web page. */
async function openPage(server: PhoneServer): Promise<{ ws: WebSocket; received: ServerMessage[] }> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
  const received: ServerMessage[] = [];
  ws.on('message', (data) => received.push(JSON.parse(data.toString()) as ServerMessage));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, received };
}

describe('phone server (HTTP + WebSocket)', () => {
  let server: PhoneServer;
  const sockets: WebSocket[] = [];
  beforeEach(async () => {
    server = await startPhoneServer({ ackDelayMs: 10 });
  });
  afterEach(async () => {
    for (const ws of sockets) ws.terminate();
    await server.close();
    await server.close(); // idempotent
  });

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${server.url}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, json: await res.json() };
  };

  it('drives a page through QR, scan, welcome, send and acks', async () => {
    const { ws, received } = await openPage(server);
    sockets.push(ws);
    ws.send(JSON.stringify({ type: 'hello', deviceId: null, version: 'v' }));
    await vi.waitFor(() => expect(received.some((m) => m.type === 'unpaired')).toBe(true), { timeout: 15_000 });
    const { json: state } = await call('GET', '/phone');
    expect(state).toMatchObject({ linked: false, qr: { ref: expect.stringMatching(/^2@/) } });

    const { status, json: scanned } = await call('POST', '/phone/scan', {});
    expect(status).toBe(200);
    const deviceId = (scanned as { deviceId: string }).deviceId;
    ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
    await vi.waitFor(() => expect(received.some((m) => m.type === 'welcome')).toBe(true), { timeout: 15_000 });

    ws.send(JSON.stringify({ type: 'send', msg: { id: '3EB0AA', to: '15550100002@c.us', body: 'hey', t: 1, msgType: 'chat' } }));
    await vi.waitFor(() => expect(received).toContainEqual({ type: 'ack', id: '3EB0AA', ack: 3 }), { timeout: 15_000 });
    const { json: msgs } = await call('GET', '/phone/messages?to=%2B15550100002');
    expect(msgs).toMatchObject({ messages: [{ id: '3EB0AA', to: '15550100002', body: 'hey', ack: 3, order: 1 }] });

    const { json: incoming } = await call('POST', '/phone/incoming', { from: '15550100002', body: 'yo' });
    await vi.waitFor(() =>
      expect(received).toContainEqual({ type: 'incoming', msg: expect.objectContaining({ id: (incoming as { id: string }).id, body: 'yo' }) }),
    { timeout: 15_000 });

    await call('POST', '/phone/logout');
    await vi.waitFor(() => expect(received).toContainEqual({ type: 'logout' }), { timeout: 15_000 });
  });

  it('offline closes page sockets; reset answers ok', async () => {
    const { ws } = await openPage(server);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect((await call('POST', '/phone/offline')).json).toEqual({ online: false });
    expect(await closed).toBe(4000);
    expect((await call('POST', '/phone/online')).json).toEqual({ online: true });
    expect((await call('POST', '/phone/reset')).json).toEqual({ ok: true });
  });

  it('answers errors in one shape: validation 422 with the field, bad JSON 400, conflict 409, 404', async () => {
    const invalid = await call('POST', '/phone/incoming', { from: 'nobody', body: '' });
    expect(invalid.status).toBe(422);
    expect((invalid.json as { error: { details: { path: string }[] } }).error.details.map((d) => d.path)).toEqual(['from', 'body']);

    const res = await fetch(`${server.url}/phone/scan`, { method: 'POST', body: '{not json' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'INVALID_JSON' } });

    expect(await call('POST', '/phone/scan')).toMatchObject({ status: 409, json: { error: { code: 'NO_QR' } } });
    expect(await call('GET', '/nope')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
  });
});
