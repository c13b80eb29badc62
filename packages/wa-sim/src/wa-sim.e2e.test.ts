/**
 * Contract test: the real whatsapp-web.js (pinned 1.34.7) + Chromium against the simulator, through the
 * whole life of a session. Each "gateway" is a Node child process holding the Client (testing/
 * client-child.ts) so SIGTERM and kill -9 are real. The steps share one profile and run in order.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPhoneServer, type PhoneServer } from './phone-server.js';
import type { SentRecord } from './sim-phone.js';
import { UNREGISTERED_NUMBER } from './numbers.js';
import { ClientProcess } from './testing/client-process.js';

/**
 * Module names whatsapp-web.js 1.34.7 asks `window.require` for (on the paths this test drives) that
 * the simulator deliberately does not provide; the library tolerates `undefined` for each of them.
 * A library upgrade that asks for more makes the test fail with the new list.
 */
const EXPECTED_MISSING = [
  'WAWebAddonPollVoteTableMode',
  'WAWebAddonReactionTableMode',
  'WAWebBackendJobsCommon',
  'WAWebCallCollection',
  'WAWebE2EProtoUtils',
];

const PEER = '15550100002';
const PEER_JID = `${PEER}@c.us`;

describe('wa-sim contract with whatsapp-web.js + Chromium', () => {
  let dir: string;
  let server: PhoneServer;
  const spawned: ClientProcess[] = [];
  const timings: Record<string, number> = {};

  const startClient = (): ClientProcess => {
    const child = new ClientProcess({
      phoneUrl: server.url,
      cacheDir: join(dir, 'cache'),
      dataPath: join(dir, 'auth'),
      clientId: 'default',
      ...(process.env.CHROMIUM_PATH ? { chromiumPath: process.env.CHROMIUM_PATH } : {}),
    });
    spawned.push(child);
    return child;
  };
  const phone = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    expect(res.ok, `${method} ${path} → ${res.status}`).toBe(true);
    return res.json();
  };
  const sentTo = async (to: string): Promise<SentRecord[]> =>
    ((await phone('GET', `/phone/messages?to=${to}`)) as { messages: SentRecord[] }).messages;

  /** Start a client on the saved profile and expect it to restore without a QR. */
  const restart = async (label: string): Promise<ClientProcess> => {
    const client = startClient();
    const ready = await client.waitFor('ready');
    timings[label] = ready.at - client.spawnedAt;
    expect(client.events.some((e) => e.event === 'qr')).toBe(false);
    return client;
  };

  let client: ClientProcess;
  let firstId: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wa-sim-e2e-'));
    server = await startPhoneServer({ ackDelayMs: 100 });
  });

  afterAll(async () => {
    await Promise.all(spawned.map((c) => c.dispose()));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    console.info('wa-sim timings (ms, from process spawn):', timings);
  });

  it('fresh start shows a QR; a scan authenticates and gets ready', async () => {
    client = startClient();
    const qr = await client.waitFor('qr');
    timings.spawnToQr = qr.at - client.spawnedAt;
    const snapshot = (await phone('GET', '/phone')) as { qr: { ref: string } | null; linked: boolean };
    expect(snapshot.linked).toBe(false);
    expect(String(qr.qr).startsWith(`${snapshot.qr?.ref},`)).toBe(true);

    const scannedAt = Date.now();
    await phone('POST', '/phone/scan', { ref: snapshot.qr?.ref });
    const authenticated = await client.waitFor('authenticated');
    const ready = await client.waitFor('ready');
    timings.scanToReady = ready.at - scannedAt;
    expect(authenticated.at).toBeLessThanOrEqual(ready.at);
    expect(ready.wid).toBe('15550100001@c.us');
    expect(await client.call({ cmd: 'state' })).toBe('CONNECTED');
  });

  it('sends a message the phone records exactly once, then acks sent → delivered → read', async () => {
    const before = Date.now();
    const sent = await client.call<{ id: string; serialized: string; ack: number }>({ cmd: 'send', to: PEER_JID, body: 'hello from waq' });
    timings.send = Date.now() - before;
    firstId = sent.id;
    expect(sent.serialized).toBe(`true_${PEER_JID}_${sent.id}`);

    for (const ack of [1, 2, 3]) await client.waitFor('message_ack', (e) => e.id === sent.serialized && e.ack === ack);
    const recorded = await sentTo(PEER);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ id: sent.id, serialized: sent.serialized, body: 'hello from waq', ack: 3, order: 1 });
  });

  it('rejects an unregistered recipient the way WhatsApp Web 2.3000 does', async () => {
    await expect(client.call({ cmd: 'send', to: `${UNREGISTERED_NUMBER}@c.us`, body: 'x' })).rejects.toThrow('No LID for user');
    expect(await sentTo(UNREGISTERED_NUMBER)).toHaveLength(0);
    expect(await client.call({ cmd: 'registered', number: UNREGISTERED_NUMBER })).toBe(false);
    expect(await client.call({ cmd: 'registered', number: PEER })).toBe(true);
  });

  it('delivers an incoming message as a "message" event', async () => {
    const { id } = (await phone('POST', '/phone/incoming', { from: PEER, body: 'hi gateway' })) as { id: string };
    const msg = await client.waitFor('message', (e) => e.body === 'hi gateway');
    expect(msg).toMatchObject({ from: PEER_JID, id: `false_${PEER_JID}_${id}` });
  });

  it('asks window.require only for the modules the simulator provides, plus the known allow-list', async () => {
    await client.call({ cmd: 'fetch', chatId: PEER_JID, limit: 10 });
    const missing = await client.call<string[]>({ cmd: 'missing' });
    expect([...missing].sort()).toEqual(EXPECTED_MISSING);
  });

  it('restores the session without a QR after SIGTERM, with sent messages synced back', async () => {
    expect(await client.stop()).toBe(143);
    client = await restart('sigtermRestartToReady');
    const history = await client.call<{ id: string; fromMe: boolean; ack: number }[]>({ cmd: 'fetch', chatId: PEER_JID, limit: 10 });
    expect(history.filter((m) => m.fromMe)).toEqual([expect.objectContaining({ id: firstId, ack: 3 })]);
    expect(history.some((m) => !m.fromMe)).toBe(true);
  });

  it('restores without a QR after kill -9 of Chromium', async () => {
    client.killBrowser();
    await client.waitFor('browser_disconnected');
    await client.killNode();
    client = await restart('chromiumKillRestartToReady');
  });

  it('restores without a QR after kill -9 of the Node process (its orphan Chromium killed by the next owner)', async () => {
    await client.killNode();
    // Chromium outlives its Node parent and keeps the profile locked; the next owner must kill it first.
    expect(() => process.kill(client.browserPid!, 0)).not.toThrow();
    client.killBrowser();
    client = await restart('nodeKillRestartToReady');
  });

  it('goes TIMEOUT while the phone is offline and back to CONNECTED, delivering a queued send once', async () => {
    await phone('POST', '/phone/offline');
    await client.waitFor('change_state', (e) => e.state === 'TIMEOUT');
    expect(await client.call({ cmd: 'state' })).toBe('TIMEOUT');

    const queued = await client.call<{ id: string; ack: number }>({ cmd: 'send', to: PEER_JID, body: 'sent while offline' });
    expect(queued.ack).toBe(0);
    expect(await sentTo(PEER)).toHaveLength(1);

    const onlineAt = Date.now();
    await phone('POST', '/phone/online');
    const connected = await client.waitFor('change_state', (e) => e.state === 'CONNECTED' && e.at >= onlineAt);
    timings.onlineToConnected = connected.at - onlineAt;
    await client.waitFor('message_ack', (e) => String(e.id).endsWith(queued.id) && e.ack === 1);
    const recorded = await sentTo(PEER);
    expect(recorded.map((m) => m.id)).toEqual([firstId, queued.id]);
    expect(client.events.some((e) => e.event === 'disconnected')).toBe(false);
  });

  it('logout from the phone shows up as disconnected LOGOUT, then a fresh QR; the next start is unpaired', async () => {
    const loggedOutAt = Date.now();
    await phone('POST', '/phone/logout');
    await client.waitFor('disconnected', (e) => e.reason === 'LOGOUT');
    // whatsapp-web.js itself deletes the LocalAuth profile and re-injects into the reloaded page.
    await client.waitFor('qr', (e) => e.at >= loggedOutAt);
    expect(client.events.filter((e) => e.event === 'unhandled')).toEqual([]);
    expect(await client.stop()).toBe(143);

    client = startClient();
    await client.waitFor('qr');
    expect(((await phone('GET', '/phone')) as { linked: boolean }).linked).toBe(false);
    await phone('POST', '/phone/scan');
    await client.waitFor('ready');
    expect(client.events.filter((e) => e.event === 'unhandled')).toEqual([]);
  });

  it('client.logout() from the gateway unlinks the device on the phone and removes the profile', async () => {
    expect(((await phone('GET', '/phone')) as { linked: boolean }).linked).toBe(true);
    await client.call({ cmd: 'logout' });
    expect(((await phone('GET', '/phone')) as { linked: boolean }).linked).toBe(false);
    expect(existsSync(join(dir, 'auth', 'session-default'))).toBe(false);
    expect(await client.stop()).toBe(143);
  });
});
