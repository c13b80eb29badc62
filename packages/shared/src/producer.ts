/**
 * The producer SDK: how the API and other services push jobs to a waq session and read its state.
 *
 * ```ts
 * import { createProducer } from '@waq/shared';
 * const waq = createProducer({ redis: 'redis://127.0.0.1:6379' });
 * const { id } = await waq.send({ to: '+49 151 23456789', text: 'Your code is 1234', idempotencyKey: 'otp-8812' });
 * const message = await waq.waitForMessage(id, { timeoutMs: 60_000 });
 * await waq.close();
 * ```
 *
 * Sends are accepted whatever the session state: while it is not READY they are held, in order, and
 * go out once it is. The idempotency key (generated when absent) is the message id: sending again with
 * the same key returns the same message instead of a second one, for as long as MESSAGE_RETENTION_S.
 *
 * A producer addresses one session (`session`, default `default`); `producer.session('sales')` gives
 * one for another session on the same connection (made once per id, closed with the root producer).
 * A send to a session that is not registered is refused (`SessionNotFoundError`) by the same script
 * that claims the message: addressing a session costs no extra round trip.
 */
import type { Writable } from 'node:stream';

import type { Job } from 'bullmq';

import { IdempotencyConflictError, InvalidPayloadError, NumberCheckPendingError, NumberCheckUnavailableError, SessionNotFoundError, UnregisteredRecipientError, type FieldProblem } from './errors.js';
import { latestEventId, openBlockingConnection, tailEvents } from './event-stream.js';
import { PACING_FIELDS, RECORD_WAITING_FOR_FIELD, RECORD_WAITING_UNTIL_FIELD } from './pacing.js';
import { idempotencyKeySchema, jobCatalog, SEND_PRIORITIES, toFieldProblems, type JobInput, type JobName, type JobOptionsConfig, type MediaRef } from './jobs.js';
import { MediaStore } from './media-store.js';
import { phoneDigitsOf, readNumberCheck, type NumberCheck } from './number-check.js';
import { parseRecipient } from './recipient.js';
import type { Logger } from './logger.js';
import { CANCELLED, isWithdrawalCode, removeWithdrawnJob, withdrawMessage, type WithdrawalOutcome } from './message-withdrawal.js';
import {
  decodeExpiresAt,
  decodeMessageFailure,
  decodeMessageRecord,
  decodeMessageRetries,
  FINAL_MESSAGE_STATUSES,
  MESSAGE_RETRIES_FIELD,
  messageAttempts,
  messageRecordTtlSeconds,
  RECORD_ACCEPTED_AT_FIELD,
  RECORD_PRIORITY_FIELD,
  RECORD_SEND_AT_FIELD,
  RECORD_EXPIRES_AT_FIELD,
  RECORD_TO_FIELD,
  type MessageStatus,
  type MessageView,
} from './messages.js';
import { MAX_MESSAGE_TTL_S, registeredSessionIdSchema } from './session-registry.js';
import { OwnerLiveness } from './owner-liveness.js';
import { createRedis, isCluster, type RedisClient } from './redis.js';
import { RedisScript } from './redis-script.js';
import { createSessionQueues, enqueue, newMessageId, parseJobId, sendFingerprint, type SessionQueues } from './session-queues.js';
import { decodeState, reportState, type ReportedSessionState, type SessionState } from './state.js';

/** MEDIA_MAX_BYTES's default: 64 MiB (WhatsApp sends media up to 16 MB and documents up to 2 GB). */
export const DEFAULT_MEDIA_MAX_BYTES = 64 * 1024 * 1024;

export interface ProducerOptions {
  /** A connection to share (not closed by `close()`), or a URL to connect to (closed by `close()`). */
  readonly redis: RedisClient | string;
  /** WAQ_PREFIX of the gateway. @defaultValue 'waq' */
  readonly prefix?: string;
  /** The session to address (`producer.session(id)` addresses others). @defaultValue 'default' */
  readonly session?: string;
  /** @deprecated the name of `session` in waq 0.1. */
  readonly sessionId?: string;
  /** SEND_MAX_ATTEMPTS @defaultValue 5 */
  readonly sendMaxAttempts?: number;
  /** MESSAGE_RETENTION_S @defaultValue 86400 */
  readonly retentionSeconds?: number;
  /** MEDIA_MAX_BYTES: the largest file `uploadMedia` stores. @defaultValue 67108864 (64 MiB) */
  readonly mediaMaxBytes?: number;
  /** MEDIA_RETENTION_S: how long an uploaded file is kept. @defaultValue 86400 */
  readonly mediaRetentionSeconds?: number;
  /** EVENTS_MAX_LEN: the session event stream's length, kept by the events `cancelMessage` writes. @defaultValue 10000 */
  readonly eventsMaxLen?: number;
  readonly logger?: Logger;
}

/** A file to store for sends: its bytes as they arrive (a stream, or a Buffer), and what it says of itself. */
export interface UploadInput {
  readonly data: AsyncIterable<Uint8Array> | Uint8Array;
  /** Checked against the bytes; read from them when left out. */
  readonly mimetype?: string;
  /** The name a document shows. */
  readonly filename?: string;
}

export type SendInput = JobInput<'send'> & {
  /** Makes the send happen at most once: the same key returns the same message. Becomes its id. */
  readonly idempotencyKey?: string;
  /** Never sent later than this many seconds after acceptance (instead of `expiresAt`). */
  readonly ttlSeconds?: number;
};

export interface Accepted {
  /** Message id (= idempotency key). */
  readonly id: string;
  /**
   * `queued`, `held` when the session was not READY at acceptance (it goes out once it is), or
   * `scheduled` (`sendAt`). A repeat of a key reports the message as it stands.
   */
  readonly status: MessageStatus;
  /** True when this key had already been accepted: nothing new was enqueued. */
  readonly duplicate: boolean;
  /** When it expires: its own `expiresAt` / `ttlSeconds`, or the session's `messageTtlSeconds`. */
  readonly expiresAt?: string;
}

/** What `cancelMessage` did. */
export interface Cancellation {
  /** `withdrawn` when it is cancelled now; else why not (see `WithdrawalOutcome`). */
  readonly outcome: WithdrawalOutcome;
  /** The message as it stands afterwards (null when unknown). */
  readonly message: MessageView | null;
}

export interface WaitOptions {
  /** @defaultValue 60000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface ListMessagesOptions {
  /** Only messages in these statuses. */
  readonly status?: readonly MessageStatus[];
  /** @defaultValue 50 */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
  /** By acceptance time: newest first (`desc`, default) or in the order they go out (`asc`). */
  readonly order?: 'asc' | 'desc';
}

export interface MessagePage {
  readonly messages: MessageView[];
  /** Present when there may be more: pass it as `cursor`. A page filtered by status may hold fewer than `limit`. */
  readonly nextCursor?: string;
}

export interface Producer {
  /** The session this producer addresses. */
  readonly sessionId: string;
  readonly queues: SessionQueues;
  /** A producer for another session on the same connection (made once per id; closed by the root producer's `close()`). */
  session(id: string): Producer;
  send(input: SendInput): Promise<Accepted>;
  /**
   * Withdraws a message that is not being sent yet (queued, held, scheduled): it ends `cancelled`, with
   * a `message.cancelled` event. One being sent, sent, failed or cancelled already is left as it is.
   */
  cancelMessage(id: string): Promise<Cancellation>;
  /**
   * Stores a file in the session's media store and returns the reference a send carries as `media`
   * (the bytes never go into a job). @throws MediaTooLargeError, MediaEmptyError, MediaTypeMismatchError
   */
  uploadMedia(input: UploadInput): Promise<MediaRef>;
  /**
   * Queues a `connect`: restores the saved session, or shows a QR code; with `link` a pairing code for
   * that phone number instead (E.164), or beside the QR code already shown.
   */
  connect(requestedBy?: string, link?: { readonly method: 'code'; readonly phoneNumber: string }): Promise<{ id: string }>;
  logout(requestedBy?: string): Promise<{ id: string }>;
  restart(requestedBy?: string): Promise<{ id: string }>;
  getState(): Promise<ReportedSessionState>;
  /**
   * Whether `number` (E.164, or `<digits>@c.us`) has a WhatsApp account, and its WhatsApp id: the kept
   * answer (`cached: true`), else asked of WhatsApp through the session's worker (a `check` job) and
   * awaited up to `timeoutMs`. @throws InvalidPayloadError (not a phone number), NumberCheckUnavailableError
   * (the session is not READY), NumberCheckPendingError (no answer in time: it is kept once it comes)
   */
  checkNumber(number: string, options?: { readonly timeoutMs?: number }): Promise<NumberCheck & { readonly cached: boolean }>;
  /** The message's status, or null when the id is unknown (never accepted, or past retention). */
  getMessage(id: string): Promise<MessageView | null>;
  /** The session's messages by acceptance time, with an optional status filter, a page at a time. */
  listMessages(options?: ListMessagesOptions): Promise<MessagePage>;
  /** Resolves when the message is `sent`, `failed` or `cancelled`; rejects on timeout or abort. */
  waitForMessage(id: string, options?: WaitOptions): Promise<MessageView>;
  /** Closes the queues (and the connection when the producer opened it). Idempotent. */
  close(): Promise<void>;
}

/**
 * Claims a send's id and reads the session state, atomically, in one command: HSETNX the fingerprint,
 * EXPIRE NX the record, and return `[claimed, stored fingerprint, state, lease, expiry, final]`. A new
 * claim also records the account the session has linked (`me.wid` of the published state, if any) as
 * `account` (the worker will not send the message from a different account: AccountChangedError), the
 * recipient and acceptance time (the view of a withdrawn message, whose job is gone, is read from them)
 * and the expiry: the send's own, else the session's `messageTtlSeconds` from its settings copy, put
 * in the expiries too. It puts the id in the session's message list (trimming what is past the record
 * TTL). A repeat returns the record's failure code, if it has one (`final`: not to be added again). A
 * session that is not registered (no marker key) claims nothing: `[-1]`; nor does a send to a number
 * WhatsApp said has no account (its kept answer, number-check.ts): `[-2]`.
 * KEYS[1] message record, KEYS[2] state, KEYS[3] lease, KEYS[4] registered marker, KEYS[5] message
 * list, KEYS[6] settings, KEYS[7] expiries, KEYS[8] the recipient's number check (any key of the slot
 * for a recipient that is no phone number); ARGV[1] fingerprint, ARGV[2] record TTL (s), ARGV[3]
 * acceptance time (ms), ARGV[4] message id, ARGV[5] recipient, ARGV[6] acceptance time (ISO 8601),
 * ARGV[7] the send's own expiry (ms, or ''), ARGV[8] its priority, ARGV[9] its sendAt (ISO 8601, or '').
 */
const CLAIM_SEND = new RedisScript(`
if redis.call('EXISTS', KEYS[4]) == 0 then return { -1 } end
local number = redis.call('GET', KEYS[8])
if number then
  local ok, decoded = pcall(cjson.decode, number)
  if ok and type(decoded) == 'table' and decoded.onWhatsApp == false then return { -2 } end
end
local claimed = redis.call('HSETNX', KEYS[1], 'fingerprint', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
local stored = ARGV[1]
local state = redis.call('GET', KEYS[2])
local expiry = false
local final = false
if claimed == 0 then
  stored = redis.call('HGET', KEYS[1], 'fingerprint')
  expiry = redis.call('HGET', KEYS[1], '${RECORD_EXPIRES_AT_FIELD}')
  final = redis.call('HGET', KEYS[1], 'errorCode')
else
  if state then
    local ok, decoded = pcall(cjson.decode, state)
    if ok and type(decoded) == 'table' and type(decoded.me) == 'table' and type(decoded.me.wid) == 'string' then
      redis.call('HSET', KEYS[1], 'account', decoded.me.wid)
    end
  end
  local at = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], '${RECORD_TO_FIELD}', ARGV[5], '${RECORD_ACCEPTED_AT_FIELD}', ARGV[6], '${RECORD_PRIORITY_FIELD}', ARGV[8])
  if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], '${RECORD_SEND_AT_FIELD}', ARGV[9]) end
  expiry = tonumber(ARGV[7])
  if not expiry then
    local settings = redis.call('GET', KEYS[6])
    if settings then
      local ok, decoded = pcall(cjson.decode, settings)
      if ok and type(decoded) == 'table' and type(decoded.messageTtlSeconds) == 'number' then expiry = at + decoded.messageTtlSeconds * 1000 end
    end
  end
  if expiry then
    expiry = string.format('%d', expiry)
    redis.call('HSET', KEYS[1], '${RECORD_EXPIRES_AT_FIELD}', expiry)
    redis.call('ZADD', KEYS[7], expiry, ARGV[4])
  end
  redis.call('ZADD', KEYS[5], at, ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. (at - tonumber(ARGV[2]) * 1000))
  redis.call('EXPIRE', KEYS[5], ARGV[2])
end
return { claimed, stored, state, redis.call('GET', KEYS[3]), expiry, final }`);

/** The digits of a phone number given as a recipient is (`+49 151…`, `…@c.us`), or an InvalidPayloadError naming `path`. */
function phoneDigitsOrThrow(input: string, path: string, notAPhone: string, what: string): string {
  const parsed = parseRecipient(input);
  const digits = parsed.ok ? phoneDigitsOf(parsed.value.wid) : undefined;
  if (digits === undefined) throw new InvalidPayloadError([{ path, message: parsed.ok ? notAPhone : parsed.message }], what);
  return digits;
}

/**
 * Holds back the socket writes on `redis` until the next turn of the event loop, then sends them in one
 * system call. A send is two commands (the claim, and BullMQ's add a few microtasks later), and under
 * load many sends start in the same turn: one write per command cost the API more CPU than everything
 * else the producer does (docs/benchmarks.md, case 1). Unlike ioredis's auto-pipelining (which BullMQ
 * users report trouble with) the commands, their order and their replies are untouched; only the
 * socket is corked. Uses ioredis's socket (`redis.stream`, not in its typings; on Redis Cluster, the
 * socket of each connected master): when it is not there, or the connection is not ready (commands
 * wait in ioredis's offline queue), this does nothing.
 */
function writeCoalescer(redis: RedisClient): () => void {
  let corked = false;
  return () => {
    if (corked || redis.status !== 'ready') return;
    const connections = isCluster(redis) ? redis.nodes('master').filter((node) => node.status === 'ready') : [redis];
    const streams = connections.flatMap((connection) => {
      const stream = (connection as unknown as { stream?: Partial<Pick<Writable, 'cork' | 'uncork'>> }).stream;
      return typeof stream?.cork === 'function' && typeof stream.uncork === 'function' ? [stream as Pick<Writable, 'cork' | 'uncork'>] : [];
    });
    if (streams.length === 0) return;
    for (const stream of streams) stream.cork();
    corked = true;
    setImmediate(() => {
      corked = false;
      for (const stream of streams) stream.uncork();
    });
  };
}

/** What every session's producer of one `createProducer()` shares. */
interface ProducerContext {
  readonly redis: RedisClient;
  readonly prefix: string;
  readonly jobConfig: JobOptionsConfig;
  readonly media: { readonly maxBytes: number; readonly retentionSeconds: number };
  readonly eventsMaxLen: number;
  readonly liveness: OwnerLiveness;
  readonly coalesceWrites: () => void;
  readonly logger: Logger | undefined;
  /** One producer per session id, made on first use. */
  readonly sessions: Map<string, Producer>;
}

export function createProducer(options: ProducerOptions): Producer {
  const { prefix = 'waq', logger } = options;
  const ownsConnection = typeof options.redis === 'string';
  const redis = typeof options.redis === 'string' ? createRedis({ url: options.redis, role: 'producer', name: 'waq-producer', logger }) : options.redis;
  const context: ProducerContext = {
    redis,
    prefix,
    jobConfig: { sendMaxAttempts: options.sendMaxAttempts ?? 5, retentionSeconds: options.retentionSeconds ?? 86_400 },
    media: { maxBytes: options.mediaMaxBytes ?? DEFAULT_MEDIA_MAX_BYTES, retentionSeconds: options.mediaRetentionSeconds ?? 86_400 },
    eventsMaxLen: options.eventsMaxLen ?? 10_000,
    // A lease outlives a killed owner by up to a TTL: its connection tells at once (owner-liveness.ts).
    liveness: new OwnerLiveness(redis, logger === undefined ? {} : { logger }),
    coalesceWrites: writeCoalescer(redis),
    logger,
    sessions: new Map(),
  };
  const root = sessionProducer(context, parseSessionId(options.session ?? options.sessionId ?? 'default'));
  let closing: Promise<void> | undefined;
  return {
    ...root,
    async close() {
      closing ??= (async () => {
        await Promise.all([...context.sessions.values()].map((producer) => producer.close()));
        if (ownsConnection && redis.status !== 'end') await redis.quit().catch(() => redis.disconnect());
      })();
      return closing;
    },
  };
}

function parseSessionId(id: string): string {
  const result = registeredSessionIdSchema.safeParse(id);
  if (!result.success) throw new InvalidPayloadError(toFieldProblems(result.error, ['session']), 'session id');
  return result.data;
}

/** Cursor of a message list page: the acceptance time and id of the last message listed. */
function encodeCursor(score: number, id: string): string {
  return Buffer.from(JSON.stringify([score, id])).toString('base64url');
}

function decodeCursor(cursor: string): { score: number; id: string } {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (!Array.isArray(decoded) || typeof decoded[0] !== 'number' || typeof decoded[1] !== 'string') {
    throw new InvalidPayloadError([{ path: 'cursor', message: 'is not a cursor of this list: pass the nextCursor of the previous page' }], 'cursor');
  }
  return { score: decoded[0], id: decoded[1] };
}

/**
 * A send's `expiresAt` (from `ttlSeconds` when given instead) and `sendAt`, checked against now: an
 * expiry already past, or a schedule further ahead than the message's records are kept, is refused.
 */
function timing(payload: { readonly expiresAt?: string | undefined; readonly sendAt?: string | undefined }, ttlSeconds: unknown, acceptedMs: number, retentionSeconds = 86_400): { expiresAt?: string } {
  const problems: FieldProblem[] = [];
  let expiresAt = payload.expiresAt;
  if (ttlSeconds !== undefined) {
    if (typeof ttlSeconds !== 'number' || !Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_MESSAGE_TTL_S) {
      problems.push({ path: 'ttlSeconds', message: `must be a whole number of seconds from 1 to ${MAX_MESSAGE_TTL_S} (30 days)` });
    } else if (expiresAt !== undefined) {
      problems.push({ path: 'ttlSeconds', message: 'give expiresAt or ttlSeconds, not both' });
    } else {
      expiresAt = new Date(acceptedMs + ttlSeconds * 1_000).toISOString();
    }
  }
  const now = Date.now();
  if (expiresAt !== undefined && Date.parse(expiresAt) <= now) problems.push({ path: 'expiresAt', message: `is in the past (${expiresAt}): the message would never be sent` });
  if (payload.sendAt !== undefined && expiresAt !== undefined && Date.parse(expiresAt) <= Date.parse(payload.sendAt)) problems.push({ path: 'expiresAt', message: `is not after sendAt (${payload.sendAt}): the message would expire before it may be sent` });
  const horizonMs = MAX_SCHEDULE_RETENTIONS * retentionSeconds * 1_000;
  if (payload.sendAt !== undefined && Date.parse(payload.sendAt) - now > horizonMs) {
    problems.push({ path: 'sendAt', message: `is more than ${Math.round(horizonMs / 86_400_000)} days ahead (7 × MESSAGE_RETENTION_S): a message's records are not kept that long` });
  }
  if (problems.length > 0) throw new InvalidPayloadError(problems, 'message');
  return expiresAt === undefined ? {} : { expiresAt };
}

/** What a message's view depends on besides the message (see `sessionContext`). */
interface SessionContext {
  readonly ready: boolean;
  /** The outbox rests for the session's daily cap until then (ms). */
  readonly dailyCapUntil?: number;
}

/** What the send script answered. */
interface SendClaim {
  readonly registered: boolean;
  readonly claimed: boolean;
  /** The fingerprint the id was claimed with. */
  readonly stored: string;
  readonly status: MessageStatus;
  /** A repeat's failure code, when the message ended so. */
  readonly final: string | null;
  /** WhatsApp said the recipient's number has no account: nothing was claimed. */
  readonly unregisteredRecipient?: boolean;
  readonly expiresAt?: string;
}

/**
 * How far ahead a send may be scheduled, in retention periods: a message record lives eight (see
 * `messageRecordTtlSeconds`), and must outlive the job's wait plus the retention of its outcome.
 */
const MAX_SCHEDULE_RETENTIONS = 7;

/** How often a number check awaited by the producer looks for WhatsApp's answer, in ms. */
const NUMBER_CHECK_POLL_MS = 100;

/** Ids read from the message list per round trip while filling a page. */
const LIST_BATCH = 100;
/** Most ids looked at for one page: a page filtered by status ends early rather than reading the whole list. */
const LIST_SCAN_MAX = 1_000;

function sessionProducer(context: ProducerContext, sessionId: string): Producer {
  const existing = context.sessions.get(sessionId);
  if (existing !== undefined) return existing;
  const { redis, prefix, jobConfig, liveness, coalesceWrites, logger, eventsMaxLen } = context;
  const queues = createSessionQueues(redis, { prefix, sessionId }, logger);
  const { keys } = queues;

  // The published state changes rarely and every send reads it: decode each distinct value once.
  let lastState: { readonly raw: string | null; readonly decoded: SessionState | null } = { raw: null, decoded: null };
  const decodeStateCached = (raw: string | null): SessionState | null => {
    if (raw !== lastState.raw) lastState = { raw, decoded: decodeState(raw) };
    return lastState.decoded;
  };
  /**
   * The session as reported, from the raw values of the state and lease keys. A send takes the cached
   * liveness answer (no round trip of its own); `getState()` waits for a fresh one.
   */
  const reported = ([state, lease]: readonly (string | null | undefined)[], alive?: boolean): ReportedSessionState => {
    const holder = lease ?? null;
    return reportState(sessionId, decodeStateCached(state ?? null), { holder, alive: alive ?? (holder === null || liveness.peek(holder)) });
  };

  async function sessionStatus(): Promise<ReportedSessionState> {
    const [state, lease] = await redis.mget(keys.state, keys.lease);
    return reported([state, lease], lease === null || lease === undefined ? undefined : await liveness.check(lease));
  }

  async function control(name: 'connect' | 'logout' | 'restart', requestedBy?: string): Promise<{ id: string }> {
    const input: JobInput<typeof name> = requestedBy === undefined ? {} : { requestedBy };
    const job = await enqueue(queues, jobConfig, name, input);
    return { id: String(job.id) };
  }

  async function describe(job: Job, state: string, session: SessionContext): Promise<MessageView> {
    const id = String(job.id);
    const hash = await redis.hgetall(keys.message(id));
    const record = decodeMessageRecord(hash);
    const failure = decodeMessageFailure(hash);
    const data = job.data as { to?: unknown; acceptedAt?: unknown; priority?: unknown; sendAt?: unknown };
    const parkedUntil = hash[RECORD_WAITING_FOR_FIELD] === 'new_chat_budget' ? Number(hash[RECORD_WAITING_UNTIL_FIELD]) : undefined;
    const waiting =
      state === 'delayed' && parkedUntil !== undefined && Number.isFinite(parkedUntil) ? { reason: 'new_chat_budget' as const, until: new Date(parkedUntil).toISOString() }
      : session.ready && (state === 'waiting' || state === 'prioritized') && session.dailyCapUntil !== undefined ? { reason: 'daily_cap' as const, until: new Date(session.dailyCapUntil).toISOString() }
      : undefined;
    // The record turns `sent` a moment before BullMQ completes the job: report what WhatsApp did. A
    // withdrawn message whose job is still active (its handler fails it) reads as withdrawn already.
    const status: MessageStatus =
      state === 'completed' || (record?.phase === 'sent' && state !== 'failed') ? 'sent'
      : failure?.code === CANCELLED ? 'cancelled'
      : state === 'failed' || isWithdrawalCode(failure?.code) ? 'failed'
      : state === 'active' ? 'sending'
      : waiting !== undefined ? 'waiting'
      : state === 'delayed' ? 'scheduled'
      : session.ready ? 'queued'
      : 'held';
    const expiresAt = decodeExpiresAt(hash);
    return {
      id,
      status,
      to: typeof data.to === 'string' ? data.to : '',
      // BullMQ counts an attempt when it ends; the record may say sent (or withdrawn) a moment before:
      // the attempt under way counts already, so a reader never sees one attempt too few.
      // (`finishedOn`: the job's data may be newer than the state read before it, and then counts it itself.)
      attempts: messageAttempts(job.attemptsMade, hash) + (state === 'active' && job.finishedOn === undefined ? 1 : 0),
      maxAttempts: job.opts.attempts ?? 1,
      acceptedAt: typeof data.acceptedAt === 'string' ? data.acceptedAt : new Date(job.timestamp).toISOString(),
      priority: SEND_PRIORITIES.find((level) => level === data.priority) ?? 'normal',
      ...(typeof data.sendAt === 'string' ? { sendAt: data.sendAt } : {}),
      ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }),
      ...(status === 'waiting' && waiting !== undefined ? { waiting } : {}),
      ...(record?.waMessageId === undefined ? {} : { waMessageId: record.waMessageId }),
      ...(record?.sentAt === undefined ? {} : { sentAt: record.sentAt }),
      ...(record?.ack === undefined ? {} : { ack: record.ack }),
      ...(status === 'failed' || status === 'cancelled' ? { error: failure ?? { code: 'send_failed', message: job.failedReason ?? 'failed' } } : {}),
    };
  }

  /** The view of a message withdrawn (expired, cancelled) whose job was removed: read from its record. */
  async function describeWithdrawn(id: string): Promise<MessageView | null> {
    const hash = await redis.hgetall(keys.message(id));
    const failure = decodeMessageFailure(hash);
    const to = hash[RECORD_TO_FIELD];
    const acceptedAt = hash[RECORD_ACCEPTED_AT_FIELD];
    if (failure === null || to === undefined || acceptedAt === undefined) return null;
    const expiresAt = decodeExpiresAt(hash);
    return {
      id,
      status: failure.code === CANCELLED ? 'cancelled' : 'failed',
      to,
      attempts: decodeMessageRetries(hash[MESSAGE_RETRIES_FIELD]),
      maxAttempts: jobConfig.sendMaxAttempts,
      acceptedAt,
      priority: SEND_PRIORITIES.find((level) => level === hash[RECORD_PRIORITY_FIELD]) ?? 'normal',
      ...(hash[RECORD_SEND_AT_FIELD] === undefined ? {} : { sendAt: hash[RECORD_SEND_AT_FIELD] }),
      ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }),
      error: failure,
    };
  }

  /** What a message's view depends on besides the message: whether the session is READY, and whether its outbox rests for the daily cap. */
  async function sessionContext(): Promise<SessionContext> {
    const [status, dailyCapUntil] = await Promise.all([sessionStatus(), redis.hget(keys.pacing, PACING_FIELDS.dailyCapUntil)]);
    const until = Number(dailyCapUntil);
    return { ready: status.status === 'READY', ...(dailyCapUntil !== null && until > Date.now() ? { dailyCapUntil: until } : {}) };
  }

  /** The message's view (the session's context read now when not given); null when its job is gone. */
  async function getMessage(id: string, session?: SessionContext): Promise<MessageView | null> {
    // State first, then the job: the job's data is then at least as new as the state it is in.
    const jobState = await queues.outbox.getJobState(id);
    const job = await queues.outbox.getJob(id);
    if (job === undefined) return describeWithdrawn(id);
    if (job.name !== 'send') return null;
    return describe(job, jobState, session ?? (await sessionContext()));
  }

  async function listMessages({ status, limit = 50, cursor, order = 'desc' }: ListMessagesOptions = {}): Promise<MessagePage> {
    const wanted = status === undefined || status.length === 0 ? undefined : new Set(status);
    const session = await sessionContext();
    const messages: MessageView[] = [];
    let after = cursor === undefined ? undefined : decodeCursor(cursor);
    // Ids are read from the cursor's score, inclusive, and the ones of that score already listed are
    // skipped (members of one score sort by id, reversed for desc). `offset` steps over a tie longer
    // than a batch.
    const unseen = ({ id, score }: { id: string; score: number }): boolean =>
      after === undefined || score !== after.score || (order === 'asc' ? id > after.id : id < after.id);
    let offset = 0;
    let scanned = 0;
    while (messages.length < limit && scanned < LIST_SCAN_MAX) {
      const from = after === undefined ? (order === 'asc' ? '-inf' : '+inf') : String(after.score);
      const reply = order === 'asc'
        ? await redis.zrangebyscore(keys.messages, from, '+inf', 'WITHSCORES', 'LIMIT', offset, LIST_BATCH)
        : await redis.zrevrangebyscore(keys.messages, from, '-inf', 'WITHSCORES', 'LIMIT', offset, LIST_BATCH);
      const entries: { id: string; score: number }[] = [];
      for (let index = 0; index + 1 < reply.length; index += 2) entries.push({ id: reply[index] ?? '', score: Number(reply[index + 1]) });
      const last = entries.length < LIST_BATCH;
      const fresh = entries.filter(unseen);
      if (fresh.length === 0) {
        if (last) return { messages };
        offset += entries.length;
        continue;
      }
      offset = 0;
      const views = await Promise.all(fresh.map(({ id }) => getMessage(id, session)));
      let stoppedEarly = false;
      for (const [index, entry] of fresh.entries()) {
        scanned += 1;
        after = entry;
        const found = views[index];
        // A message whose job is gone (past retention) is skipped.
        if (found !== null && found !== undefined && (wanted === undefined || wanted.has(found.status))) messages.push(found);
        if (messages.length >= limit) {
          stoppedEarly = index < fresh.length - 1;
          break;
        }
      }
      if (last && !stoppedEarly) return { messages };
    }
    return after === undefined ? { messages } : { messages, nextCursor: encodeCursor(after.score, after.id) };
  }

  let closing: Promise<void> | undefined;
  const producer: Producer = {
    sessionId,
    queues,
    session: (id) => sessionProducer(context, parseSessionId(id)),

    async send(input) {
      if (typeof input !== 'object' || input === null) throw new InvalidPayloadError([{ path: '', message: 'must be an object' }], 'message');
      const { idempotencyKey, ttlSeconds, ...rest } = input;
      const id = idempotencyKey === undefined ? newMessageId() : parseJobId(idempotencyKey);
      const parsed = jobCatalog.send.schema.safeParse(rest);
      if (!parsed.success) throw new InvalidPayloadError(toFieldProblems(parsed.error), 'message');
      const acceptedAt = parsed.data.acceptedAt ?? new Date().toISOString();
      const acceptedMs = Date.parse(acceptedAt) || Date.now();
      const payload = { ...parsed.data, acceptedAt, ...timing(parsed.data, ttlSeconds, acceptedMs, jobConfig.retentionSeconds) };
      const fingerprint = sendFingerprint(payload);
      coalesceWrites();
      // One script checks the session is registered, claims the id (a new message, a repeat, or a
      // repeat with a different message), records its expiry and reads the session state (queued or
      // held). All keys share the session's hash slot.
      const ttl = messageRecordTtlSeconds(jobConfig.retentionSeconds);
      const ownExpiry = payload.expiresAt === undefined ? '' : Date.parse(payload.expiresAt);
      const scheduled = payload.sendAt !== undefined && Date.parse(payload.sendAt) > Date.now();
      const claim = CLAIM_SEND.run(
        redis,
        [keys.message(id), keys.state, keys.lease, keys.registered, keys.messages, keys.settings, keys.expiries, keys.numberCheck(phoneDigitsOf(payload.to) ?? '-')],
        [fingerprint, ttl, acceptedMs, id, payload.to, acceptedAt, ownExpiry, payload.priority ?? 'normal', payload.sendAt ?? ''],
      ).then((reply): SendClaim => {
        const [claimed, stored, state, lease, expiry, final] = reply as [number, string, string | null, string | null, string | null, string | null];
        if (claimed === -1) return { registered: false, claimed: false, stored: '', status: 'held', final: null };
        if (claimed === -2) return { registered: true, unregisteredRecipient: true, claimed: false, stored: '', status: 'failed', final: null };
        const status: MessageStatus = scheduled ? 'scheduled' : reported([state, lease]).status === 'READY' ? 'queued' : 'held';
        const expiresAt = expiry === null || expiry === undefined ? undefined : new Date(Number(expiry)).toISOString();
        return { registered: true, claimed: claimed === 1, stored, status, final: final ?? null, ...(expiresAt === undefined ? {} : { expiresAt }) };
      });
      const add = (): Promise<unknown> => enqueue(queues, jobConfig, 'send', payload, { jobId: id });
      if (idempotencyKey === undefined) {
        // A fresh random id cannot be a repeat: claim and add go out together (one round trip). A
        // session that is not registered has no worker to send it: the job is taken back.
        const [{ status, registered, expiresAt, unregisteredRecipient }] = await Promise.all([claim, add()]);
        if (!registered || unregisteredRecipient === true) {
          await queues.outbox.remove(id);
          throw registered ? new UnregisteredRecipientError() : new SessionNotFoundError(sessionId);
        }
        logger?.debug({ jobId: id, to: payload.to, status }, 'send accepted');
        return { id, status, duplicate: false, ...(expiresAt === undefined ? {} : { expiresAt }) };
      }
      // A caller's key must be claimed before the add: a repeat of a message whose job is already
      // gone from the queue (completed and removed) must not be added, and so sent, again.
      const claimedNow = await claim;
      const { registered, claimed, stored, final } = claimedNow;
      const expiry = claimedNow.expiresAt === undefined ? {} : { expiresAt: claimedNow.expiresAt };
      if (!registered) throw new SessionNotFoundError(sessionId);
      if (claimedNow.unregisteredRecipient === true) throw new UnregisteredRecipientError();
      if (!claimed && stored !== fingerprint) throw new IdempotencyConflictError(id);
      if (!claimed) {
        // A repeat: the message as it stands. One that ended (failed, expired, cancelled) is not added again.
        const existing = await getMessage(id);
        if (existing !== null && (final !== null || (await queues.outbox.getJob(id)) !== undefined)) return { id, status: existing.status, duplicate: true, ...expiry };
      }
      await add();
      logger?.debug({ jobId: id, to: payload.to, status: claimedNow.status }, 'send accepted');
      return { id, status: claimedNow.status, duplicate: !claimed, ...expiry };
    },

    async cancelMessage(id) {
      if (!idempotencyKeySchema.safeParse(id).success) return { outcome: 'unknown', message: null };
      // A message that ended is left as it is (a failed one keeps its error; Bull Board may still retry it).
      const before = await getMessage(id);
      if (before !== null && FINAL_MESSAGE_STATUSES.has(before.status)) return { outcome: before.status === 'sent' ? 'sent' : 'final', message: before };
      const outcome = await withdrawMessage({ redis, keys, id, code: CANCELLED, eventsMaxLen });
      // Withdrawn: the job leaves its queue (an active one is failed by its handler instead).
      if (outcome === 'withdrawn') await removeWithdrawnJob(queues.outbox, id);
      return { outcome, message: await getMessage(id) };
    },

    async uploadMedia({ data, mimetype, filename }) {
      const stored = await new MediaStore(redis, keys).put(data instanceof Uint8Array ? [data] : data, {
        ttlSeconds: context.media.retentionSeconds,
        maxBytes: context.media.maxBytes,
        declaredType: mimetype,
        filename,
      });
      logger?.debug({ mediaId: stored.id, size: stored.size, mimetype: stored.mimetype }, 'media stored');
      return { mediaId: stored.id, mimetype: stored.mimetype, size: stored.size, sha256: stored.sha256, ...(stored.filename === undefined ? {} : { filename: stored.filename }) };
    },

    async checkNumber(number, { timeoutMs = 10_000 } = {}) {
      const digits = phoneDigitsOrThrow(number, 'number', 'is not a phone number (a group or a linked id has no number to check)', 'number');
      const kept = await readNumberCheck(redis, keys, digits);
      if (kept !== null) return { ...kept, cached: true };
      // Only a READY session can ask WhatsApp: without one the check job would wait for nobody.
      const { status } = await sessionStatus();
      if (status !== 'READY') throw new NumberCheckUnavailableError(status);
      const job = await enqueue(queues, jobConfig, 'check', { number: digits, requestedBy: 'api' });
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const answer = await readNumberCheck(redis, keys, digits);
        if (answer !== null) return { ...answer, cached: false };
        if ((await queues.control.getJobState(String(job.id))) === 'failed') {
          const failed = await queues.control.getJob(String(job.id));
          throw new NumberCheckUnavailableError(/the session is (\w+)/.exec(failed?.failedReason ?? '')?.[1] ?? 'not READY');
        }
        if (Date.now() >= deadline) throw new NumberCheckPendingError(timeoutMs);
        await new Promise((resolve) => setTimeout(resolve, NUMBER_CHECK_POLL_MS));
      }
    },

    async connect(requestedBy, link) {
      if (link === undefined) return control('connect', requestedBy);
      const digits = phoneDigitsOrThrow(link.phoneNumber, 'phoneNumber', 'is not a phone number', 'connect');
      const job = await enqueue(queues, jobConfig, 'connect', { method: 'code', phoneNumber: digits, ...(requestedBy === undefined ? {} : { requestedBy }) });
      return { id: String(job.id) };
    },
    logout: (requestedBy) => control('logout', requestedBy),
    restart: (requestedBy) => control('restart', requestedBy),
    getState: sessionStatus,
    getMessage: (id) => getMessage(id),
    listMessages,

    async waitForMessage(id, { timeoutMs = 60_000, signal } = {}) {
      const deadline = Date.now() + timeoutMs;
      const after = await latestEventId(redis, keys.events);
      const reader = await openBlockingConnection(redis, { name: 'waq-producer-wait' });
      const stop = new AbortController();
      const onAbort = (): void => stop.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const settled = async (): Promise<MessageView | undefined> => {
        const found = await getMessage(id);
        if (found === null) throw new Error(`message ${JSON.stringify(id)} is unknown: it was never accepted or is past its retention`);
        return FINAL_MESSAGE_STATUSES.has(found.status) ? found : undefined;
      };
      try {
        const now = await settled();
        if (now !== undefined) return now;
        // Re-read the message on an event about it, and at least once a second in case one was trimmed.
        for await (const batch of tailEvents(reader, keys.events, { after, blockMs: 1_000, signal: stop.signal })) {
          if (batch.length === 0 || batch.some(({ event }) => 'id' in event && event.id === id)) {
            const found = await settled();
            if (found !== undefined) return found;
          }
          if (Date.now() >= deadline) break;
        }
        signal?.throwIfAborted();
        throw new Error(`message ${id} was not sent or failed within ${timeoutMs} ms`);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        reader.disconnect();
      }
    },

    /** Closes this session's queues (the connection is the root producer's). */
    close() {
      closing ??= (async () => {
        context.sessions.delete(sessionId);
        await queues.close();
      })();
      return closing;
    },
  };
  context.sessions.set(sessionId, producer);
  return producer;
}
