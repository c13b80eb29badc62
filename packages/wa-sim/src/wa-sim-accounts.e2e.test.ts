/**
 * Two accounts of one phone server, each driven by its own real whatsapp-web.js Client in Chromium (a
 * Node child process each, testing/client-child.ts), as the gateway's sandbox runs one session per
 * account: each gets its own QR, a scan links only its own client, and what each sends or receives stays
 * in its own account. With a state directory, a restarted phone server (same port, as the sandbox's
 * separate process comes back) and restarted clients each find their own account again. The steps share
 * the two clients and run in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhoneServer, type PhoneServer, type PhoneServerOptions } from './phone-server.js';
import type { PhoneSnapshot, SentRecord } from './sim-phone.js';
import { ClientProcess } from './testing/client-process.js';

const PEER = '15550100002';
const PEER_JID = `${PEER}@c.us`;
const ACCOUNTS = ['sales', 'support'] as const;
type AccountId = (typeof ACCOUNTS)[number];

/**
 * Two Chromiums start at once on a loaded 2-core machine: the first QR (or the ready of a restart) can
 * take far longer than alone (≈1–4 s).
 */
const START_TIMEOUT_MS = 90_000;
/** scan → ready, a send's acks, an incoming message: well under a second alone, seconds under load. */
const EVENT_TIMEOUT_MS = 30_000;

describe('wa-sim: two accounts of one phone server, two whatsapp-web.js clients', () => {
  let dir: string;
  let server: PhoneServer;
  let serverOptions: PhoneServerOptions;
  const clients = new Map<AccountId, ClientProcess>();
  /** Every child ever started (restarts replace the ones in `clients`): all are disposed at the end. */
  const spawned: ClientProcess[] = [];

  const startClient = (id: AccountId): ClientProcess => {
    const child = new ClientProcess({
      phoneUrl: server.accountUrl(id),
      // One cache dir per account: the page written there has the account URL in it.
      cacheDir: join(dir, `cache-${id}`),
      dataPath: join(dir, 'auth'),
      clientId: id,
      ...(process.env.CHROMIUM_PATH ? { chromiumPath: process.env.CHROMIUM_PATH } : {}),
    });
    clients.set(id, child);
    spawned.push(child);
    return child;
  };
  /** Stop the phone server and start it again on the same port and state directory; resolves when it listens. */
  const restartPhoneServer = async (): Promise<void> => {
    await server.close();
    server = await startPhoneServer({ ...serverOptions, port: server.port });
  };
  const qrCount = (id: AccountId): number => client(id).events.filter((e) => e.event === 'qr').length;

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
    serverOptions = { ackDelayMs: 100, qrRefreshMs: 600_000, stateDir: join(dir, 'phone-state'), stateWriteDelayMs: 20, log: () => undefined };
    server = await startPhoneServer(serverOptions);
  });

  afterAll(async () => {
    // Kills each child and its Chromium group, whatever state the test left them in.
    await Promise.all(spawned.map((c) => c.dispose()));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let supportRef: string | undefined;
  /** Each client's `client.info.wid` when first linked. */
  const wids = new Map<AccountId, unknown>();

  it('each client shows the QR of its own account', async () => {
    for (const id of ACCOUNTS) startClient(id);
    const qrs = await Promise.all(ACCOUNTS.map((id) => client(id).waitFor('qr', () => true, START_TIMEOUT_MS)));
    const refs: string[] = [];
    for (const [i, id] of ACCOUNTS.entries()) {
      const state = await snapshot(id);
      expect(state.linked).toBe(false);
      expect(String(qrs[i]?.qr).startsWith(`${state.qr?.ref},`), `${id}: the QR on its phone is the one its client shows`).toBe(true);
      refs.push(state.qr?.ref ?? '');
    }
    expect(new Set(refs).size).toBe(2);
    supportRef = refs[1];
    expect(server.phone.snapshot().qr).toBeNull();
  });

  it('scanning one account links only its client; then the other, each with its own number', async () => {
    await phone('sales', 'POST', '/phone/scan');
    const salesReady = await client('sales').waitFor('ready', () => true, EVENT_TIMEOUT_MS);
    expect(salesReady.wid).toBe(`${server.account('sales').me}@c.us`);
    expect(salesReady.pushname).toBe('waq sandbox (sales)');
    // The other account still shows the very QR its client shows, unscanned.
    expect(await snapshot('support')).toMatchObject({ linked: false, qr: { ref: supportRef } });
    expect(client('support').events.some((e) => e.event === 'authenticated' || e.event === 'ready')).toBe(false);

    await phone('support', 'POST', '/phone/scan');
    const supportReady = await client('support').waitFor('ready', () => true, EVENT_TIMEOUT_MS);
    expect(supportReady.wid).toBe(`${server.account('support').me}@c.us`);
    expect(supportReady.wid).not.toBe(salesReady.wid);
    expect([salesReady.wid, supportReady.wid]).not.toContain(`${server.phone.me}@c.us`);
    wids.set('sales', salesReady.wid).set('support', supportReady.wid);
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

  it('a restarted phone server (same port and state dir) takes each client back on its own account, no QR', async () => {
    const qrsBefore = ACCOUNTS.map(qrCount);
    const stoppedAt = Date.now();
    await restartPhoneServer();
    for (const id of ACCOUNTS) {
      const timeout = await client(id).waitFor('change_state', (e) => e.state === 'TIMEOUT' && e.at >= stoppedAt, EVENT_TIMEOUT_MS);
      await client(id).waitFor('change_state', (e) => e.state === 'CONNECTED' && e.at >= timeout.at, EVENT_TIMEOUT_MS);
    }
    expect(ACCOUNTS.map(qrCount)).toEqual(qrsBefore);
    expect(server.listAccounts()).toEqual([
      expect.objectContaining({ id: 'default', linked: false }),
      expect.objectContaining({ id: 'sales', linked: true, devices: [expect.objectContaining({ connected: true })] }),
      expect.objectContaining({ id: 'support', linked: true, devices: [expect.objectContaining({ connected: true })] }),
    ]);

    // The restored accounts go on where they stopped: their history and arrival order, each its own.
    const again = await client('support').call<{ id: string; serialized: string }>({ cmd: 'send', to: PEER_JID, body: 'support after the restart' }, EVENT_TIMEOUT_MS);
    await client('support').waitFor('message_ack', (e) => e.id === again.serialized && e.ack === 3, EVENT_TIMEOUT_MS);
    expect((await sent('support')).map((m) => [m.body, m.order])).toEqual([['from support', 1], ['support after the restart', 2]]);
    expect((await sent('sales')).map((m) => [m.body, m.order])).toEqual([['from sales', 1]]);
  });

  it('restarted clients restore their own accounts without a QR, each with its own history', async () => {
    expect(await Promise.all(ACCOUNTS.map((id) => client(id).stop()))).toEqual([143, 143]);
    for (const id of ACCOUNTS) startClient(id);
    const ready = await Promise.all(ACCOUNTS.map((id) => client(id).waitFor('ready', () => true, START_TIMEOUT_MS)));
    for (const [i, id] of ACCOUNTS.entries()) {
      expect(ready[i]?.wid, id).toBe(wids.get(id));
      expect(qrCount(id), id).toBe(0);
    }
    type Fetched = { fromMe: boolean; body: string }[];
    const history = async (id: AccountId): Promise<string[]> =>
      (await client(id).call<Fetched>({ cmd: 'fetch', chatId: PEER_JID, limit: 20 }, EVENT_TIMEOUT_MS)).map((m) => `${m.fromMe ? '>' : '<'} ${m.body}`).sort();
    expect(await history('sales')).toEqual(['< to sales', '> from sales']);
    expect(await history('support')).toEqual(['< to support', '> from support', '> support after the restart']);
  });

  it('logging one account out disconnects only its client', async () => {
    await phone('sales', 'POST', '/phone/logout');
    await client('sales').waitFor('disconnected', (e) => e.reason === 'LOGOUT', EVENT_TIMEOUT_MS);
    expect(await client('support').call({ cmd: 'state' })).toBe('CONNECTED');
    expect(await snapshot('support')).toMatchObject({ linked: true });
    expect(client('support').events.some((e) => e.event === 'disconnected')).toBe(false);
    // whatsapp-web.js shows the logged-out client a fresh QR: one of its own account.
    const qr = await client('sales').waitFor('qr', () => true, EVENT_TIMEOUT_MS);
    expect(String(qr.qr).startsWith(`${(await snapshot('sales')).qr?.ref},`)).toBe(true);
    for (const id of ACCOUNTS) expect(client(id).events.filter((e) => e.event === 'unhandled')).toEqual([]);
  });

  it('after the logout a restarted phone server keeps sales unlinked and support linked; a new scan relinks sales', async () => {
    const stoppedAt = Date.now();
    await restartPhoneServer();
    const timeout = await client('support').waitFor('change_state', (e) => e.state === 'TIMEOUT' && e.at >= stoppedAt, EVENT_TIMEOUT_MS);
    await client('support').waitFor('change_state', (e) => e.state === 'CONNECTED' && e.at >= timeout.at, EVENT_TIMEOUT_MS);
    expect(server.listAccounts().map((a) => [a.id, a.linked])).toEqual([['default', false], ['sales', false], ['support', true]]);
    // The unpaired sales page is back too, showing a QR of the restarted server.
    await expect.poll(() => server.account('sales').snapshot().qr, { timeout: EVENT_TIMEOUT_MS }).not.toBeNull();

    const scannedAt = Date.now();
    await phone('sales', 'POST', '/phone/scan');
    const ready = await client('sales').waitFor('ready', (e) => e.at >= scannedAt, EVENT_TIMEOUT_MS);
    // The account keeps its number through a logout and two restarts of the phone server.
    expect(ready.wid).toBe(wids.get('sales'));
    expect(await client('support').call({ cmd: 'state' })).toBe('CONNECTED');
    for (const id of ACCOUNTS) expect(client(id).events.filter((e) => e.event === 'unhandled')).toEqual([]);
  });
});
