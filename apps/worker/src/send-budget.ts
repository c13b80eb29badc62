/**
 * The budgets a session sends within, so that a number is not flagged for spam: a daily cap (messages in
 * any 24 hours) and a budget of new chats (recipients written to for the first time in any 24 hours).
 * Both are counted in Redis, so a worker taking the session over goes on with the same counts. A spent
 * budget makes sends wait, never fail (unless they expire meanwhile):
 *
 * - **daily cap**: the whole outbox rests until the oldest send of the window is a day old (every send
 *   counts, so none may overtake); its messages read `waiting` (`daily_cap`);
 * - **new chats**: a send to a recipient the number never chatted with waits (a BullMQ delayed job, until
 *   the oldest new chat of the window is a day old) while the sends to known chats go on. The later sends
 *   to that recipient wait behind it (`pacing:parked:<r>`): order holds within one recipient. They read
 *   `waiting` (`new_chat_budget`).
 *
 * "Never chatted with" is asked of WhatsApp Web (a chat with that recipient in the account's chat list:
 * `hasChat`) once per recipient, then remembered (`contacts:known`); a recipient written to is known.
 */
import { PACING_FIELDS, PACING_WINDOW_MS, RECORD_WAITING_FOR_FIELD, RECORD_WAITING_UNTIL_FIELD, RedisScript, WaqError, type PacingPolicy, type RedisClient, type SessionKeys } from '@waq/shared';
import type { ChainableCommander } from 'ioredis';

/** What the budgets say of one send. */
export type BudgetVerdict =
  | { readonly kind: 'go'; readonly newChat: boolean }
  /** The daily cap is spent: the whole outbox rests until `untilMs`. */
  | { readonly kind: 'rest'; readonly reason: 'daily_cap'; readonly untilMs: number }
  /** This send waits until `untilMs` (a delayed job) while other recipients' sends go on. */
  | { readonly kind: 'park'; readonly reason: 'new_chat_budget'; readonly untilMs: number };

/** The daily cap is spent: the whole outbox rests until `untilMs` (no send may overtake, each counts). */
export class OutboxRestError extends WaqError {
  override readonly name = 'OutboxRestError';
  readonly code = 'daily_cap';
  readonly retry = 'held';
  constructor(readonly untilMs: number) {
    super(`the session's daily cap is reached: sends wait until ${new Date(untilMs).toISOString()}`);
  }
}

/** The budget of new chats is spent: this send waits (a delayed job) until `untilMs`; other recipients' sends go on. */
export class SendParkedError extends WaqError {
  override readonly name = 'SendParkedError';
  readonly code = 'new_chat_budget';
  readonly retry = 'held';
  constructor(readonly untilMs: number) {
    super(`the session's budget of new chats is spent: this send waits until ${new Date(untilMs).toISOString()}`);
  }
}

export interface SendBudgetOptions {
  readonly redis: RedisClient;
  readonly keys: SessionKeys;
  /** The session's policy, read at every send. */
  readonly policy: () => PacingPolicy;
  /** Whether the account's chat list has a chat with `wid` (WhatsApp Web). */
  readonly hasChat: (wid: string) => Promise<boolean>;
  /** Whether a send is still waiting to go (not gone, not ended): a gone one no longer holds its recipient's line. */
  readonly stillWaiting: (jobId: string) => Promise<boolean>;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}

/** The BullMQ delayed timestamps of one recipient's parked sends are spaced by this, so they wake in order. */
const PARK_STEP_MS = 1;

/**
 * Parks a send: joins its recipient's line (once; behind the sends parked before it, which is the order
 * the outbox handed them out: acceptance order within a priority) and notes on its record what it waits
 * for, and until when. KEYS[1] the recipient's parked sends, KEYS[2] the record; ARGV[1] job id, ARGV[2] until (ms).
 */
const PARK = new RedisScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local place = 1
  if last[2] then place = tonumber(last[2]) + 1 end
  redis.call('ZADD', KEYS[1], place, ARGV[1])
end
redis.call('HSET', KEYS[2], '${RECORD_WAITING_FOR_FIELD}', 'new_chat_budget', '${RECORD_WAITING_UNTIL_FIELD}', ARGV[2])`);

export class SendBudget {
  private readonly now: () => number;

  constructor(private readonly options: SendBudgetOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The verdict for send `jobId` to `to`. The first of a recipient's parked
   * sends gets the first go once the budget frees; the later ones stay parked behind it.
   */
  async check(jobId: string, to: string): Promise<BudgetVerdict> {
    const { redis, keys, policy } = this.options;
    const { dailyCap, newChatsPerDay } = policy();
    const now = this.now();
    const since = now - PACING_WINDOW_MS;
    if (dailyCap > 0) {
      const [sent, oldest] = await Promise.all([redis.zcount(keys.pacingSends, since, '+inf'), redis.zrangebyscore(keys.pacingSends, since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)]);
      if (sent >= dailyCap) {
        const untilMs = Number(oldest[1] ?? now) + PACING_WINDOW_MS;
        await redis.hset(keys.pacing, PACING_FIELDS.dailyCapUntil, untilMs);
        return { kind: 'rest', reason: 'daily_cap', untilMs };
      }
    }
    await redis.hdel(keys.pacing, PACING_FIELDS.dailyCapUntil);
    // A group is a chat the account is in: no first contact to budget.
    if (to.endsWith('@g.us')) return { kind: 'go', newChat: false };
    const ahead = await this.firstParked(to, jobId);
    if (ahead !== undefined) {
      // An earlier send to this recipient waits for the budget: this one waits behind it.
      const untilMs = Math.max(ahead.untilMs, now) + PARK_STEP_MS;
      await this.park(jobId, to, untilMs);
      return { kind: 'park', reason: 'new_chat_budget', untilMs };
    }
    if (newChatsPerDay <= 0 || (await this.isKnown(to))) return { kind: 'go', newChat: false };
    const [started, oldest] = await Promise.all([redis.zcount(keys.pacingNewChats, since, '+inf'), redis.zrangebyscore(keys.pacingNewChats, since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)]);
    if (started < newChatsPerDay) return { kind: 'go', newChat: true };
    const untilMs = Number(oldest[1] ?? now) + PACING_WINDOW_MS;
    await this.park(jobId, to, untilMs);
    return { kind: 'park', reason: 'new_chat_budget', untilMs };
  }

  /** Adds to `multi` (the sent record's) what a send changes in the budgets. */
  recordSent(multi: ChainableCommander, jobId: string, to: string, newChat: boolean): void {
    const { keys, policy } = this.options;
    const now = this.now();
    if (policy().dailyCap > 0) {
      multi.zadd(keys.pacingSends, now, jobId).zremrangebyscore(keys.pacingSends, '-inf', now - PACING_WINDOW_MS).pexpire(keys.pacingSends, PACING_WINDOW_MS);
    }
    if (newChat) multi.zadd(keys.pacingNewChats, now, to).zremrangebyscore(keys.pacingNewChats, '-inf', now - PACING_WINDOW_MS).pexpire(keys.pacingNewChats, PACING_WINDOW_MS);
    if (!to.endsWith('@g.us')) multi.sadd(keys.knownContacts, to);
    multi.zrem(keys.pacingParked(to), jobId);
    multi.hdel(keys.message(jobId), RECORD_WAITING_FOR_FIELD, RECORD_WAITING_UNTIL_FIELD);
  }

  private async isKnown(to: string): Promise<boolean> {
    const { redis, keys, hasChat } = this.options;
    if ((await redis.sismember(keys.knownContacts, to)) === 1) return true;
    if (!(await hasChat(to))) return false;
    await redis.sadd(keys.knownContacts, to);
    return true;
  }

  /** The earliest parked send to `to` other than `jobId` that still waits, with when it wakes. */
  private async firstParked(to: string, jobId: string): Promise<{ jobId: string; untilMs: number } | undefined> {
    const { redis, keys, stillWaiting } = this.options;
    const parked = keys.pacingParked(to);
    for (;;) {
      const [first] = await redis.zrange(parked, 0, 0);
      if (first === undefined || first === jobId) return undefined;
      if (await stillWaiting(first)) {
        const until = Number(await redis.hget(keys.message(first), RECORD_WAITING_UNTIL_FIELD));
        return { jobId: first, untilMs: Number.isFinite(until) ? until : this.now() };
      }
      await redis.zrem(parked, first);
    }
  }

  private async park(jobId: string, to: string, untilMs: number): Promise<void> {
    const { redis, keys } = this.options;
    await PARK.run(redis, [keys.pacingParked(to), keys.message(jobId)], [jobId, untilMs]);
  }
}
