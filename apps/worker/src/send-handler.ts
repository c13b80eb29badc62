/**
 * The send handler: delivers one message at most once.
 *
 * 1. Held: if the session is not READY (the outbox is paused, but a job taken just before the pause
 *    can still arrive here), the job goes back to the head of the queue without burning an attempt.
 * 2. Pacing: wait for the session's send slot.
 * 3. Fencing: prove this worker still owns the session before any side effect.
 * 4. Crash dedupe: the message record says what earlier attempts did. `sent` → done already (a crash
 *    between WhatsApp accepting and BullMQ completing). `sending` → an attempt was interrupted after
 *    its marker: look in the chat's recent own messages for the same text (a file: the same sha256 and
 *    caption) since that attempt started; if it is there, record it instead of sending a second copy.
 *    A file is read from the media store before anything is sent; one that is gone fails the send
 *    (`media_not_found`).
 * 5. The marker is written in the same round trip that reads the record (a Lua script); then the side
 *    effect, then the record (WA message id, sent time) and the event in one MULTI.
 * 5a. Expiry and withdrawal: the same script leaves a withdrawn message (expired, cancelled) unmarked,
 *    and one past its `expiresAt`; the job then fails at once (`MessageWithdrawnError`) and the
 *    handler withdraws an expired one itself (record + `message.failed`, code `expired`). One that an
 *    interrupted attempt may have delivered is looked for in the chat first: found, it counts as sent;
 *    not found and past its expiry, it is not sent. Never sent after its expiry.
 * 6. Order: a step that fails because the session is going away or WhatsApp Web's connection dropped
 *    holds the job at the head of the queue (see `heldIfSessionLost`) instead of retrying it with backoff
 *    behind the messages accepted after it.
 * 7. Account: a message accepted while an account was linked (the producer records it as `account`)
 *    is not sent from another one: AccountChangedError (unrecoverable, `account_changed`). One accepted
 *    while none was linked goes out from whichever links.
 */
import {
  AccountChangedError,
  decodeExpiresAt,
  decodeMessageRecord,
  EXPIRED,
  isWithdrawalCode,
  MessageWithdrawnError,
  RECORD_EXPIRES_AT_FIELD,
  withdrawMessage,
  MediaNotFoundError,
  mediaMode,
  MediaStore,
  messageRecordTtlSeconds,
  RedisScript,
  SessionNotReadyError,
  type JobPayload,
  type Logger,
  PACING_FIELDS,
  type PacingPolicy,
  typingDurationMs,
  type RedisClient,
  type SessionKeys,
  UnregisteredRecipientError,
  VideoUnsupportedError,
} from '@waq/shared';

import type { OutgoingMedia, OwnMessage, WhatsAppDriver } from './driver/driver.js';
import { abortableDelay, type SessionLease } from './lease.js';
import type { NumberLookup } from './number-lookup.js';
import type { Pacer } from './pacer.js';
import { OutboxRestError, SendParkedError, type SendBudget } from './send-budget.js';
import type { StatePublisher } from './state-publisher.js';
import { withTimeout } from './with-timeout.js';

/**
 * Returns the message record as it was and marks this attempt (`phase=sending` and its start time),
 * unless the record says `sent`, or the message was withdrawn (expired, cancelled), or it is past its
 * expiry without an earlier attempt (the handler withdraws it). The withdrawal script (shared,
 * message-withdrawal.ts) works on the same key: one of the two comes first. KEYS[1] record; ARGV[1]
 * attempt start (ISO 8601); ARGV[2] record TTL (s); ARGV[3] now (ms); ARGV[4] the payload's expiry (ms,
 * or ''), for a raw job whose record has none.
 */
const CLAIM_ATTEMPT = new RedisScript(`
local previous = redis.call('HGETALL', KEYS[1])
local phase = redis.call('HGET', KEYS[1], 'phase')
local code = redis.call('HGET', KEYS[1], 'errorCode')
local expiresAt = tonumber(redis.call('HGET', KEYS[1], '${RECORD_EXPIRES_AT_FIELD}'))
if expiresAt == nil and tonumber(ARGV[4]) then
  -- A raw job (no producer wrote the record): its payload's expiry, kept for the withdrawal to check.
  expiresAt = tonumber(ARGV[4])
  redis.call('HSET', KEYS[1], '${RECORD_EXPIRES_AT_FIELD}', ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local expired = expiresAt ~= nil and tonumber(ARGV[3]) >= expiresAt
if phase ~= 'sent' and code ~= 'expired' and code ~= 'cancelled' and not (expired and phase ~= 'sending') then
  redis.call('HSET', KEYS[1], 'phase', 'sending', 'attemptStartedAt', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return previous`);

function pairsToObject(reply: unknown): Record<string, string> {
  const object: Record<string, string> = {};
  if (!Array.isArray(reply)) return object;
  for (let i = 0; i + 1 < reply.length; i += 2) object[String(reply[i])] = String(reply[i + 1]);
  return object;
}

/** How long a failed send waits to see whether the session is going away (events trail the failure). */
const SESSION_LOSS_GRACE_MS = 2_000;
/** How long a send that failed on a dropped connection waits, active, for the connection to be back. */
const CONNECTION_WAIT_MS = 30_000;
const CONNECTION_POLL_MS = 250;
const STATE_READ_TIMEOUT_MS = 5_000;
/** Clock skew allowed between this host and WhatsApp's message timestamps (seconds granularity). */
const DEDUPE_SKEW_S = 5;
/**
 * How far back in the chat the crash-dedupe looks. Generous on purpose: a job interrupted by a crash is
 * retried only once its lock expires (up to about 2 × JOB_LOCK_MS, plus the restart), and the jobs behind
 * it keep going meanwhile, often to the same chat. With 50, a kill -9 of the worker in a 1,000-message
 * run to one number sent a duplicate (reliability suite, scenario 1). Read only on that rare path.
 */
const DEDUPE_WINDOW = 1_000;

export interface SendContext {
  readonly jobId: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export interface SendResult {
  readonly waMessageId: string;
  /** True when an interrupted earlier attempt had already delivered it. */
  readonly recovered: boolean;
}

export interface SendHandlerOptions {
  readonly redis: RedisClient;
  readonly keys: SessionKeys;
  readonly lease: Pick<SessionLease, 'assertHeld'>;
  readonly publisher: StatePublisher;
  readonly pacer: Pacer;
  /** The client if the session is READY, else undefined. */
  readonly readyClient: () => WhatsAppDriver | undefined;
  /** Resolves true if the session leaves READY within `ms` (a failed send caused by the session going away). */
  readonly sessionLostWithin: (ms: number) => Promise<boolean>;
  /** MESSAGE_RETENTION_S */
  readonly retentionSeconds: number;
  /** MEDIA_VIDEO_FALLBACK: a video on a browser that cannot send one goes as a document, or fails. */
  readonly videoFallback: 'document' | 'fail';
  /** EVENTS_MAX_LEN, for the event of a message withdrawn at its expiry. */
  readonly eventsMaxLen: number;
  /** The daily cap and the budget of new chats. */
  readonly budget: SendBudget;
  /** The session's policy (its `typing` default), read at every send. */
  readonly policy: () => Pick<PacingPolicy, 'typing'>;
  /** Whether a number has WhatsApp, and under which id. */
  readonly numbers: NumberLookup;
}

/** WhatsApp Web's connection state, or null when the page does not answer in time. */
async function connectionState(client: WhatsAppDriver): Promise<string | null> {
  return withTimeout(client.getState(), STATE_READ_TIMEOUT_MS, 'getState()').catch(() => null);
}

/** Resolves true once the connection is CONNECTED again, false after CONNECTION_WAIT_MS (or at `until`) or on abort. */
async function connectionBack(client: WhatsAppDriver, signal: AbortSignal, until = Infinity): Promise<boolean> {
  const deadline = Math.min(Date.now() + CONNECTION_WAIT_MS, until);
  while (!signal.aborted && Date.now() < deadline) {
    if ((await connectionState(client)) === 'CONNECTED') return true;
    await abortableDelay(CONNECTION_POLL_MS, signal);
  }
  return false;
}

export function createSendHandler(options: SendHandlerOptions) {
  const { redis, keys, lease, publisher, pacer, readyClient, sessionLostWithin, retentionSeconds, videoFallback, eventsMaxLen, budget, policy, numbers } = options;
  const recordTtl = messageRecordTtlSeconds(retentionSeconds);
  const mediaStore = new MediaStore(redis, keys);

  /** The send's file, read whole from the media store (the library takes it as base64), checked against its reference. */
  async function outgoingMedia(payload: JobPayload<'send'>): Promise<OutgoingMedia | undefined> {
    const ref = payload.media;
    if (ref === undefined) return undefined;
    const stored = await mediaStore.get(ref.mediaId);
    if (stored === null || stored.sha256 !== ref.sha256) throw new MediaNotFoundError(ref.mediaId);
    const filename = ref.filename ?? stored.filename;
    return { data: await mediaStore.readAll(stored), mimetype: stored.mimetype, filename, caption: payload.text, mode: mediaMode(payload) };
  }

  /** A video as this browser can send it: as it is, as a document (MEDIA_VIDEO_FALLBACK), or not at all. */
  async function sendable(client: WhatsAppDriver, media: OutgoingMedia, logger: Logger): Promise<OutgoingMedia> {
    if (media.mode !== 'auto' || !/^video\//i.test(media.mimetype) || (await client.canSendVideo())) return media;
    if (videoFallback === 'fail') throw new VideoUnsupportedError();
    logger.warn({ mimetype: media.mimetype }, "this browser cannot decode H.264/AAC video: sending the video as a document (MEDIA_VIDEO_FALLBACK=document; Google Chrome sends it as a video)");
    return { ...media, mode: 'document', filename: media.filename ?? `video.${media.mimetype.split('/')[1]?.split(';')[0] ?? 'mp4'}` };
  }

  /** Whether one of the chat's own messages is this send: the same text, or the same file and caption. */
  const isCopyOf = (payload: JobPayload<'send'>) => (message: OwnMessage): boolean =>
    payload.media === undefined ? message.sha256 === undefined && message.body === payload.text : message.sha256 === payload.media.sha256 && message.body === (payload.text ?? '');

  function requireClient(): WhatsAppDriver {
    const client = readyClient();
    if (client === undefined) throw new SessionNotReadyError(`session is ${publisher.status}`);
    return client;
  }

  /** The record, the event, and what the send changes in the budgets and the warm-up: one MULTI. */
  async function recordSent(id: string, to: string, waMessageId: string, newChat: boolean, logger: Logger): Promise<void> {
    const sentAt = new Date().toISOString();
    const recordKey = keys.message(id);
    await publisher.append([{ type: 'message.sent', at: sentAt, id, waMessageId }], (multi) => {
      multi.hset(recordKey, { phase: 'sent', waMessageId, sentAt }).expire(recordKey, recordTtl);
      multi.set(keys.waMessage(waMessageId), id, 'EX', recordTtl);
      multi.zrem(keys.expiries, id);
      budget.recordSent(multi, id, to, newChat);
      multi.hset(keys.pacing, PACING_FIELDS.warmupLeft, pacer.warmupLeft);
    });
    logger.info({ waMessageId, ...(newChat ? { newChat } : {}), ...(pacer.warmupLeft > 0 ? { warmupLeft: pacer.warmupLeft } : {}) }, 'message sent');
  }

  /**
   * Withdraws the message at its expiry (record and `message.failed` event, one script) and fails the
   * job: never sent after it. `force`: the record says an interrupted attempt, and the chat has no copy.
   */
  async function expire(id: string, logger: Logger, force: boolean): Promise<never> {
    const outcome = await withdrawMessage({ redis, keys, id, code: EXPIRED, eventsMaxLen, force });
    logger.warn({ outcome }, 'the message is past its expiry: not sending it');
    throw new MessageWithdrawnError(EXPIRED);
  }

  async function findEarlierCopy(client: WhatsAppDriver, to: string, payload: JobPayload<'send'>, since: string): Promise<string | undefined> {
    const after = Math.floor(Date.parse(since) / 1_000) - DEDUPE_SKEW_S;
    const candidates = (await client.recentOwnMessages(to, DEDUPE_WINDOW)).filter((m) => isCopyOf(payload)(m) && m.timestamp >= after);
    for (const candidate of candidates) {
      // A copy already claimed by another job (the same text sent twice on purpose) is not ours.
      const owner = await redis.get(keys.waMessage(candidate.waMessageId));
      if (owner === null) return candidate.waMessageId;
    }
    return undefined;
  }

  /**
   * Runs a step that talks to WhatsApp. If it fails because the session is going away (Chromium crash,
   * unlink, disconnect) or because WhatsApp Web's connection dropped (phone or network away: state
   * TIMEOUT, the session stays READY), the job is held: back to the head of the queue without burning
   * an attempt, so it keeps its place in line, and its marker makes the next attempt look for a copy
   * first. A retry with backoff would let the messages behind it go first. After a dropped connection
   * the job stays active until the connection is back (bounded), so the queue does not spin meanwhile.
   */
  async function heldIfSessionLost<T>(client: WhatsAppDriver, signal: AbortSignal, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof UnregisteredRecipientError || error instanceof VideoUnsupportedError) throw error;
      const cause = error instanceof Error ? error.message : String(error);
      // Read at the failure: the connection may well be back by the end of the grace period below.
      const state = await connectionState(client);
      if (await sessionLostWithin(SESSION_LOSS_GRACE_MS)) throw new SessionNotReadyError(`the session left READY during the send (${cause})`);
      if (state !== 'CONNECTED') {
        const back = await connectionBack(client, signal);
        throw new SessionNotReadyError(`WhatsApp Web's connection was ${state ?? 'unknown'} when the send failed (${cause}); ${back ? 'it is back' : `not back after ${CONNECTION_WAIT_MS / 1_000} s`}`);
      }
      throw error;
    }
  }

  return async function send(payload: JobPayload<'send'>, { jobId, logger, signal }: SendContext): Promise<SendResult> {
    requireClient();
    await pacer.wait(signal);
    if (signal.aborted) throw new SessionNotReadyError('the worker is stopping');
    const client = requireClient();
    await lease.assertHeld();
    // The id WhatsApp knows the recipient by (a phone number is asked about once, then kept): a number
    // without an account fails here, before anything else.
    const to = await heldIfSessionLost(client, signal, () => numbers.resolve(client, payload.to));
    const verdict = await budget.check(jobId, to);
    if (verdict.kind === 'rest') throw new OutboxRestError(verdict.untilMs);
    if (verdict.kind === 'park') throw new SendParkedError(verdict.untilMs);

    const recordKey = keys.message(jobId);
    const payloadExpiry = payload.expiresAt === undefined ? '' : Date.parse(payload.expiresAt);
    // A message with an expiry is handed to WhatsApp Web only while its connection is up: queued inside
    // WhatsApp Web it would go out whenever the phone is back, past its expiry. It waits here instead,
    // unmarked (so the expiry sweep can still withdraw it), until the connection is back or it expires.
    const expiry = payloadExpiry === '' ? decodeExpiresAt({ [RECORD_EXPIRES_AT_FIELD]: (await redis.hget(recordKey, RECORD_EXPIRES_AT_FIELD)) ?? '' }) : payloadExpiry;
    if (expiry !== undefined && Date.now() < expiry) {
      const state = await connectionState(client);
      if (state !== 'CONNECTED') {
        logger.info({ state }, "WhatsApp Web is not connected (the phone or its network is away): a message with an expiry waits here, not in WhatsApp Web's queue");
        const back = await connectionBack(client, signal, expiry);
        if (!back && Date.now() < expiry) throw new SessionNotReadyError(`WhatsApp Web's connection is ${state ?? 'unknown'}: the message waits for it (it has an expiry)`);
      }
    }
    // One round trip: what earlier attempts did, and this attempt's "sending" marker (unless already sent,
    // withdrawn, or past its expiry without an earlier attempt).
    const claimedAt = Date.now();
    const hash = pairsToObject(await CLAIM_ATTEMPT.run(redis, [recordKey], [new Date(claimedAt).toISOString(), recordTtl, claimedAt, payloadExpiry]));
    const record = decodeMessageRecord(hash);
    if (record?.phase === 'sent' && record.waMessageId !== undefined) {
      logger.info({ waMessageId: record.waMessageId }, 'already sent by an earlier attempt; not sending again');
      return { waMessageId: record.waMessageId, recovered: true };
    }
    const withdrawnAs = hash['errorCode'];
    if (isWithdrawalCode(withdrawnAs)) {
      logger.info({ code: withdrawnAs }, 'the message was withdrawn before its turn: not sending it');
      throw new MessageWithdrawnError(withdrawnAs);
    }
    const expiresAt = decodeExpiresAt(hash) ?? (payloadExpiry === '' ? undefined : payloadExpiry);
    const expired = expiresAt !== undefined && claimedAt >= expiresAt;
    if (expired && record?.phase !== 'sending') await expire(jobId, logger, false);
    const media = await outgoingMedia(payload);
    const acceptedFor = hash['account'];
    const linked = publisher.current.me?.wid;
    if (acceptedFor !== undefined && linked !== undefined && acceptedFor !== linked) throw new AccountChangedError();
    if (record?.phase === 'sending') {
      const copy = await heldIfSessionLost(client, signal, () => findEarlierCopy(client, to, payload, record.attemptStartedAt));
      if (copy !== undefined) {
        logger.warn({ waMessageId: copy, attemptStartedAt: record.attemptStartedAt }, 'an interrupted attempt had already delivered this message; recording it instead of sending a duplicate');
        await recordSent(jobId, to, copy, verdict.newChat, logger);
        return { waMessageId: copy, recovered: true };
      }
      // Not in the chat, and past its expiry: it is not sent now.
      if (expired) await expire(jobId, logger, true);
      logger.info({ attemptStartedAt: record.attemptStartedAt }, 'an interrupted attempt left no copy in the chat: sending');
    }

    const sent = await heldIfSessionLost(client, signal, async () => {
      if (payload.typing ?? policy().typing) {
        await client.showTyping(to, typingDurationMs(payload.text), signal);
        // Typing ends early when the worker stops or loses the session: then the next owner sends it.
        if (signal.aborted) throw new SessionNotReadyError('the worker is stopping');
        // Its expiry may have come while "typing…" showed: then it is not sent.
        if (expiresAt !== undefined && Date.now() >= expiresAt) return null;
      }
      return media === undefined ? client.sendText(to, payload.text ?? '') : client.sendMedia(to, await sendable(client, media, logger));
    });
    if (sent === null) return expire(jobId, logger, true);
    const { waMessageId } = sent;
    pacer.markSent();
    await recordSent(jobId, to, waMessageId, verdict.newChat, logger);
    // A file stored for this message alone is not needed any more (a shared one stays until its TTL).
    if (payload.media !== undefined) await mediaStore.removeIfFor(payload.media.mediaId, jobId).catch((error: unknown) => logger.warn({ err: error }, 'could not remove the sent file from the media store; it expires by itself'));
    return { waMessageId, recovered: false };
  };
}
