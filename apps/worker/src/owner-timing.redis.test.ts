/**
 * Sends that know their time, on the owner with the fake driver and real Redis: expiry (the sweeper and
 * the handler), scheduling, priority and cancellation.
 */
import { SessionRegistry, type SessionEvent } from '@waq/shared';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';

import { OwnerHarness } from './testing/owner-harness.js';

let h: OwnerHarness;

beforeEach(async () => {
  h = await OwnerHarness.create();
});

afterEach(async () => {
  await h.close();
});

const ALICE = '+49 151 00000001';
const ALICE_WID = '4915100000001@c.us';
const BOB = '+49 151 00000002';
const BOB_WID = '4915100000002@c.us';

const failedEvents = async (id: string): Promise<SessionEvent[]> => (await h.events()).filter((e) => (e.type === 'message.failed' || e.type === 'message.cancelled') && e.id === id);

describe('expiry', () => {
  it('withdraws a held send at its expiry: failed with code expired and one event, never sent; the sends around it go out', async () => {
    h.startOwner();
    await h.waitForStatus('STOPPED');
    const before = await h.producer.send({ to: ALICE, text: 'no expiry, before' });
    const code = await h.producer.send({ to: ALICE, text: 'your code is 1234', ttlSeconds: 1 });
    const after = await h.producer.send({ to: ALICE, text: 'no expiry, after' });
    expect(code.status).toBe('held');
    expect(Date.parse(code.expiresAt ?? '')).toBeGreaterThan(Date.now());

    const expired = await h.producer.waitForMessage(code.id, { timeoutMs: 20_000 });
    expect(expired).toMatchObject({ status: 'failed', to: ALICE_WID, expiresAt: code.expiresAt, error: { code: 'expired', message: expect.stringMatching(/expired at .* it was not sent/) } });
    // Its job left the queue: only the two others wait.
    expect(await h.producer.queues.outbox.getJob(code.id)).toBeUndefined();
    expect(await h.producer.queues.outbox.getJobCountByTypes('waiting', 'paused', 'prioritized')).toBe(2);
    expect(await failedEvents(code.id)).toEqual([expect.objectContaining({ type: 'message.failed', code: 'expired' })]);
    expect(await h.fixture.redis.zcard(h.keys.expiries)).toBe(0);

    await h.pairFresh();
    await h.producer.waitForMessage(after.id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['no expiry, before', 'no expiry, after']);
    expect(await h.producer.getMessage(before.id)).toMatchObject({ status: 'sent' });
    // Still one event, and a repeat of its key does not bring it back.
    expect(await h.producer.send({ to: ALICE, text: 'your code is 1234', ttlSeconds: 1, idempotencyKey: code.id })).toMatchObject({ id: code.id, duplicate: true, status: 'failed' });
    expect(await failedEvents(code.id)).toHaveLength(1);
  });

  it("applies the session's messageTtlSeconds to a send without an expiry of its own", async () => {
    await new SessionRegistry(h.fixture.redis, h.fixture.prefix).update('default', { settings: { messageTtlSeconds: 1 } });
    h.startOwner();
    await h.waitForStatus('STOPPED');
    const accepted = await h.producer.send({ to: ALICE, text: 'default ttl' });
    const own = await h.producer.send({ to: ALICE, text: 'own expiry', expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect(Date.parse(accepted.expiresAt ?? '') - Date.now()).toBeLessThanOrEqual(1_000);
    expect(await h.producer.waitForMessage(accepted.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'failed', error: { code: 'expired' } });
    expect(await h.producer.getMessage(own.id)).toMatchObject({ status: 'held', expiresAt: own.expiresAt });
  });

  it('does not send a message whose expiry passed during its in-place retries, unless its interrupted attempt reached WhatsApp', async () => {
    h.startOwner();
    await h.pairFresh();
    // Fails before anything left: the retry (after a 1-2 s backoff) finds it past its 1 s expiry.
    h.world.failNextSends.push(new Error('Evaluation failed: net::ERR_CONNECTION_RESET'));
    const lost = await h.producer.send({ to: ALICE, text: 'expires during the backoff', ttlSeconds: 1 });
    // The second attempt finds it past its expiry and withdraws it (the sweeper leaves a message marked
    // `sending` to its handler: it may have reached WhatsApp).
    expect(await h.producer.waitForMessage(lost.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'expired' } });
    expect(h.world.messagesTo(ALICE_WID)).toEqual([]);

    // Fails after WhatsApp took it: the copy in the chat counts, past the expiry or not.
    let crashes = 1;
    h.world.afterAccept = () => {
      if (crashes-- > 0) throw new Error('Protocol error: Target closed (after the message left)');
    };
    const delivered = await h.producer.send({ to: BOB, text: 'reached WhatsApp', ttlSeconds: 1 });
    expect(await h.producer.waitForMessage(delivered.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'sent' });
    expect(h.world.messagesTo(BOB_WID).map((m) => m.body)).toEqual(['reached WhatsApp']);
    expect(await failedEvents(lost.id)).toHaveLength(1);
    expect(await failedEvents(delivered.id)).toEqual([]);
  });

  it('keeps a message with an expiry out of WhatsApp Web while the phone is away: it expires in waq, never sent; one without goes out when the phone is back', async () => {
    h.startOwner();
    await h.pairFresh();
    h.world.goOffline();
    const code = await h.producer.send({ to: ALICE, text: 'code while away', ttlSeconds: 2 });
    const plain = await h.producer.send({ to: ALICE, text: 'no expiry, while away' });
    expect(await h.producer.waitForMessage(code.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'failed', error: { code: 'expired' } });
    // The message without an expiry went into WhatsApp Web's own queue meanwhile.
    await vi.waitFor(() => expect(h.world.pending.map((m) => m.body)).toEqual(['no expiry, while away']), { timeout: 10_000, interval: 20 });
    h.world.goOnline();
    await h.producer.waitForMessage(plain.id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['no expiry, while away']);
    expect(await failedEvents(code.id)).toHaveLength(1);
  });

  it("checks a raw job's own expiresAt when its turn comes: failed expired with its event, not sent", async () => {
    h.startOwner();
    await h.waitForStatus('STOPPED');
    const raw = new Queue('outbox', { connection: h.fixture.redis, prefix: h.keys.bullPrefix });
    onTestFinished(() => raw.close());
    const expiresAt = new Date(Date.now() + 300).toISOString();
    await raw.add('send', { to: ALICE_WID, text: 'raw, expiring', expiresAt }, { jobId: 'raw-expiring', priority: 2 });
    await raw.add('send', { to: ALICE_WID, text: 'raw, no expiry' }, { jobId: 'raw-plain', priority: 2 });
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(Date.parse(expiresAt)), { timeout: 5_000, interval: 50 });
    await h.pairFresh();
    await h.producer.waitForMessage('raw-plain', { timeoutMs: 20_000 });
    expect(await h.producer.getMessage('raw-expiring')).toMatchObject({ status: 'failed', expiresAt, error: { code: 'expired' } });
    expect(await failedEvents('raw-expiring')).toEqual([expect.objectContaining({ type: 'message.failed', code: 'expired' })]);
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['raw, no expiry']);
  });
});

describe('scheduling and priority', () => {
  it('sends a scheduled message at its sendAt, not before, listed as scheduled until then', async () => {
    h.startOwner();
    await h.pairFresh();
    // Far enough ahead that the send accepted after it is done first even on a loaded machine.
    const sendAt = Date.now() + 4_000;
    const accepted = await h.producer.send({ to: ALICE, text: 'later', sendAt: new Date(sendAt).toISOString() });
    expect(accepted.status).toBe('scheduled');
    expect(await h.producer.getMessage(accepted.id)).toMatchObject({ status: 'scheduled', sendAt: new Date(sendAt).toISOString() });
    const now = await h.producer.send({ to: ALICE, text: 'now' });
    await h.producer.waitForMessage(now.id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['now']);
    await h.producer.waitForMessage(accepted.id, { timeoutMs: 20_000 });
    const arrived = h.world.messagesTo(ALICE_WID).find((m) => m.body === 'later');
    // The fake phone stamps whole seconds: the message is not early by more than that rounding.
    expect(arrived!.timestamp * 1_000).toBeGreaterThanOrEqual(Math.floor(sendAt / 1_000) * 1_000);
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['now', 'later']);
  });

  it('sends high before normal before low, each in the order of acceptance', async () => {
    h.startOwner();
    await h.waitForStatus('STOPPED');
    const plan: { text: string; priority?: 'high' | 'low' }[] = [];
    for (let i = 0; i < 30; i += 1) plan.push({ text: `bulk ${i}` });
    plan.splice(5, 0, { text: 'low 1', priority: 'low' });
    plan.splice(10, 0, { text: 'code 1', priority: 'high' });
    plan.push({ text: 'code 2', priority: 'high' }, { text: 'low 2', priority: 'low' }, { text: 'bulk 30' });
    const ids: string[] = [];
    for (const { text, priority } of plan) ids.push((await h.producer.send({ to: ALICE, text, ...(priority === undefined ? {} : { priority }) })).id);
    expect(await h.producer.getMessage(ids[10]!)).toMatchObject({ status: 'held', priority: 'high' });
    await h.pairFresh();
    await Promise.all(ids.map((id) => h.producer.waitForMessage(id, { timeoutMs: 20_000 })));
    const bulk = plan.filter((p) => p.priority === undefined).map((p) => p.text);
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['code 1', 'code 2', ...bulk, 'low 1', 'low 2']);
  });
});

describe('cancellation', () => {
  it('cancels a held and a scheduled message: never sent, cancelled with one event; a sent one stays sent', async () => {
    h.startOwner();
    await h.waitForStatus('STOPPED');
    const held = await h.producer.send({ to: ALICE, text: 'held, then cancelled' });
    const sendAt = new Date(Date.now() + 60_000).toISOString();
    const scheduled = await h.producer.send({ to: ALICE, text: 'scheduled, then cancelled', sendAt, priority: 'high' });
    const kept = await h.producer.send({ to: ALICE, text: 'kept' });
    for (const [id, shown] of [[held.id, { priority: 'normal' }], [scheduled.id, { priority: 'high', sendAt }]] as const) {
      const cancellation = await h.producer.cancelMessage(id);
      // The job is gone: the view comes from the message's record, with what the send asked for.
      expect(cancellation).toMatchObject({ outcome: 'withdrawn', message: { id, status: 'cancelled', error: { code: 'cancelled' }, ...shown } });
      expect(await h.producer.queues.outbox.getJob(id)).toBeUndefined();
      expect(await h.producer.cancelMessage(id)).toMatchObject({ outcome: 'final', message: { status: 'cancelled', ...shown } });
    }
    await h.pairFresh();
    await h.producer.waitForMessage(kept.id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['kept']);
    expect(await h.producer.cancelMessage(kept.id)).toMatchObject({ outcome: 'sent', message: { status: 'sent' } });
    expect(await h.producer.cancelMessage('never-accepted')).toEqual({ outcome: 'unknown', message: null });
    expect(await failedEvents(held.id)).toEqual([expect.objectContaining({ type: 'message.cancelled' })]);
    expect(await failedEvents(scheduled.id)).toHaveLength(1);
  });

  it('cancels a message whose job is taken but not yet being sent (waiting for its pacing slot): its handler sends nothing', async () => {
    h.startOwner({ SEND_INTERVAL_MS: 3_000 });
    await h.pairFresh();
    const first = await h.producer.send({ to: ALICE, text: 'first' });
    await h.producer.waitForMessage(first.id, { timeoutMs: 20_000 });
    const second = await h.producer.send({ to: ALICE, text: 'second: cancelled while it waits for its slot' });
    await vi.waitFor(async () => expect((await h.producer.getMessage(second.id))?.status).toBe('sending'), { timeout: 10_000, interval: 20 });
    expect(await h.producer.cancelMessage(second.id)).toMatchObject({ outcome: 'withdrawn', message: { status: 'cancelled' } });
    await vi.waitFor(async () => expect(await h.producer.queues.outbox.getJobState(second.id)).toBe('failed'), { timeout: 20_000, interval: 50 });
    expect(await h.producer.getMessage(second.id)).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['first']);
    expect(await failedEvents(second.id)).toEqual([expect.objectContaining({ type: 'message.cancelled' })]);
  });
});

describe('number checks', () => {
  it('asks WhatsApp through the worker once and keeps the answer; a send to a number without WhatsApp is refused at once after that', async () => {
    const world = await OwnerHarness.create({ registered: [ALICE_WID] });
    try {
      world.startOwner();
      await expect(world.producer.checkNumber('+49 151 00000002', { timeoutMs: 5_000 })).rejects.toMatchObject({ code: 'session_not_ready' });
      await world.pairFresh();
      expect(await world.producer.checkNumber('+49 151 00000001')).toMatchObject({ number: '+4915100000001', onWhatsApp: true, wid: ALICE_WID, cached: false });
      expect(await world.producer.checkNumber(ALICE_WID)).toMatchObject({ onWhatsApp: true, cached: true });
      expect(await world.producer.checkNumber('+49 151 00000002')).toMatchObject({ onWhatsApp: false, cached: false });
      expect(await world.fixture.redis.ttl(world.keys.numberCheck('4915100000002'))).toBeLessThanOrEqual(3_600);
      await expect(world.producer.send({ to: '+49 151 00000002', text: 'nobody there' })).rejects.toMatchObject({ code: 'recipient_not_on_whatsapp' });
      await expect(world.producer.checkNumber('120363025343454321@g.us')).rejects.toMatchObject({ code: 'invalid_payload' });
    } finally {
      await world.close();
    }
  });

  it('fails a send to a number without WhatsApp with the reason, asking only once, and sends to the id WhatsApp gives a number', async () => {
    const world = await OwnerHarness.create({ registered: [ALICE_WID, '5511912345678@c.us'] });
    try {
      // WhatsApp knows this Brazilian number without its ninth digit.
      world.world.numberIds.set('55119912345678', '5511912345678@c.us');
      world.startOwner();
      await world.pairFresh();
      const nobody = await world.producer.send({ to: '+49 151 00000003', text: 'not on WhatsApp' });
      expect(await world.producer.waitForMessage(nobody.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'failed', error: { code: 'recipient_not_on_whatsapp' } });
      expect(await world.producer.checkNumber('+49 151 00000003')).toMatchObject({ onWhatsApp: false, cached: true });
      const renamed = await world.producer.send({ to: '+55 11 99123-45678', text: 'olá' });
      expect(await world.producer.waitForMessage(renamed.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'sent' });
      expect(world.world.messagesTo('5511912345678@c.us').map((m) => m.body)).toEqual(['olá']);
    } finally {
      await world.close();
    }
  });
});
