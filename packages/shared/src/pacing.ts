/**
 * A session's sending policy: how fast and how much it sends (pacing, the daily cap, the budget of new
 * chats, the warm-up after an absence) and whether it shows "typing…". Each value is the session's
 * setting (registry) or else the worker's configuration; the worker applies it, the API shows it.
 */
import type { Config } from './config.js';
import type { SessionKeys } from './keys.js';
import type { RedisClient } from './redis.js';
import type { SessionSettings } from './session-registry.js';

export interface PacingPolicy {
  /** Pause between two sends, plus up to `jitterMs` at random (ms). */
  readonly intervalMs: number;
  readonly jitterMs: number;
  /** Most sends in any 24 hours; 0: no cap. */
  readonly dailyCap: number;
  /** Most first messages to new recipients in any 24 hours; 0: no budget. */
  readonly newChatsPerDay: number;
  /** Away (not READY) at least this long, or newly linked: the next sends warm up (ms). */
  readonly warmupAfterMs: number;
  /** Sends the warm-up lasts; 0: none. */
  readonly warmupMessages: number;
  /** The pause before the first send of a warm-up (ms). */
  readonly warmupIntervalMs: number;
  /** "typing…" before each send that does not say otherwise. */
  readonly typing: boolean;
}

export type PacingConfig = Pick<
  Config,
  'SEND_INTERVAL_MS' | 'SEND_JITTER_MS' | 'SEND_DAILY_CAP' | 'SEND_NEW_CHATS_PER_DAY' | 'SEND_WARMUP_AFTER_S' | 'SEND_WARMUP_MESSAGES' | 'SEND_WARMUP_INTERVAL_MS' | 'SEND_TYPING'
>;

/** The policy of a session: its settings over the configuration. */
export function pacingPolicy(settings: SessionSettings, config: PacingConfig): PacingPolicy {
  return {
    intervalMs: settings.sendIntervalMs ?? config.SEND_INTERVAL_MS,
    jitterMs: settings.sendJitterMs ?? config.SEND_JITTER_MS,
    dailyCap: settings.dailyCap ?? config.SEND_DAILY_CAP,
    newChatsPerDay: settings.newChatsPerDay ?? config.SEND_NEW_CHATS_PER_DAY,
    warmupAfterMs: (settings.warmupAfterSeconds ?? config.SEND_WARMUP_AFTER_S) * 1_000,
    warmupMessages: settings.warmupMessages ?? config.SEND_WARMUP_MESSAGES,
    warmupIntervalMs: settings.warmupIntervalMs ?? config.SEND_WARMUP_INTERVAL_MS,
    typing: settings.typing ?? config.SEND_TYPING,
  };
}

/** The pause before send number `done + 1` of a warm-up of `total`: from `warmupIntervalMs` down to `intervalMs`, evenly. */
export function warmupIntervalMs(policy: Pick<PacingPolicy, 'intervalMs' | 'warmupIntervalMs'>, done: number, total: number): number {
  if (total <= 0 || done >= total) return policy.intervalMs;
  const from = Math.max(policy.warmupIntervalMs, policy.intervalMs);
  return Math.round(from - ((from - policy.intervalMs) * done) / total);
}

/** How long "typing…" shows before a message of `text` (a file without a caption: as for a short text). */
export function typingDurationMs(text: string | undefined): number {
  return Math.min(8_000, 1_000 + 50 * (text?.length ?? 10));
}

/** One day, the window of the daily cap and of the new-chat budget. */
export const PACING_WINDOW_MS = 86_400_000;

/** Why a send waits for a budget (the message view's `waiting.reason`). */
export type WaitReason = 'daily_cap' | 'new_chat_budget';

/** Fields of the owner's pacing state (`keys.pacing`). */
export const PACING_FIELDS = {
  /** The outbox rests for the daily cap until then (ms). */
  dailyCapUntil: 'dailyCapUntil',
  /** The warm-up's sends left, and its length. */
  warmupLeft: 'warmupLeft',
  warmupTotal: 'warmupTotal',
  /** When the session was last READY (ms). */
  readyUntil: 'readyUntil',
} as const;

/** Record fields of a send waiting for the budget of new chats (the message view reads them). */
export const RECORD_WAITING_FOR_FIELD = 'waitingFor';
export const RECORD_WAITING_UNTIL_FIELD = 'waitingUntil';

/** How much of its budgets a session has used, and where its warm-up stands (the session view, the status page). */
export interface PacingUsage {
  /** Sends in the last 24 hours (counted while a daily cap is set). */
  readonly sentLast24h: number;
  /** Recipients written to for the first time in the last 24 hours. */
  readonly newChatsLast24h: number;
  /** The daily cap is reached: sends wait until then. */
  readonly dailyCapUntil: string | null;
  /** Sends still to go at the warm-up rate. */
  readonly warmupLeft: number;
}

export async function readPacingUsage(redis: RedisClient, keys: SessionKeys, now = Date.now()): Promise<PacingUsage> {
  const since = now - PACING_WINDOW_MS;
  const [sent, newChats, [dailyCapUntil, warmupLeft]] = await Promise.all([
    redis.zcount(keys.pacingSends, since, '+inf'),
    redis.zcount(keys.pacingNewChats, since, '+inf'),
    redis.hmget(keys.pacing, PACING_FIELDS.dailyCapUntil, PACING_FIELDS.warmupLeft),
  ]);
  const capUntil = Number(dailyCapUntil);
  return {
    sentLast24h: sent,
    newChatsLast24h: newChats,
    dailyCapUntil: dailyCapUntil !== null && capUntil > now ? new Date(capUntil).toISOString() : null,
    warmupLeft: Math.max(0, Number(warmupLeft ?? 0) || 0),
  };
}
