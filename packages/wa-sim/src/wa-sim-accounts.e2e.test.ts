/**
 * Two accounts of one phone server, each driven by its own real whatsapp-web.js Client in Chromium (a
 * Node child process each, testing/client-child.ts), as the gateway's sandbox runs one session per
 * account: each gets its own QR, a scan links only its own client, and what each sends or receives stays
 * in its own account. The steps share the two clients and run in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhoneServer, type PhoneServer } from './phone-server.js';
import type { PhoneSnapshot, SentRecord } from './sim-phone.js';
import { ClientProcess } from './testing/client-process.js';

const PEER = '15550100002';
const PEER_JID = `${PEER}@c.us`;
const ACCOUNTS = ['sales', 'support'] as const;
type AccountId = (typeof ACCOUNTS)[number];

/** Two Chromiums start at once on a loaded 2-core machine: the first QR can take far longer than alone. */
const FIRST_QR_TIMEOUT_MS = 90_000;
/** scan → ready, a send's acks, an incoming message: well under a second alone, seconds under load. */
const EVENT_TIMEOUT_MS = 30_000;

describe('wa-sim: two accounts of one phone server, two whatsapp-web.js clients', () => {
  let dir: string;
  let server: PhoneServer;
  const clients = new Map<AccountId, ClientProcess>();

  const client = (id: AccountId): ClientProcess => {
    const found = clients.get(id);
    if (found === undefined) throw new Error(`no client for account ${id}`);
    return found;
  };
  /** The phone API of one account, at its account URL. */
  const phone = async (id: AccountId, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${server.accountUrl(id)}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    expect(res.ok, `${method} ${id} ${path} → ${res.status}`).toBe(true);
    return res.json();
  };
  const snapshot = async (id: AccountId): Promise<PhoneSnapshot> => (await phone(id, 'GET', '/phone')) as PhoneSnapshot;
  const sent = async (id: AccountId): Promise<SentRecord[]> => ((await phone(id, 'GET', '/phone/messages')) as { messages: SentRecord[] }).messages;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wa-sim-accounts-e2e-'));
    // No QR rotation during the test: a QR compared with its phone's must be the one still on screen.
    server = await startPhoneServer({ ackDelayMs: 100, qrRefreshMs: 600_000, log: () => undefined });
  });

  afterAll(async () => {
    // Kills each child and its Chromium group, whatever state the test left them in.
    await Promise.all([...clients.values()].map((c) => c.dispose()));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each client shows the QR of its own account', async () => {
    for (const id of ACCOUNTS) {
      clients.set(
        id,
        new ClientProcess({
          phoneUrl: server.accountUrl(id),
          // One cache dir per account: the page written there has the account URL in it.
          cacheDir: join(dir, `cache-${id}`),
          dataPath: join(dir, 'auth'),
          clientId: id,
          ...(process.env.CHROMIUM_PATH ? { chromiumPath: process.env.CHROMIUM_PATH } : {}),
        }),
      );
    }
    const qrs = await Promise.all(ACCOUNTS.map((id) => client(id).waitFor('qr', () => true, FIRST_QR_TIMEOUT_MS)));
    const refs: string[] = [];
    for (const [i, id] of ACCOUNTS.entries()) {
      const state = await snapshot(id);
      expect(state.linked).toBe(false);
      expect(String(qrs[i]?.qr).startsWith(`${state.qr?.ref},`), `${id}: the QR on its phone is the one its client shows`).toBe(true);
      refs.push(state.qr?.ref ?? '');
    }
    expect(new Set(refs).size).toBe(2);
    expect(server.phone.snapshot().qr).toBeNull();
  });

  it('scanning one account links only its client; then the other, each with its own number', async () => {
    await phone('sales', 'POST', '/phone/scan');
    const salesReady = await client('sales').waitFor('ready', () => true, EVENT_TIMEOUT_MS);
    expect(salesReady.wid).toBe(`${server.account('sales').me}@c.us`);
    expect(salesReady.pushname).toBe('waq sandbox (sales)');
    expect(await snapshot('support')).toMatchObject({ linked: false, qr: { ref: expect.any(String) } });
    expect(client('support').events.some((e) => e.event === 'authenticated' || e.event === 'ready')).toBe(false);

    await phone('support', 'POST', '/phone/scan');
    const supportReady = await client('support').waitFor('ready', () => true, EVENT_TIMEOUT_MS);
    expect(supportReady.wid).toBe(`${server.account('support').me}@c.us`);
    expect(supportReady.wid).not.toBe(salesReady.wid);
    expect(server.listAccounts()).toEqual([
      expect.objectContaining({ id: 'default', linked: false }),
      expect.objectContaining({ id: 'sales', linked: true, devices: [expect.objectContaining({ connected: true })] }),
      expect.objectContaining({ id: 'support', linked: true, devices: [expect.objectContaining({ connected: true })] }),
    ]);
  });

  it('a message each client sends is recorded by its own account only, and acked to that client', async () => {
    const fromSales = await client('sales').call<{ id: string; serialized: string }>({ cmd: 'send', to: PEER_JID, body: 'from sales' }, EVENT_TIMEOUT_MS);
    const fromSupport = await client('support').call<{ id: string; serialized: string }>({ cmd: 'send', to: PEER_JID, body: 'from support' }, EVENT_TIMEOUT_MS);
    await client('sales').waitFor('message_ack', (e) => e.id === fromSales.serialized && e.ack === 3, EVENT_TIMEOUT_MS);
    await client('support').waitFor('message_ack', (e) => e.id === fromSupport.serialized && e.ack === 3, EVENT_TIMEOUT_MS);

    expect((await sent('sales')).map((m) => [m.id, m.body])).toEqual([[fromSales.id, 'from sales']]);
    expect((await sent('support')).map((m) => [m.id, m.body])).toEqual([[fromSupport.id, 'from support']]);
    expect(server.phone.messages()).toEqual([]);
    expect(client('sales').events.some((e) => e.event === 'message_ack' && e.id === fromSupport.serialized)).toBe(false);
    expect(client('support').events.some((e) => e.event === 'message_ack' && e.id === fromSales.serialized)).toBe(false);
  });

  it('a contact writing to one account reaches only that account’s client', async () => {
    await phone('support', 'POST', '/phone/incoming', { from: PEER, body: 'to support' });
    await phone('sales', 'POST', '/phone/incoming', { from: PEER, body: 'to sales' });
    await client('support').waitFor('message', (e) => e.body === 'to support', EVENT_TIMEOUT_MS);
    await client('sales').waitFor('message', (e) => e.body === 'to sales', EVENT_TIMEOUT_MS);
    // Each page marks what it handed to its client: the other account's message was never on it.
    await expect.poll(() => server.account('support').incomingMessages().map((m) => [m.body, m.delivered])).toEqual([['to support', true]]);
    await expect.poll(() => server.account('sales').incomingMessages().map((m) => [m.body, m.delivered])).toEqual([['to sales', true]]);
    expect(client('sales').events.filter((e) => e.event === 'message').map((e) => e.body)).toEqual(['to sales']);
    expect(client('support').events.filter((e) => e.event === 'message').map((e) => e.body)).toEqual(['to support']);
  });

  it('logging one account out disconnects only its client', async () => {
    await phone('sales', 'POST', '/phone/logout');
    await client('sales').waitFor('disconnected', (e) => e.reason === 'LOGOUT', EVENT_TIMEOUT_MS);
    expect(await client('support').call({ cmd: 'state' })).toBe('CONNECTED');
    expect(await snapshot('support')).toMatchObject({ linked: true });
    expect(client('support').events.some((e) => e.event === 'disconnected')).toBe(false);
    for (const id of ACCOUNTS) expect(client(id).events.filter((e) => e.event === 'unhandled')).toEqual([]);
  });
});
