/**
 * Reliability scenario 17 (issue 19): sends that know their time, and ban-safe budgets, on the real
 * stack (a worker process of the production build, whatsapp-web.js + Chromium, the simulator; the API
 * for the sends, as a client would).
 *
 * 17. a send with a TTL accepted while the phone is away, for longer than the TTL: never delivered,
 *     `failed` with code `expired`; a send without one, accepted after it, goes out once the phone is back.
 * 17b. a scheduled send arrives within a second of its `sendAt`.
 * 17c. a `high` send accepted after a backlog of bulk sends (held while the session is stopped) is the
 *     first on the phone when the session runs again.
 * 17d. a daily cap of 50 and a budget of 10 new chats, 200 sends to 100 new numbers: the phone gets
 *     exactly what the budgets allow (both messages of 10 numbers), the rest wait, none fails.
 * 17e. pairing by a code through the API in sandbox mode, on a fresh link and on a client made for a QR
 *     code (whatsapp-web.js's pitfall before 1.34); the simulated phone enters the code.
 */
import { SessionRegistry, type SessionSettings } from '@waq/shared';
import type { SpawnedProcess } from '@waq/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { report, scale, seconds } from './scale.js';
import { BODY_MARKER, Stack, type ApiProcess } from './stack.js';

const SESSION = 'careful-17';
let stack: Stack;
let worker: SpawnedProcess;
let api: ApiProcess;
let registry: SessionRegistry;

interface Accepted {
  readonly id: string;
  readonly status: string;
  readonly expiresAt?: string;
}

async function send(body: Record<string, unknown>): Promise<Accepted> {
  const response = await api.fetch(`/v1/sessions/${SESSION}/messages`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  expect(response.status).toBe(202);
  return (await response.json()) as Accepted;
}

async function settings(patch: { [K in keyof SessionSettings]?: SessionSettings[K] | null }): Promise<void> {
  await registry.update(SESSION, { settings: patch });
}

beforeAll(async () => {
  stack = await Stack.create({ sessionId: SESSION });
  registry = new SessionRegistry(stack.redis, stack.prefix);
  worker = await stack.startWorker('worker-17');
  api = await stack.startApi('api-17');
  await stack.waitForStatus('STOPPED');
  await stack.pair();
});

afterAll(async () => {
  await stack?.close();
});

describe('careful sending on the real stack', () => {
  it('17. a send with a TTL held through a phone outage longer than it is never delivered and ends expired; one without goes out after', async () => {
    const ttlSeconds = scale(5, 30);
    const outageMs = scale(10_000, 60_000);
    const to = '+49 151 30000017';
    stack.sim.setOnline(false);
    const wentAway = Date.now();
    const code = await send({ to, text: `${BODY_MARKER} your code is 4711`, ttlSeconds });
    const plain = await send({ to, text: `${BODY_MARKER} after the code` });
    // The outage is the fault itself: it lasts its length, whatever happens meanwhile.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, outageMs - (Date.now() - wentAway))));
    const expiredView = await stack.producer.getMessage(code.id);
    stack.sim.setOnline(true);
    const backAt = Date.now();
    await stack.producer.waitForMessage(plain.id, { timeoutMs: 60_000 });
    const received = stack.bodiesTo(to);
    report({
      scenario: '17. a send with a TTL through a phone outage',
      load: `1 send with ttlSeconds ${ttlSeconds}, then 1 without`,
      faults: `phone offline ${seconds(outageMs)}`,
      lost: received.includes(`${BODY_MARKER} after the code`) ? 0 : 1,
      duplicated: received.length - new Set(received).size,
      recovery: `the send without a TTL on the phone ${seconds(Date.now() - backAt)} after it was back`,
      notes: `the TTL send: ${expiredView?.status} (${expiredView?.error?.code}) before the phone was back, delivered: ${received.filter((b) => b.includes('4711')).length} times`,
    });
    expect(expiredView).toMatchObject({ status: 'failed', error: { code: 'expired' }, expiresAt: code.expiresAt });
    expect(received).toEqual([`${BODY_MARKER} after the code`]);
  }, 300_000);

  it('17b. a scheduled send arrives within a second of its sendAt', async () => {
    const to = '+49 151 30000018';
    const sendAt = Math.ceil((Date.now() + 4_000) / 1_000) * 1_000;
    const accepted = await send({ to, text: `${BODY_MARKER} scheduled`, sendAt: new Date(sendAt).toISOString() });
    expect(accepted.status).toBe('scheduled');
    expect((await stack.producer.getMessage(accepted.id))?.status).toBe('scheduled');
    await stack.producer.waitForMessage(accepted.id, { timeoutMs: 60_000 });
    const [message] = stack.sim.messages('4915130000018');
    const lateMs = (message?.receivedAt ?? 0) - sendAt;
    report({ scenario: '17b. a scheduled send', load: '1 send, sendAt 4 s ahead', faults: '-', lost: 0, duplicated: 0, recovery: `on the phone ${lateMs} ms after its sendAt` });
    expect(lateMs).toBeGreaterThanOrEqual(0);
    expect(lateMs).toBeLessThan(1_000);
  }, 120_000);

  it('17c. a high-priority send jumps a backlog of bulk sends held while the session is stopped', async () => {
    const bulk = scale(200, 1_000);
    const bulkTo = '+49 151 30000019';
    const codeTo = '+49 151 30000020';
    await registry.update(SESSION, { desired: 'stopped' });
    // Stopped: its worker closes it and lets it go (no owner: WORKER_OFFLINE, the last published STOPPED).
    await vi.waitFor(async () => expect(await stack.producer.getState()).toMatchObject({ status: 'WORKER_OFFLINE', lastPublishedStatus: 'STOPPED' }), { timeout: 60_000, interval: 100 });
    const ids: string[] = [];
    for (let i = 0; i < bulk; i += 1) ids.push((await stack.producer.send({ to: bulkTo, text: `${BODY_MARKER} bulk ${i}` })).id);
    const code = await send({ to: codeTo, text: `${BODY_MARKER} code 0815`, priority: 'high' });
    expect(code.status).toBe('held');
    const startedAt = Date.now();
    await registry.update(SESSION, { desired: 'running' });
    expect(await stack.producer.waitForMessage(code.id, { timeoutMs: 120_000 })).toMatchObject({ status: 'sent' });
    const codeMessage = stack.sim.messages('4915130000020')[0];
    expect(codeMessage).toBeDefined();
    const codeAt = codeMessage!.receivedAt;
    const bulkBefore = stack.sim.messages('4915130000019').filter((m) => m.receivedAt <= codeAt).length;
    await stack.waitAllCompleted(ids, 300_000);
    const tally = stack.tally(bulkTo, Array.from({ length: bulk }, (_, i) => `${BODY_MARKER} bulk ${i}`));
    report({
      scenario: '17c. a high-priority send behind a backlog',
      load: `${bulk} bulk sends held, then 1 high`,
      faults: 'session stopped while they were accepted',
      lost: tally.lost,
      duplicated: tally.duplicated,
      recovery: `the high send on the phone ${seconds(codeAt - startedAt)} after the session was started again, ${bulkBefore} bulk sends before it; the backlog in order: ${tally.inOrder}`,
    });
    expect(bulkBefore).toBe(0);
    expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
  }, 600_000);

  it('17d. a daily cap of 50 and 10 new chats: 200 sends to 100 new numbers, the phone gets exactly what the budgets allow, the rest wait', async () => {
    // Set while the session is stopped, so its next owner has them from its first send (a running one
    // applies a change within a second).
    await registry.update(SESSION, { desired: 'stopped' });
    await vi.waitFor(async () => expect(await stack.producer.getState()).toMatchObject({ status: 'WORKER_OFFLINE', lastPublishedStatus: 'STOPPED' }), { timeout: 60_000, interval: 100 });
    await settings({ dailyCap: 50, newChatsPerDay: 10 });
    // The counts start now: what the earlier scenarios sent does not count against the budgets here.
    await stack.redis.del(stack.keys.pacingSends, stack.keys.pacingNewChats);
    const restartedAt = Date.now();
    await registry.update(SESSION, { desired: 'running' });
    await stack.waitForReadyAfter(restartedAt, 60_000);
    expect(((await (await api.fetch(`/v1/sessions/${SESSION}`)).json()) as { pacing: unknown }).pacing).toMatchObject({ dailyCap: 50, newChatsPerDay: 10 });
    const numbers = Array.from({ length: 100 }, (_, i) => `+49 152 ${String(4_000_000 + i)}`);
    const plan = [...numbers.map((to) => ({ to, text: `${BODY_MARKER} first to ${to}` })), ...numbers.map((to) => ({ to, text: `${BODY_MARKER} second to ${to}` }))];
    const startedAt = Date.now();
    const ids: string[] = [];
    for (const { to, text } of plan) ids.push((await send({ to, text })).id);
    const digits = (to: string): string => to.replace(/\D/g, '');
    const phoneCount = (): number => numbers.reduce((sum, to) => sum + stack.sim.messages(digits(to)).length, 0);
    const statuses = async (): Promise<Record<string, number>> => {
      const counts: Record<string, number> = {};
      for (const view of await Promise.all(ids.map((id) => stack.producer.getMessage(id)))) counts[view?.status ?? 'missing'] = (counts[view?.status ?? 'missing'] ?? 0) + 1;
      return counts;
    };
    // Settled: 20 sent, 180 waiting for the budget of new chats (delayed for a day), nothing else.
    await vi.waitFor(async () => expect(await statuses()).toEqual({ sent: 20, waiting: 180 }), { timeout: 120_000, interval: 500 });
    const settledMs = Date.now() - startedAt;
    const reached = numbers.filter((to) => stack.sim.messages(digits(to)).length > 0);
    const view = (await (await api.fetch(`/v1/sessions/${SESSION}`)).json()) as { pacing: { sentLast24h: number; newChatsLast24h: number } };
    const waiting = await stack.producer.getMessage(ids.at(-1)!);
    report({
      scenario: '17d. daily cap 50, new-chat budget 10',
      load: '200 sends to 100 new numbers (two each)',
      faults: '-',
      lost: 0,
      duplicated: 0,
      recovery: `settled ${seconds(settledMs)} after the first send: ${phoneCount()} on the phone (${reached.length} numbers, both messages each), 180 waiting (new_chat_budget), 0 failed`,
      notes: `session view: ${view.pacing.sentLast24h} sent and ${view.pacing.newChatsLast24h} new chats in the last 24 h`,
    });
    expect(phoneCount()).toBe(20);
    expect(reached).toEqual(numbers.slice(0, 10));
    for (const to of reached) expect(stack.sim.messages(digits(to)).map((m) => m.body)).toEqual([`${BODY_MARKER} first to ${to}`, `${BODY_MARKER} second to ${to}`]);
    expect(view.pacing).toMatchObject({ sentLast24h: 20, newChatsLast24h: 10 });
    expect(waiting).toMatchObject({ status: 'waiting', waiting: { reason: 'new_chat_budget' } });
    expect(worker.child.exitCode).toBeNull();
    // Back to the stack's settings (no budgets) for what follows; the 180 stay parked for a day.
    await settings({ dailyCap: null, newChatsPerDay: null });
  }, 600_000);

  it('17e. pair by a code in sandbox mode, through the API: on a fresh link, and on a client already showing a QR code', async () => {
    const route = `/v1/sessions/${SESSION}`;
    const json = { 'Content-Type': 'application/json' };
    interface ConnectAnswer {
      readonly pairingCode?: string;
      readonly state: { readonly status: string; readonly qr?: unknown; readonly pairingCode?: { readonly phoneNumber: string } };
    }
    const linkByCode = async (): Promise<ConnectAnswer> => {
      const response = await api.fetch(`${route}/connect`, { method: 'POST', headers: json, body: JSON.stringify({ method: 'code', phoneNumber: `+${stack.sim.me}` }) });
      expect(response.status).toBe(200);
      return (await response.json()) as ConnectAnswer;
    };
    const enter = async (): Promise<number> => {
      const startedAt = Date.now();
      const entered = await api.fetch(`${route}/sandbox/scan`, { method: 'POST' });
      expect(await entered.json()).toMatchObject({ codeEntered: true });
      return stack.waitForReadyAfter(startedAt, 60_000);
    };

    await stack.producer.logout('reliability');
    await stack.waitForStatus('LOGGED_OUT', 60_000);
    const fresh = await linkByCode();
    expect(fresh.pairingCode).toMatch(/^[A-Z0-9]{8}$/);
    expect(fresh.state).toMatchObject({ status: 'QR', pairingCode: { phoneNumber: `+${stack.sim.me}` } });
    expect(fresh.state.qr).toBeUndefined();
    const freshMs = await enter();

    // A client made for a QR code, then asked for a code: both shown, the code links.
    await stack.producer.logout('reliability');
    await stack.waitForStatus('LOGGED_OUT', 60_000);
    const qr = await api.fetch(`${route}/connect?wait=true`, { method: 'POST' });
    expect(((await qr.json()) as ConnectAnswer).state.status).toBe('QR');
    const beside = await linkByCode();
    expect(beside.pairingCode).toMatch(/^[A-Z0-9]{8}$/);
    expect(beside.state.qr).toBeDefined();
    const besideMs = await enter();
    const sent = await send({ to: '+49 151 30000021', text: `${BODY_MARKER} after linking by code` });
    expect(await stack.producer.waitForMessage(sent.id, { timeoutMs: 60_000 })).toMatchObject({ status: 'sent' });
    report({
      scenario: '17e. pair by a code (sandbox)',
      load: 'a fresh link by code; a code asked of a client showing a QR code',
      faults: '-',
      lost: 0,
      duplicated: 0,
      recovery: `code entered → READY ${seconds(freshMs)} and ${seconds(besideMs)}; a send after it on the phone`,
    });
  }, 300_000);
});
