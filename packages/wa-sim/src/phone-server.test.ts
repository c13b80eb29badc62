import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { simAccountUrl } from './account-id.js';
import { accountNumber } from './numbers.js';
import { startPhoneServer, type PhoneServer } from './phone-server.js';
import type { ServerMessage } from './protocol.js';
import { writeSimPage } from './sim-client-options.js';
import { openPageSocket, type PageSocket } from './testing/page-socket.js';

/** A page of the account at `base` (the default account's unless given). */
const openPage = (server: PhoneServer, base = server.url): Promise<PageSocket> => openPageSocket(base);

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

describe('phone server: many accounts', () => {
  let server: PhoneServer;
  const sockets: WebSocket[] = [];
  beforeEach(async () => {
    server = await startPhoneServer({ ackDelayMs: 10, me: '15550100007', log: () => undefined });
  });
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await server.close();
  });

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${server.url}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, json: await res.json() };
  };
  /** A page of the account at `base` that said hello unpaired and shows a QR. */
  const unpairedPage = async (base: string): Promise<{ ws: WebSocket; received: ServerMessage[] }> => {
    const page = await openPage(server, base);
    sockets.push(page.ws);
    page.ws.send(JSON.stringify({ type: 'hello', deviceId: null, version: 'v' }));
    await vi.waitFor(() => expect(page.received.some((m) => m.type === 'unpaired')).toBe(true), { timeout: 15_000 });
    return page;
  };
  const has = (received: ServerMessage[], type: ServerMessage['type']): boolean => received.some((m) => m.type === type);

  it('each account is its own phone: QR, scan, sends, incoming, offline and reset stay in it', async () => {
    const sales = await unpairedPage(server.accountUrl('sales'));
    const support = await unpairedPage(server.accountUrl('support'));
    const root = await unpairedPage(server.url);

    const salesState = (await call('GET', '/accounts/sales/phone')).json as { me: string; pushname: string; qr: { ref: string } };
    const supportState = (await call('GET', '/accounts/support/phone')).json as { me: string; qr: { ref: string } };
    const rootState = (await call('GET', '/phone')).json as { me: string; qr: { ref: string } };
    expect(salesState).toMatchObject({ me: accountNumber('sales'), pushname: 'waq sandbox (sales)', linked: false });
    expect(new Set([salesState.me, supportState.me, rootState.me]).size).toBe(3);
    expect(rootState.me).toBe('15550100007');
    expect(new Set([salesState.qr.ref, supportState.qr.ref, rootState.qr.ref]).size).toBe(3);

    // Scanning one account links that account's page only.
    const scanned = await call('POST', '/accounts/sales/phone/scan', {});
    expect(scanned.status).toBe(200);
    await vi.waitFor(() => expect(has(sales.received, 'paired')).toBe(true), { timeout: 15_000 });
    expect(has(support.received, 'paired') || has(root.received, 'paired')).toBe(false);
    expect((await call('GET', '/accounts/support/phone')).json).toMatchObject({ linked: false, qr: { ref: supportState.qr.ref } });
    expect((await call('GET', '/phone')).json).toMatchObject({ linked: false });
    const { deviceId } = scanned.json as { deviceId: string };
    sales.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
    await vi.waitFor(() => expect(sales.received).toContainEqual(expect.objectContaining({ type: 'welcome', me: `${salesState.me}@c.us` })), { timeout: 15_000 });

    // A device id of one account means nothing to another.
    support.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
    await vi.waitFor(() => expect(support.received.filter((m) => m.type === 'unpaired')).toHaveLength(2), { timeout: 15_000 });

    sales.ws.send(JSON.stringify({ type: 'send', msg: { id: '3EB0S1', to: '15550100002@c.us', body: 'from sales', t: 1, msgType: 'chat' } }));
    await vi.waitFor(() => expect(sales.received).toContainEqual({ type: 'ack', id: '3EB0S1', ack: 3 }), { timeout: 15_000 });
    expect((await call('GET', '/accounts/sales/phone/messages')).json).toMatchObject({ messages: [{ id: '3EB0S1', body: 'from sales', order: 1 }] });
    expect((await call('GET', '/accounts/support/phone/messages')).json).toEqual({ messages: [] });
    expect((await call('GET', '/phone/messages')).json).toEqual({ messages: [] });

    const incoming = await call('POST', '/accounts/sales/phone/incoming', { from: '15550100002', body: 'to sales' });
    expect(incoming.status).toBe(200);
    await vi.waitFor(() => expect(has(sales.received, 'incoming')).toBe(true), { timeout: 15_000 });
    expect(server.account('support').incomingMessages()).toEqual([]);
    expect(server.phone.incomingMessages()).toEqual([]);

    const supportClosed = new Promise<number>((resolve) => support.ws.once('close', (code) => resolve(code)));
    expect((await call('POST', '/accounts/support/phone/offline')).json).toEqual({ online: false });
    expect(await supportClosed).toBe(4000);
    expect(sales.ws.readyState).toBe(WebSocket.OPEN);
    expect(root.ws.readyState).toBe(WebSocket.OPEN);
    expect((await call('GET', '/accounts')).json).toEqual({
      accounts: [
        { id: 'default', me: '15550100007', linked: false, online: true, devices: [] },
        { id: 'sales', me: salesState.me, linked: true, online: true, devices: [expect.objectContaining({ id: deviceId, connected: true })] },
        { id: 'support', me: supportState.me, linked: false, online: false, devices: [] },
      ],
    });

    const salesClosed = new Promise<number>((resolve) => sales.ws.once('close', (code) => resolve(code)));
    expect((await call('POST', '/accounts/sales/phone/reset')).json).toEqual({ ok: true });
    expect(await salesClosed).toBe(4001);
    expect(server.account('sales').snapshot()).toMatchObject({ linked: false, sentCount: 0 });
    expect(server.account('support').snapshot()).toMatchObject({ online: false });
    expect(root.ws.readyState).toBe(WebSocket.OPEN);
  });

  /** A page of the account at `base` linked by a scan through `<base>/phone/scan`, welcomed with its device id. */
  const linkedPage = async (base: string): Promise<{ ws: WebSocket; received: ServerMessage[]; deviceId: string }> => {
    const page = await unpairedPage(base);
    const res = await fetch(`${base}/phone/scan`, { method: 'POST' });
    expect(res.status).toBe(200);
    const { deviceId } = (await res.json()) as { deviceId: string };
    page.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
    await vi.waitFor(() => expect(has(page.received, 'welcome')).toBe(true), { timeout: 15_000 });
    return { ...page, deviceId };
  };
  const sendFrom = (page: { ws: WebSocket }, id: string, to: string): void => {
    page.ws.send(JSON.stringify({ type: 'send', msg: { id, to: `${to}@c.us`, body: `body ${id}`, t: 1, msgType: 'chat' } }));
  };
  const sentIds = async (path: string): Promise<string[]> => ((await call('GET', path)).json as { messages: { id: string }[] }).messages.map((m) => m.id);

  it('messages?to=, logout and offline/online act on the addressed account only', async () => {
    const root = await linkedPage(server.url);
    const sales = await linkedPage(server.accountUrl('sales'));
    const support = await linkedPage(server.accountUrl('support'));
    sendFrom(sales, '3EB0S1', '15550100002');
    sendFrom(sales, '3EB0S2', '15550100003');
    sendFrom(support, '3EB0P1', '15550100002');
    sendFrom(root, '3EB0R1', '15550100002');
    for (const [page, id] of [[sales, '3EB0S2'], [support, '3EB0P1'], [root, '3EB0R1']] as const) {
      await vi.waitFor(() => expect(page.received).toContainEqual({ type: 'ack', id, ack: 3 }), { timeout: 15_000 });
    }
    expect(await sentIds('/accounts/sales/phone/messages?to=15550100002')).toEqual(['3EB0S1']);
    expect(await sentIds('/accounts/sales/phone/messages')).toEqual(['3EB0S1', '3EB0S2']);
    expect(await sentIds('/accounts/support/phone/messages?to=15550100002')).toEqual(['3EB0P1']);
    expect(await sentIds('/accounts/support/phone/messages?to=15550100003')).toEqual([]);
    expect(await sentIds('/phone/messages?to=15550100002')).toEqual(['3EB0R1']);
    expect(await sentIds('/accounts/default/phone/messages?to=15550100002')).toEqual(['3EB0R1']);
    // Each account counts its own arrival order.
    expect(server.account('support').messages()[0]?.order).toBe(1);
    // No page saw another account's acks.
    expect(sales.received.some((m) => m.type === 'ack' && (m.id === '3EB0P1' || m.id === '3EB0R1'))).toBe(false);

    expect((await call('POST', '/accounts/sales/phone/logout')).json).toEqual({ unlinked: 1 });
    await vi.waitFor(() => expect(sales.received).toContainEqual({ type: 'logout' }), { timeout: 15_000 });
    expect((await call('POST', '/accounts/sales/phone/logout')).json).toEqual({ unlinked: 0 });
    expect(has(support.received, 'logout') || has(root.received, 'logout')).toBe(false);
    expect(server.listAccounts().map((a) => [a.id, a.linked])).toEqual([['default', true], ['sales', false], ['support', true]]);

    // Both offline, then only support back: its page is welcomed again, a sales page is turned away.
    const closed = [sales, support].map((page) => new Promise<number>((resolve) => page.ws.once('close', (code) => resolve(code))));
    await call('POST', '/accounts/sales/phone/offline');
    await call('POST', '/accounts/support/phone/offline');
    expect(await Promise.all(closed)).toEqual([4000, 4000]);
    expect((await call('POST', '/accounts/support/phone/online')).json).toEqual({ online: true });
    const back = await openPage(server, server.accountUrl('support'));
    sockets.push(back.ws);
    back.ws.send(JSON.stringify({ type: 'hello', deviceId: support.deviceId, version: 'v' }));
    await vi.waitFor(() => expect(back.received).toContainEqual(expect.objectContaining({ type: 'welcome', deviceId: support.deviceId })), { timeout: 15_000 });
    const refused = await openPage(server, server.accountUrl('sales'));
    sockets.push(refused.ws);
    expect(await new Promise<number>((resolve) => refused.ws.once('close', (code) => resolve(code)))).toBe(4000);
    expect(root.ws.readyState).toBe(WebSocket.OPEN);
    expect(server.listAccounts().map((a) => [a.id, a.online])).toEqual([['default', true], ['sales', false], ['support', true]]);
  });

  it('/accounts/default is the root account; an account is created by its first request or page', async () => {
    expect(server.account('default')).toBe(server.phone);
    expect(server.accountUrl('default')).toBe(server.url);
    expect(server.accountUrl('sales')).toBe(simAccountUrl(server.url, 'sales'));
    await unpairedPage(`${server.url}/accounts/default`);
    expect((await call('GET', '/accounts/default/phone')).json).toEqual((await call('GET', '/phone')).json);
    expect((await call('GET', '/accounts')).json).toEqual({ accounts: [expect.objectContaining({ id: 'default' })] });

    await openPage(server, server.accountUrl('zed')).then((page) => sockets.push(page.ws));
    await vi.waitFor(() => expect(server.listAccounts().map((a) => a.id)).toEqual(['default', 'zed']), { timeout: 15_000 });
    expect((await call('GET', '/accounts/alpha/phone/')).status).toBe(200);
    server.account('Mid');
    expect(server.listAccounts().map((a) => a.id)).toEqual(['Mid', 'alpha', 'default', 'zed']);
    expect(server.listAccounts()[0]).toEqual({ id: 'Mid', me: accountNumber('Mid'), linked: false, online: true, devices: [] });
  });

  it('an invalid account id is a 404 that names the problem; other paths under an account create none', async () => {
    for (const id of ['bad.id', 'a%20b', 'x'.repeat(65), '']) {
      const res = await call('GET', `/accounts/${id}/phone`);
      expect(res, id).toMatchObject({ status: 404, json: { error: { code: 'INVALID_ACCOUNT_ID', message: expect.stringContaining('1–64 characters'), details: [{ path: 'accountId' }] } } });
    }
    expect(await call('POST', '/accounts/bad.id/phone/scan', {})).toMatchObject({ status: 404, json: { error: { code: 'INVALID_ACCOUNT_ID' } } });
    expect(() => server.account('bad.id')).toThrow(/1–64 characters/);
    expect(await call('GET', '/accounts/typo/nope')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND', message: expect.stringContaining('/accounts/typo/nope') } } });
    expect(await call('GET', '/accounts/typo')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
    expect(await call('POST', '/accounts')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
    expect(await call('GET', '/accounts/typo/phone/nope')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND', message: expect.stringContaining('/accounts/typo/phone/nope') } } });

    // A route that does not exist, a wrong method or an invalid body under a valid id makes no account.
    expect(await call('GET', '/accounts/typo/phone/scan')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
    expect(await call('POST', '/accounts/typo/phone/incoming', { from: 'nobody' })).toMatchObject({ status: 422, json: { error: { code: 'VALIDATION' } } });
    expect(await call('GET', '/accounts/typo/phone/messages?to=nobody')).toMatchObject({ status: 400, json: { error: { code: 'VALIDATION' } } });
    expect(await call('GET', '/accounts/typo/healthz')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
    expect(server.listAccounts().map((a) => a.id)).toEqual(['default']);
  });

  it('a page WebSocket to a bad path is refused with an HTTP error in the API shape, and makes no account', async () => {
    const refusal = async (path: string): Promise<{ status: number; json: unknown }> => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}${path}`);
      try {
        return await new Promise((resolve, reject) => {
          ws.once('open', () => reject(new Error(`${path}: the upgrade was accepted`)));
          ws.once('unexpected-response', (_req, res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
          });
          ws.once('error', (err) => reject(err));
        });
      } finally {
        ws.terminate();
      }
    };
    expect(await refusal('/accounts/bad.id/ws')).toMatchObject({ status: 404, json: { error: { code: 'INVALID_ACCOUNT_ID', message: expect.stringContaining('1–64 characters') } } });
    expect(await refusal('/accounts//ws')).toMatchObject({ status: 404, json: { error: { code: 'INVALID_ACCOUNT_ID' } } });
    for (const path of ['/accounts/sales/phone/ws', '/accounts/sales/ws/x', '/accounts/sales', '/wsx', '/phone']) {
      expect(await refusal(path), path).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND', message: expect.stringContaining('/accounts/<id>/ws') } } });
    }
    expect(server.listAccounts().map((a) => a.id)).toEqual(['default']);
    // The good paths still upgrade, query string and all.
    await openPage(server, `${server.accountUrl('sales')}`).then((page) => sockets.push(page.ws));
    const withQuery = new WebSocket(`${server.url.replace('http', 'ws')}/accounts/support/ws?v=1`);
    sockets.push(withQuery);
    await new Promise<void>((resolve, reject) => {
      withQuery.once('open', () => resolve());
      withQuery.once('error', reject);
    });
    await vi.waitFor(() => expect(server.listAccounts().map((a) => a.id)).toEqual(['default', 'sales', 'support']), { timeout: 15_000 });
  });

  it('gives every account its own number, the same for an id on every run, and never the default one', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `s${i}`);
    const numbers = ids.map((id) => server.account(id).me);
    expect(new Set([...numbers, server.phone.me]).size).toBe(ids.length + 1);
    const again = await startPhoneServer({ log: () => undefined });
    try {
      expect(ids.map((id) => again.account(id).me)).toEqual(numbers);
    } finally {
      await again.close();
    }
    // A number taken already (here by the default account) moves the id to its next candidate.
    const clash = await startPhoneServer({ me: accountNumber('sales'), log: () => undefined });
    try {
      expect(clash.account('sales').me).toBe(accountNumber('sales', 1));
    } finally {
      await clash.close();
    }
  });

  it('a client of an account gets a page that opens <account URL>/ws', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'wa-sim-page-'));
    try {
      const html = readFileSync(writeSimPage(dir, server.accountUrl('sales')), 'utf8');
      expect(html).toContain(`"phoneUrl":"${server.url}/accounts/sales"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
