/**
 * Ban-safe pacing on the owner with the fake driver and real Redis: the daily cap, the budget of new
 * chats, the warm-up after an absence, and "typing…". The 24-hour windows are not waited out: a test
 * puts sends of "almost a day ago" into the session's counts, so the window frees within seconds.
 */
import { PACING_FIELDS, PACING_WINDOW_MS } from '@waq/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { OwnerHarness } from './testing/owner-harness.js';

let h: OwnerHarness;

beforeEach(async () => {
  h = await OwnerHarness.create();
});

afterEach(async () => {
  await h.close();
});

const wid = (n: number): string => `4915100001${String(n).padStart(3, '0')}@c.us`;
const number = (n: number): string => `+${wid(n).split('@')[0]}`;

/** Counts `entries` sends (or new chats) in the window, the oldest `freesInMs` from leaving it. */
async function spentBudget(key: string, entries: number, freesInMs: number): Promise<void> {
  const oldest = Date.now() - PACING_WINDOW_MS + freesInMs;
  for (let i = 0; i < entries; i += 1) await h.fixture.redis.zadd(key, oldest + i * 60_000, `earlier-${i}`);
}

describe('daily cap', () => {
  it('rests the outbox once the cap is reached: the sends wait (waiting, daily_cap) and go when the window frees, none fails', async () => {
    h.startOwner({ SEND_DAILY_CAP: 3 });
    await h.pairFresh();
    await spentBudget(h.keys.pacingSends, 3, 3_000);
    const ids: string[] = [];
    for (let i = 0; i < 2; i += 1) ids.push((await h.producer.send({ to: number(1), text: `capped ${i}` })).id);
    await vi.waitFor(async () => expect(await h.producer.getMessage(ids[0]!)).toMatchObject({ status: 'waiting', waiting: { reason: 'daily_cap' } }), { timeout: 10_000, interval: 50 });
    const view = await h.producer.getMessage(ids[0]!);
    expect(Date.parse(view!.waiting!.until)).toBeGreaterThan(Date.now());
    expect(await h.producer.getMessage(ids[1]!)).toMatchObject({ status: 'waiting' });
    expect(h.world.sent).toEqual([]);

    // The oldest of the three leaves the window: one more may go, then the cap holds again (a minute).
    const first = await h.producer.waitForMessage(ids[0]!, { timeoutMs: 20_000 });
    expect(first.status).toBe('sent');
    // The outbox took the next send and rested again: until the next oldest leaves, later than before.
    await vi.waitFor(
      async () => {
        const next = await h.producer.getMessage(ids[1]!);
        expect(next).toMatchObject({ status: 'waiting', waiting: { reason: 'daily_cap' } });
        expect(Date.parse(next!.waiting!.until)).toBeGreaterThan(Date.parse(view!.waiting!.until));
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(h.world.sent.map((m) => m.body)).toEqual(['capped 0']);
    expect(await h.fixture.redis.zcard(h.keys.pacingSends)).toBe(3);
  });
});

describe('budget of new chats', () => {
  it('lets new chats up to the budget through, makes the rest wait behind their first message, and never holds up known chats', async () => {
    h.world.existingChats.add(wid(99));
    h.startOwner({ SEND_NEW_CHATS_PER_DAY: 3 });
    await h.pairFresh();
    // One new chat of almost a day ago: two are left now, the third frees in a few seconds.
    await spentBudget(h.keys.pacingNewChats, 1, 4_000);
    const plan: { to: number; text: string }[] = [];
    for (const to of [1, 2, 3, 4]) plan.push({ to, text: `hello ${to}` }, { to: 99, text: `known after ${to}` });
    for (const to of [1, 2, 3, 4]) plan.push({ to, text: `again ${to}` });
    const ids: string[] = [];
    for (const { to, text } of plan) ids.push((await h.producer.send({ to: number(to), text })).id);

    // Recipients 1 and 2 (the budget left), the known chat, and nothing of 3 and 4 yet.
    const byText = (text: string): string => ids[plan.findIndex((p) => p.text === text)]!;
    for (const text of ['hello 1', 'hello 2', 'again 1', 'again 2', 'known after 1', 'known after 4']) await h.producer.waitForMessage(byText(text), { timeoutMs: 20_000 });
    expect(h.world.messagesTo(wid(3))).toEqual([]);
    // Each is marked waiting when the outbox takes it, which may be a moment after the last send above.
    for (const text of ['hello 3', 'again 3', 'hello 4', 'again 4']) {
      await vi.waitFor(async () => expect(await h.producer.getMessage(byText(text))).toMatchObject({ status: 'waiting', waiting: { reason: 'new_chat_budget' } }), { timeout: 10_000, interval: 50 });
    }

    // The oldest new chat leaves the window: recipient 3 gets its two messages, in order; 4 still waits.
    await h.producer.waitForMessage(byText('again 3'), { timeoutMs: 30_000 });
    expect(h.world.messagesTo(wid(3)).map((m) => m.body)).toEqual(['hello 3', 'again 3']);
    // Recipient 4's sends woke with the freed slot too, found it taken, and wait again.
    for (const text of ['hello 4', 'again 4']) {
      await vi.waitFor(async () => expect(await h.producer.getMessage(byText(text))).toMatchObject({ status: 'waiting' }), { timeout: 10_000, interval: 50 });
    }
    expect(h.world.messagesTo(wid(4))).toEqual([]);
    for (const to of [1, 2]) expect(h.world.messagesTo(wid(to)).map((m) => m.body)).toEqual([`hello ${to}`, `again ${to}`]);
    expect(h.world.messagesTo(wid(99))).toHaveLength(4);
    // Nothing failed; 4 new chats counted in the window (the earlier one and 1, 2, 3).
    expect((await h.events()).filter((e) => e.type === 'message.failed')).toEqual([]);
    expect(await h.fixture.redis.zcard(h.keys.pacingNewChats)).toBe(3);
  });

  it('counts a recipient WhatsApp Web already has a chat with, or one written to before, as known', async () => {
    h.world.existingChats.add(wid(5));
    h.startOwner({ SEND_NEW_CHATS_PER_DAY: 1 });
    await h.pairFresh();
    for (const to of [5, 6, 5, 6]) await h.producer.waitForMessage((await h.producer.send({ to: number(to), text: `to ${to}` })).id, { timeoutMs: 20_000 });
    const waiting = await h.producer.send({ to: number(7), text: 'a second new chat' });
    await vi.waitFor(async () => expect(await h.producer.getMessage(waiting.id)).toMatchObject({ status: 'waiting' }), { timeout: 10_000, interval: 50 });
    expect(await h.fixture.redis.smembers(h.keys.knownContacts)).toEqual(expect.arrayContaining([wid(5), wid(6)]));
    expect(await h.fixture.redis.zrange(h.keys.pacingNewChats, 0, -1)).toEqual([wid(6)]);
  });
});

describe('warm-up and typing', () => {
  it('sends the first messages after a first link, or an absence, at a warm-up rate; not after a quick restart', async () => {
    const config = { SEND_WARMUP_MESSAGES: 3, SEND_WARMUP_INTERVAL_MS: 1_800, SEND_WARMUP_AFTER_S: 60 };
    const first = h.startOwner(config);
    await h.pairFresh();
    const gaps = async (count: number, tag: string): Promise<number[]> => {
      const ids: string[] = [];
      const start = h.world.sent.length;
      for (let i = 0; i < count; i += 1) ids.push((await h.producer.send({ to: number(1), text: `${tag} ${i}` })).id);
      for (const id of ids) await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
      const at = h.world.sent.slice(start).map((m) => m.receivedAtMs ?? 0);
      return at.slice(1).map((ms, i) => ms - at[i]!);
    };
    // Pauses of 1800 (before the first), 1200, 600 ms, then none (SEND_INTERVAL_MS is 0 here). A send
    // of the fake takes milliseconds: under 600 ms is "no pause", whatever the machine's load.
    const warm = await gaps(5, 'first link');
    expect(warm[0]).toBeGreaterThanOrEqual(1_200 - 50);
    expect(warm[1]).toBeGreaterThanOrEqual(600 - 50);
    expect(warm[2]).toBeLessThan(600);
    expect(await h.fixture.redis.hget(h.keys.pacing, PACING_FIELDS.warmupLeft)).toBe('0');

    // A restart within seconds is no absence.
    await first.stop();
    const second = h.startOwner(config);
    await h.waitForStatus('READY');
    const quick = await gaps(3, 'after a restart');
    expect(Math.max(...quick)).toBeLessThan(600);

    // An hour away (when it was last READY, as the next owner reads it).
    await second.stop();
    await h.fixture.redis.hset(h.keys.pacing, PACING_FIELDS.readyUntil, Date.now() - 3_600_000);
    h.startOwner(config);
    await h.waitForStatus('READY');
    const away = await gaps(3, 'after an hour away');
    expect(away[0]).toBeGreaterThanOrEqual(1_200 - 50);
  });

  it('shows typing before a send that asks for it, or by SEND_TYPING, longer for a longer text', async () => {
    h.startOwner();
    await h.pairFresh();
    const short = await h.producer.send({ to: number(1), text: 'hi', typing: true });
    const plain = await h.producer.send({ to: number(1), text: 'no typing' });
    await h.producer.waitForMessage(plain.id, { timeoutMs: 20_000 });
    expect(h.world.typings.map(({ to, ms }) => ({ to, ms }))).toEqual([{ to: wid(1), ms: 1_100 }]);
    const sent = h.world.messagesTo(wid(1)).find((m) => m.body === 'hi');
    expect(sent!.receivedAtMs! - h.world.typings[0]!.at).toBeGreaterThanOrEqual(1_100 - 20);
    expect((await h.producer.getMessage(short.id))?.status).toBe('sent');

    // A single owner takes its pacing from its config (the pool reads each session's settings live):
    // restart it with SEND_TYPING.
    await h.running[0]!.stop();
    h.startOwner({ SEND_TYPING: true });
    await h.waitForStatus('READY');
    const long = 'x'.repeat(200);
    await h.producer.waitForMessage((await h.producer.send({ to: number(2), text: long })).id, { timeoutMs: 20_000 });
    expect(h.world.typings.at(-1)).toMatchObject({ to: wid(2), ms: 8_000 });
  }, 60_000);
});
