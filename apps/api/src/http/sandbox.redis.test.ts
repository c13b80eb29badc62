import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

import { listen, type ListeningServer } from '@waq/test-utils';
import { afterEach, describe, expect, it } from 'vitest';

import { startTestApi, type TestApi } from '../testing/test-api.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function start(env: Record<string, string>): Promise<TestApi> {
  const t = await startTestApi({ env });
  opened.push(t);
  return t;
}

/** A stand-in for the simulator phone server: records the requests, answers as told. */
async function fakeSimulator(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<ListeningServer & { requests: string[] }> {
  const requests: string[] = [];
  const server = await listen(
    createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      answer(req, res);
    }),
  );
  opened.push(server);
  return Object.assign(server, { requests });
}

describe('POST /v1/sandbox/scan', () => {
  it('is 404 when sandbox mode is off', async () => {
    const t = await start({});
    const response = await t.fetch('/v1/sandbox/scan', { method: 'POST' });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'sandbox_off' } });
  });

  it('asks the simulator phone to scan, and relays its answer', async () => {
    const sim = await fakeSimulator((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"linked":true}'));
    const t = await start({ WAQ_SANDBOX: '1', WAQ_SIM_URL: sim.url });
    const response = await t.fetch('/v1/sandbox/scan', { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ scanned: true, codeEntered: false, simulator: { linked: true } });
    expect(sim.requests).toEqual(['POST /phone/scan']);
  });

  it('enters the pairing code the session shows instead of scanning', async () => {
    const bodies: string[] = [];
    const sim = await fakeSimulator((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"deviceId":"d1"}');
      });
    });
    const t = await start({ WAQ_SANDBOX: '1', WAQ_SIM_URL: sim.url });
    await t.publishState('QR', { pairingCode: { code: 'K7QX2M9P', phoneNumber: '+15550100001', expiresAt: new Date(Date.now() + 60_000).toISOString() } });
    const response = await t.fetch('/v1/sandbox/scan', { method: 'POST' });
    expect(await response.json()).toEqual({ scanned: false, codeEntered: true, simulator: { deviceId: 'd1' } });
    expect(sim.requests).toEqual(['POST /phone/link-code']);
    expect(bodies).toEqual(['{"code":"K7QX2M9P"}']);
  });

  it('scans with the phone of the session\'s own simulated account; SESSION_ID keeps the default account', async () => {
    const sim = await fakeSimulator((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}'));
    const t = await start({ WAQ_SANDBOX: '1', WAQ_SIM_URL: `${sim.url}/` });
    expect((await t.fetch('/v1/sessions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"id":"sales"}' })).status).toBe(201);
    expect((await t.fetch('/v1/sessions/sales/sandbox/scan', { method: 'POST' })).status).toBe(200);
    expect((await t.fetch('/v1/sessions/default/sandbox/scan', { method: 'POST' })).status).toBe(200);
    expect(await (await t.fetch('/v1/sessions/nope/sandbox/scan', { method: 'POST' })).json()).toMatchObject({ error: { code: 'session_not_found' } });
    expect(sim.requests).toEqual(['POST /accounts/sales/phone/scan', 'POST /phone/scan']);
  });

  it('answers 409 when the simulator has no QR code on screen', async () => {
    const sim = await fakeSimulator((_req, res) => res.writeHead(409, { 'Content-Type': 'application/json' }).end('{"error":{"code":"NO_QR","message":"no QR on screen"}}'));
    const t = await start({ WAQ_SANDBOX: 'true', WAQ_SIM_URL: sim.url });
    const response = await t.fetch('/v1/sandbox/scan', { method: 'POST' });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: { code: 'no_qr', message: expect.stringContaining('no QR on screen') } });
  });

  it('answers 502 when the simulator fails or is gone, 503 when none is configured', async () => {
    const sim = await fakeSimulator((_req, res) => res.writeHead(500).end('boom'));
    const failing = await start({ WAQ_SANDBOX: '1', WAQ_SIM_URL: sim.url });
    expect(await (await failing.fetch('/v1/sandbox/scan', { method: 'POST' })).json()).toMatchObject({ error: { code: 'simulator_error' } });
    const gone = await start({ WAQ_SANDBOX: '1', WAQ_SIM_URL: 'http://127.0.0.1:1' });
    const response = await gone.fetch('/v1/sandbox/scan', { method: 'POST' });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: { code: 'simulator_unreachable' } });
    const unset = await start({ WAQ_SANDBOX: '1' });
    expect((await unset.fetch('/v1/sandbox/scan', { method: 'POST' })).status).toBe(503);
  });
});
