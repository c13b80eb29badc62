import { createProducer, decodeMessageFailure, duplicateConnection } from '@waq/shared';
import { Queue, Worker } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';

import { OwnerHarness } from './testing/owner-harness.js';

let h: OwnerHarness;

beforeEach(async () => {
  h = await OwnerHarness.create({ registered: ['4915100000001@c.us', '4915100000002@c.us'] });
});

afterEach(async () => {
  await h.close();
});

const ALICE = '+49 151 00000001';
const ALICE_WID = '4915100000001@c.us';

const pairFresh = (): Promise<void> => h.pairFresh();

describe('session lifecycle (fake driver, real Redis)', () => {
  it('starts STOPPED without a saved session, then connect → QR with expiry → scan → READY', async () => {
    h.startOwner();
    const stopped = await h.waitForStatus('STOPPED');
    expect(stopped.lastError).toBeUndefined();
    expect(h.world.initializeCalls).toBe(0);

    await h.producer.connect('test');
    const qr = await h.waitForStatus('QR');
    expect(qr.qr?.value).toMatch(/^2@fake-/);
    expect(Date.parse(qr.qr?.expiresAt ?? '')).toBeGreaterThan(Date.now());
    h.world.scan();
    const ready = await h.waitForStatus('READY');
    expect(ready.me).toEqual({ wid: h.world.me.wid, pushname: 'waq test' });
    expect(ready.owner?.workerId).toBe('worker-1');
    const statuses = (await h.events()).filter((e) => e.type === 'state').map((e) => (e.type === 'state' ? e.status : ''));
    expect(statuses).toEqual(['STOPPED', 'STARTING', 'QR', 'AUTHENTICATED', 'READY']);
  });

  it('does not initialise twice when connect arrives while connecting or connected', async () => {
    h.startOwner();
    await h.waitForStatus('STOPPED');
    await Promise.all([h.producer.connect(), h.producer.connect()]);
    await h.waitForStatus('QR');
    const second = await h.producer.queues.control.add('connect', {});
    await second.waitUntilFinished(await eventsFor(h.producer.queues.control));
    h.world.scan();
    await h.waitForStatus('READY');
    await (await h.producer.queues.control.add('connect', {})).waitUntilFinished(await eventsFor(h.producer.queues.control));
    expect(h.world.initializeCalls).toBe(1);
  });

  it('restores a saved session on start without a QR (auto-init)', async () => {
    const first = h.startOwner();
    await pairFresh();
    await first.stop();
    expect((await h.state())?.status).toBe('STOPPED');

    h.startOwner();
    await h.waitForStatus('READY');
    expect((await h.events()).filter((e) => e.type === 'qr')).toHaveLength(1);
    expect(h.world.initializeCalls).toBe(2);
  });

  it('reconnects with backoff after a disconnect and keeps the saved session', async () => {
    h.startOwner();
    await pairFresh();
    h.world.dropConnection('TIMEOUT');
    await h.waitForEvent((e) => e.type === 'state' && e.status === 'DISCONNECTED' && e.reason === 'disconnected: TIMEOUT');
    await h.waitForEvent((e) => e.type === 'state' && e.status === 'READY' && h.world.initializeCalls === 2);
    await h.waitForStatus('READY');
    expect(h.world.initializeCalls).toBe(2);
    expect(h.world.maxLive).toBe(1);
  });

  it('re-initialises when the watchdog finds the page dead, and after a browser crash', async () => {
    h.startOwner();
    await pairFresh();
    h.world.hangGetState = true;
    await h.waitForEvent((e) => e.type === 'state' && e.status === 'DISCONNECTED' && /^watchdog: the page did not answer/.test(e.reason ?? ''), 20_000);
    h.world.hangGetState = false;
    await vi.waitFor(() => expect(h.world.live.size).toBe(1), { timeout: 15_000 });
    await h.waitForStatus('READY');
    h.world.crash();
    await h.waitForEvent((e) => e.type === 'state' && e.status === 'DISCONNECTED' && /^the browser died/.test(e.reason ?? ''), 20_000);
    await vi.waitFor(() => expect(h.world.initializeCalls).toBeGreaterThanOrEqual(3), { timeout: 15_000 });
    await h.waitForStatus('READY');
    expect(h.world.maxLive).toBe(1);
  });

  it('restarts a client stuck in AUTHENTICATED', async () => {
    h.startOwner();
    await h.waitForStatus('STOPPED');
    h.world.stallAfterAuthenticated = 1;
    await h.producer.connect();
    await h.waitForStatus('QR');
    h.world.scan();
    await h.waitForEvent((e) => e.type === 'state' && e.status === 'DISCONNECTED' && /^stuck in AUTHENTICATED/.test(e.reason ?? ''));
    await h.waitForStatus('READY');
    expect(h.world.initializeCalls).toBe(2);
  });

  it('retries a failed initialisation by recreating the client', async () => {
    h.world.failNextInitialize = 2;
    h.startOwner();
    await h.waitForStatus('STOPPED');
    await h.producer.connect();
    await h.waitForStatus('QR');
    expect(h.world.initializeCalls).toBe(3);
    expect((await h.events()).some((e) => e.type === 'state' && e.status === 'FAILED' && /failed to start/.test(e.reason ?? ''))).toBe(true);
  });

  it('gives up after QR_MAX_RETRIES unscanned codes with a clear reason', async () => {
    h.startOwner({ QR_MAX_RETRIES: 2 });
    await h.waitForStatus('STOPPED');
    await h.producer.connect();
    const failed = await h.waitForStatus('FAILED');
    expect(failed.lastError).toMatchObject({ code: 'qr_not_scanned', message: expect.stringMatching(/send connect again/) });
    expect(h.world.live.size).toBe(0);
    await h.producer.connect();
    await h.waitForStatus('QR');
  });

  it('goes LOGGED_OUT when the phone unlinks, removes the profile, holds sends and shows a fresh QR on connect', async () => {
    const { owner } = h.startOwner();
    await pairFresh();
    const profileDir = owner.ownership?.session ? (await import('node:path')).join(h.sessionDir, 'session-default') : '';
    h.world.unlink();
    const out = await h.waitForStatus('LOGGED_OUT');
    expect(out.me).toBeUndefined();
    await expect((await import('node:fs/promises')).access(profileDir)).rejects.toThrow(/ENOENT/);

    const { id } = await h.producer.send({ to: ALICE, text: 'while logged out' });
    expect(await h.producer.queues.outbox.isPaused()).toBe(true);
    expect((await h.producer.getMessage(id))?.status).toBe('held');

    await h.producer.connect();
    await h.waitForStatus('QR');
    h.world.scan();
    await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['while logged out']);
  });

  it('goes LOGGED_OUT after three auth failures in a row, keeping the rejected profile aside, instead of retrying forever', async () => {
    const fs = await import('node:fs/promises');
    const path = await import('node:path');
    const first = h.startOwner();
    await pairFresh();
    await first.stop();
    h.world.rejectNextRestores = 3;
    h.startOwner();
    const out = await h.waitForStatus('LOGGED_OUT', 10_000);
    expect(out.lastError).toMatchObject({ code: 'auth_rejected', message: expect.stringMatching(/rejected the saved session 3 times in a row.*Send connect to link it again/) });
    const failures = (await h.events()).filter((e) => e.type === 'state' && e.status === 'FAILED');
    expect(failures).toHaveLength(2);
    expect(h.world.initializeCalls).toBe(4);
    const entries = await fs.readdir(h.sessionDir);
    expect(entries).not.toContain('session-default');
    const aside = entries.find((e) => e.startsWith('session-default.rejected-'));
    expect(aside).toBeDefined();
    await expect(fs.access(path.join(h.sessionDir, aside ?? '', '.waq-session'))).resolves.toBeUndefined();
    // No more retries: it waits for a connect, which shows a QR (the fake has no profile to lose: the
    // world forgets the pairing as the set-aside profile took it with it).
    expect(h.world.live.size).toBe(0);
    h.world.paired = false;
    await h.producer.connect();
    await h.waitForStatus('QR');
  });

  it('counts auth failures in a row only: a READY in between starts the count again', async () => {
    const first = h.startOwner();
    await pairFresh();
    await first.stop();
    h.world.rejectNextRestores = 2;
    const second = h.startOwner();
    await h.waitForStatus('READY', 10_000);
    expect(h.world.initializeCalls).toBe(4);
    await second.stop();
    h.world.rejectNextRestores = 2;
    const restartedAt = Date.now();
    h.startOwner();
    await vi.waitFor(
      async () => {
        const state = await h.state();
        expect(state?.status).toBe('READY');
        expect(Date.parse(state?.since ?? '')).toBeGreaterThanOrEqual(restartedAt);
      },
      { timeout: 20_000, interval: 20 },
    );
    expect(h.world.initializeCalls).toBe(7);
    expect((await h.events()).some((e) => e.type === 'state' && e.status === 'LOGGED_OUT')).toBe(false);
  });

  it('logs out on a logout job', async () => {
    h.startOwner();
    await pairFresh();
    await h.producer.logout();
    await h.waitForStatus('LOGGED_OUT');
    expect(h.world.paired).toBe(false);
    expect(h.world.live.size).toBe(0);
  });
});

describe('outbox', () => {
  it('holds sends while not READY without burning attempts, then drains them in order', async () => {
    h.startOwner();
    await h.waitForStatus('STOPPED');
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) ids.push((await h.producer.send({ to: ALICE, text: `message ${i}` })).id);
    expect(await h.producer.queues.outbox.isPaused()).toBe(true);
    for (const id of ids) expect(await h.producer.getMessage(id)).toMatchObject({ status: 'held', attempts: 0 });

    await pairFresh();
    await Promise.all(ids.map((id) => h.producer.waitForMessage(id, { timeoutMs: 10_000 })));
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(ids.map((_id, i) => `message ${i}`));
    const views = await Promise.all(ids.map((id) => h.producer.getMessage(id)));
    for (const view of views) expect(view).toMatchObject({ status: 'sent', attempts: 1, waMessageId: expect.stringMatching(/^true_/) });
  });

  it('pauses the outbox on disconnect and resumes it on READY', async () => {
    h.startOwner();
    await pairFresh();
    // The outbox is resumed once READY is published (the state first, so a reader never sees READY late).
    await vi.waitFor(async () => expect(await h.producer.queues.outbox.isPaused()).toBe(false), { timeout: 15_000 });
    h.world.hangGetState = true;
    await vi.waitFor(async () => expect(await h.producer.queues.outbox.isPaused()).toBe(true), { timeout: 20_000 });
    h.world.hangGetState = false;
    await h.waitForStatus('READY');
    await vi.waitFor(async () => expect(await h.producer.queues.outbox.isPaused()).toBe(false), { timeout: 15_000 });
  });

  it('records acks on the message and as events', async () => {
    h.startOwner();
    await pairFresh();
    const { id } = await h.producer.send({ to: ALICE, text: 'ack me' });
    const sent = await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
    await vi.waitFor(async () => expect((await h.producer.getMessage(id))?.ack).toBe('read'), { timeout: 20_000 });
    const events = await h.events();
    expect(events).toContainEqual(expect.objectContaining({ type: 'message.sent', id, waMessageId: sent.waMessageId }));
    const acks = events.filter((e) => e.type === 'message.ack' && e.id === id).map((e) => (e.type === 'message.ack' ? e.ack : ''));
    expect(acks).toEqual(['server', 'device', 'read']);
  });

  it('appends incoming messages to the event stream', async () => {
    h.startOwner();
    await pairFresh();
    h.world.receive(ALICE_WID, 'hi gateway');
    const incoming = await h.waitForEvent((e) => e.type === 'message.incoming');
    expect(incoming).toMatchObject({ type: 'message.incoming', from: ALICE_WID, body: 'hi gateway', waMessageId: expect.stringMatching(/^false_/) });
  });

  it('never sends twice when an attempt fails after WhatsApp accepted the message', async () => {
    h.startOwner();
    await pairFresh();
    let crashes = 1;
    h.world.afterAccept = () => {
      if (crashes-- > 0) throw new Error('Protocol error: Target closed (after the message left)');
    };
    const { id } = await h.producer.send({ to: ALICE, text: 'exactly once' });
    const view = await h.producer.waitForMessage(id, { timeoutMs: 10_000 });
    expect(view.status).toBe('sent');
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['exactly once']);
    expect(view.waMessageId).toBe(h.world.sent[0]?.waMessageId);
  });

  it('finds the copy of an interrupted attempt even after many more messages went to the same chat', async () => {
    // Found by the reliability suite (kill -9 of the worker mid-stream): a stalled or backed-off job is
    // retried after the queue behind it moved on, so its earlier copy can be far back in the chat.
    h.startOwner();
    await pairFresh();
    h.world.afterAccept = (message) => {
      if (message.body === 'interrupted') {
        h.world.afterAccept = undefined;
        throw new Error('Protocol error: Target closed (after the message left)');
      }
    };
    const target = await h.producer.send({ to: ALICE, text: 'interrupted' });
    const others: string[] = [];
    for (let i = 0; i < 80; i += 1) others.push((await h.producer.send({ to: ALICE, text: `after ${i}` })).id);
    for (const id of others) await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
    const view = await h.producer.waitForMessage(target.id, { timeoutMs: 20_000 });
    expect(view.status).toBe('sent');
    const bodies = h.world.messagesTo(ALICE_WID).map((m) => m.body);
    expect(bodies.filter((b) => b === 'interrupted')).toHaveLength(1);
    expect(bodies.indexOf('interrupted')).toBeLessThan(bodies.indexOf('after 60'));
  });

  it('keeps the order when a send is cut off by the session going away: held, not retried behind the others', async () => {
    h.startOwner();
    await pairFresh();
    h.world.beforeSend = (_to, text) => {
      if (text !== 'cut') return;
      h.world.beforeSend = undefined;
      h.world.crash();
      throw new Error('Protocol error (Runtime.callFunctionOn): Target closed');
    };
    const texts = ['cut', 'next 1', 'next 2', 'next 3'];
    const ids: string[] = [];
    for (const text of texts) ids.push((await h.producer.send({ to: ALICE, text })).id);
    for (const id of ids) await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(texts);
    expect((await h.producer.getMessage(ids[0] ?? ''))?.attempts).toBe(1);
  });

  it('keeps the order when WhatsApp Web\'s connection drops during a send: held until it is back, not retried behind the others', async () => {
    // No watchdog reads in this test: every getState() is the send handler's.
    h.startOwner({}, { watchdog: { intervalMs: 600_000, timeoutMs: 3_000, authenticatedTimeoutMs: 1_000 } });
    await pairFresh();
    let readsAtDrop = 0;
    h.world.beforeSend = (_to, text) => {
      if (text !== 'dropped') return;
      h.world.beforeSend = undefined;
      h.world.goOffline();
      readsAtDrop = h.world.stateReads;
      throw new Error('wa-sim: connection lost');
    };
    const texts = ['dropped', 'next 1', 'next 2'];
    const ids: string[] = [];
    for (const text of texts) ids.push((await h.producer.send({ to: ALICE, text })).id);
    // One read at the failure, then the wait for the connection: the failed send stays active meanwhile,
    // so nothing behind it goes.
    await vi.waitFor(() => expect(h.world.stateReads).toBeGreaterThan(readsAtDrop + 2), { timeout: 10_000, interval: 10 });
    expect(h.world.ownMessagesTo(ALICE_WID)).toEqual([]);
    expect(await h.producer.queues.outbox.getActiveCount()).toBe(1);
    h.world.goOnline();
    for (const id of ids) await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(texts);
    expect((await h.producer.getMessage(ids[0] ?? ''))?.attempts).toBe(1);
  });

  it('does not count a message WhatsApp Web only queued as sent: unlinked before it went out, it is sent after re-pairing', async () => {
    h.startOwner();
    await pairFresh();
    h.world.goOffline();
    const { id } = await h.producer.send({ to: ALICE, text: 'queued while away' });
    await vi.waitFor(() => expect(h.world.pending.map((m) => m.body)).toEqual(['queued while away']), { timeout: 20_000, interval: 10 });
    expect((await h.producer.getMessage(id))?.status).toBe('sending');
    h.world.unlink(); // wipes what WhatsApp Web had queued
    await h.waitForStatus('LOGGED_OUT');
    await vi.waitFor(async () => expect((await h.producer.getMessage(id))?.status).toBe('held'), { timeout: 20_000, interval: 20 });
    h.world.goOnline();
    await pairFresh();
    const view = await h.producer.waitForMessage(id, { timeoutMs: 10_000 });
    expect(view.status).toBe('sent');
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['queued while away']);
  });

  /** An outbox consumer that takes one send and never finishes it (its lock lasts 1 s once it is closed). */
  function holdingConsumer(): { worker: Worker; tookOne: Promise<void> } {
    let taken: () => void = () => undefined;
    const tookOne = new Promise<void>((resolve) => (taken = resolve));
    const worker = new Worker(
      'outbox',
      () => {
        taken();
        return new Promise<unknown>(() => undefined);
      },
      { connection: duplicateConnection(h.fixture.redis, { maxRetriesPerRequest: null }), prefix: h.keys.bullPrefix, lockDuration: 1_000, stalledInterval: 1_000 },
    );
    return { worker, tookOne };
  }

  it('keeps the order after a worker died mid-send: the orphaned job goes first once its lock expires', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i += 1) ids.push((await h.producer.send({ to: ALICE, text: `ordered ${i}` })).id);
    // A worker that took the first send and died: its job stays active until the lock expires.
    const { worker: dead, tookOne } = holdingConsumer();
    await tookOne;
    await dead.close(true);
    expect(await h.producer.queues.outbox.getActiveCount()).toBe(1);

    h.startOwner({ JOB_LOCK_MS: 1_000 });
    await pairFresh();
    for (const id of ids) await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['ordered 0', 'ordered 1', 'ordered 2', 'ordered 3']);
  });

  it('keeps the order when a worker that lost the session still takes a send: the later ones wait behind it', async () => {
    h.startOwner({ JOB_LOCK_MS: 1_000 });
    await pairFresh();
    // A stale owner (paused past its lease, then resumed) whose consumer still takes the next send, and
    // leaves it active until its lock expires.
    const { worker: stale, tookOne } = holdingConsumer();
    // The owner's consumer is busy with a slow send while the stale one waits for work, so the next
    // send goes to the stale one.
    let release: () => void = () => undefined;
    h.world.afterAccept = () => new Promise<void>((resolve) => (release = resolve));
    const ids = [(await h.producer.send({ to: ALICE, text: 'stale 0' })).id];
    await vi.waitFor(() => expect(h.world.sent.map((m) => m.body)).toContain('stale 0'), { timeout: 10_000, interval: 20 });
    ids.push((await h.producer.send({ to: ALICE, text: 'stale 1' })).id);
    await tookOne;
    h.world.afterAccept = undefined;
    release();
    for (let i = 2; i < 5; i += 1) ids.push((await h.producer.send({ to: ALICE, text: `stale ${i}` })).id);
    await stale.close(true);
    for (const id of ids) await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['stale 0', 'stale 1', 'stale 2', 'stale 3', 'stale 4']);
  });

  it('does not mistake an earlier identical message of another job for its own', async () => {
    h.startOwner();
    await pairFresh();
    const first = await h.producer.send({ to: ALICE, text: 'OK' });
    await h.producer.waitForMessage(first.id, { timeoutMs: 20_000 });
    // The second "OK" fails before WhatsApp accepted it, seconds after the first went out: its retry
    // must send, not adopt the first "OK" (which another job owns) as its own earlier copy.
    h.world.failNextSends.push(new Error('Evaluation failed: page crashed before sending'));
    const second = await h.producer.send({ to: ALICE, text: 'OK' });
    const view = await h.producer.waitForMessage(second.id, { timeoutMs: 10_000 });
    expect(view.status).toBe('sent');
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['OK', 'OK']);
  });

  it('fails a send to a number without WhatsApp at once, with the reason', async () => {
    h.startOwner();
    await pairFresh();
    const { id } = await h.producer.send({ to: '+49 151 99999999', text: 'hello?' });
    const view = await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
    expect(view).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'recipient_not_on_whatsapp' } });
    expect((await h.events()).find((e) => e.type === 'message.failed')).toMatchObject({ id, code: 'recipient_not_on_whatsapp' });
  });

  it("does not send a message accepted for one account from another: the sends held across a re-pairing with a different phone fail with account_changed", async () => {
    h.startOwner();
    await pairFresh();
    h.world.goOffline();
    const { id: forOld } = await h.producer.send({ to: ALICE, text: 'for the first account' });
    await vi.waitFor(() => expect(h.world.pending.map((m) => m.body)).toEqual(['for the first account']), { timeout: 20_000, interval: 10 });
    h.world.unlink();
    await h.waitForStatus('LOGGED_OUT');
    const { id: whileUnlinked } = await h.producer.send({ to: ALICE, text: 'while no account is linked' });
    h.world.goOnline();
    h.world.me = { wid: '4915000000999@c.us', pushname: 'another phone' };
    await pairFresh();
    expect(await h.producer.waitForMessage(forOld, { timeoutMs: 10_000 })).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'account_changed', message: expect.stringMatching(/different account is linked now/) } });
    expect(await h.producer.waitForMessage(whileUnlinked, { timeoutMs: 10_000 })).toMatchObject({ status: 'sent' });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['while no account is linked']);
    expect((await h.events()).find((e) => e.type === 'message.failed')).toMatchObject({ id: forOld, code: 'account_changed' });
  });

  it('sends a message held across a re-pairing with the same phone', async () => {
    h.startOwner();
    await pairFresh();
    h.world.unlink();
    await h.waitForStatus('LOGGED_OUT');
    // Accepted while LOGGED_OUT: no account recorded, goes out from whichever links.
    const { id } = await h.producer.send({ to: ALICE, text: 'after re-pairing' });
    await pairFresh();
    expect(await h.producer.waitForMessage(id, { timeoutMs: 10_000 })).toMatchObject({ status: 'sent' });
  });

  it('retries a transient failure with backoff and sends once', async () => {
    h.startOwner();
    await pairFresh();
    h.world.failNextSends.push(new Error('Evaluation failed: net::ERR_CONNECTION_RESET'));
    const { id } = await h.producer.send({ to: ALICE, text: 'second time lucky' });
    const view = await h.producer.waitForMessage(id, { timeoutMs: 10_000 });
    expect(view).toMatchObject({ status: 'sent', attempts: 2 });
    expect(h.world.messagesTo(ALICE_WID)).toHaveLength(1);
  });

  it('retries a failed send in place: the sends accepted after it wait for it, and the order is kept', async () => {
    h.startOwner();
    await pairFresh();
    // A failure the handler cannot tell from a bad send (the connection looked fine when it read it):
    // retried with backoff, it must not let the messages behind it overtake it.
    h.world.failNextSends.push(new Error('wa-sim: connection lost'));
    const texts = ['first', 'second', 'third'];
    const ids: string[] = [];
    for (const text of texts) ids.push((await h.producer.send({ to: ALICE, text })).id);
    const views = [];
    for (const id of ids) views.push(await h.producer.waitForMessage(id, { timeoutMs: 20_000 }));
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(texts);
    expect(views.map((view) => view.attempts)).toEqual([2, 1, 1]);
  });

  it('fails a send for good after its last in-place attempt, and the queue goes on', async () => {
    h.startOwner();
    await pairFresh();
    const attempts = 3;
    const producer = createProducer({ redis: h.fixture.url, prefix: h.fixture.prefix, sendMaxAttempts: attempts });
    onTestFinished(() => producer.close());
    await producer.queues.outbox.waitUntilReady();
    for (let i = 0; i < attempts; i += 1) h.world.failNextSends.push(new Error(`Evaluation failed: attempt ${i + 1} broke`));
    const doomed = await producer.send({ to: ALICE, text: 'never' });
    const next = await producer.send({ to: ALICE, text: 'after it' });
    await vi.waitFor(async () => expect((await producer.getMessage(doomed.id))?.status).toBe('failed'), { timeout: 60_000, interval: 50 });
    expect(await producer.getMessage(doomed.id)).toMatchObject({ attempts, maxAttempts: attempts, error: { code: 'send_failed', message: expect.stringContaining(`attempt ${attempts} broke`) } });
    expect(h.world.failNextSends).toEqual([]);
    expect(await producer.waitForMessage(next.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'sent', attempts: 1 });
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['after it']);
  }, 90_000);

  it('fails poisoned raw jobs as unrecoverable with a clear reason and keeps serving', async () => {
    h.startOwner();
    await pairFresh();
    const raw = new Queue('outbox', { connection: h.fixture.redis, prefix: h.keys.bullPrefix });
    try {
      const wrongShape = await raw.add('send', { recipient: 'nobody', message: 42 });
      const unknown = await raw.add('sendSticker', { to: ALICE_WID });
      const huge = await raw.add('send', { to: ALICE_WID, text: 'x'.repeat(10 * 1024 * 1024) });
      const good = await h.producer.send({ to: ALICE, text: 'still here' });
      await h.producer.waitForMessage(good.id, { timeoutMs: 10_000 });
      const reasons = await Promise.all(
        [wrongShape, unknown, huge].map(async (job) => {
          await vi.waitFor(async () => expect(await job.getState()).toBe('failed'), { timeout: 15_000 });
          const reloaded = await raw.getJob(String(job.id));
          const failure = decodeMessageFailure(await h.fixture.redis.hgetall(h.keys.message(String(job.id))));
          return { reason: reloaded?.failedReason, code: failure?.code, attempts: reloaded?.attemptsMade };
        }),
      );
      expect(reasons[0]).toMatchObject({ code: 'invalid_payload', reason: expect.stringMatching(/^invalid send job payload: to: must be a string/) });
      expect(reasons[1]).toMatchObject({ code: 'unknown_job', reason: expect.stringMatching(/^unknown job name "sendSticker" on this queue: expected one of send/) });
      expect(reasons[2]).toMatchObject({ code: 'invalid_payload', reason: expect.stringMatching(/text: must be at most 65536 characters/) });
      for (const r of reasons) expect(r.attempts).toBe(1);
    } finally {
      await raw.close();
    }
  });
});

describe('lease', () => {
  it('keeps a second worker on standby, then hands over without two clients at once', async () => {
    const first = h.startOwner();
    await pairFresh();
    const second = h.startOwner();
    await vi.waitFor(async () => expect(await h.fixture.redis.get(h.keys.lease)).toBe('worker-1'), { timeout: 15_000 });
    expect(second.owner.ownership).toBeUndefined();

    await first.stop();
    const ready = await h.waitForStatus('READY');
    expect(ready.owner?.workerId).toBe('worker-2');
    expect(h.world.maxLive).toBe(1);
  });

  it('stops everything at once when the lease is taken away, and stands by', async () => {
    const { owner } = h.startOwner();
    await pairFresh();
    await h.fixture.redis.set(h.keys.lease, 'intruder', 'PX', 60_000);
    await vi.waitFor(() => expect(owner.ownership).toBeUndefined(), { timeout: 20_000 });
    expect(h.world.live.size).toBe(0);
    await h.fixture.redis.del(h.keys.lease);
    await vi.waitFor(() => expect(owner.ownership).toBeDefined(), { timeout: 20_000 });
    await h.waitForStatus('READY');
  });
});

async function eventsFor(queue: Queue) {
  const { QueueEvents } = await import('bullmq');
  const events = new QueueEvents(queue.name, { connection: h.fixture.redis.duplicate(), prefix: h.keys.bullPrefix });
  await events.waitUntilReady();
  onTestFinished(() => events.close());
  return events;
}
