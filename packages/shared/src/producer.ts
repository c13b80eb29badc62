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

import { IdempotencyConflictError, InvalidPayloadError, SessionNotFoundError } from './errors.js';
import { latestEventId, openBlockingConnection, tailEvents } from './event-stream.js';
import { jobCatalog, toFieldProblems, type JobInput, type JobName, type JobOptionsConfig } from './jobs.js';
import type { Logger } from './logger.js';
import { decodeMessageFailure, decodeMessageRecord, messageAttempts, messageRecordTtlSeconds, type MessageStatus, type MessageView } from './messages.js';
import { registeredSessionIdSchema } from './session-registry.js';
import { OwnerLiveness } from './owner-liveness.js';
import { createRedis, isCluster, type RedisClient } from './redis.js';
import { RedisScript } from './redis-script.js';
import { createSessionQueues, enqueue, newMessageId, parseJobId, sendFingerprint, type SessionQueues } from './session-queues.js';
import { decodeState, reportState, type ReportedSessionState, type SessionState } from './state.js';

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
  readonly logger?: Logger;
}

export type SendInput = JobInput<'send'> & {
  /** Makes the send happen at most once: the same key returns the same message. Becomes its id. */
  readonly idempotencyKey?: string;
};

export interface Accepted {
  /** Message id (= idempotency key). */
  readonly id: string;
  /** `held` when the session was not READY at acceptance: it goes out once it is. */
  readonly status: MessageStatus;
  /** True when this key had already been accepted: nothing new was enqueued. */
  readonly duplicate: boolean;
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
  connect(requestedBy?: string): Promise<{ id: string }>;
  logout(requestedBy?: string): Promise<{ id: string }>;
  restart(requestedBy?: string): Promise<{ id: string }>;
  getState(): Promise<ReportedSessionState>;
  /** The message's status, or null when the id is unknown (never accepted, or past retention). */
  getMessage(id: string): Promise<MessageView | null>;
  /** The session's messages by acceptance time, with an optional status filter, a page at a time. */
  listMessages(options?: ListMessagesOptions): Promise<MessagePage>;
  /** Resolves when the message is `sent` or `failed`; rejects on timeout or abort. */
  waitForMessage(id: string, options?: WaitOptions): Promise<MessageView>;
  /** Closes the queues (and the connection when the producer opened it). Idempotent. */
  close(): Promise<void>;
}

/**
 * Claims a send's id and reads the session state, atomically, in one command: HSETNX the fingerprint,
 * EXPIRE NX the record, and return `[claimed, stored fingerprint, state, lease]`. A new claim also
 * records the account the session has linked (`me.wid` of the published state, if any) as `account`:
 * the worker will not send the message from a different account (AccountChangedError), and puts the
 * id in the session's message list (trimming what is past the record TTL). A session that is not
 * registered (no marker key) claims nothing: `[-1]`.
 * KEYS[1] message record, KEYS[2] state, KEYS[3] lease, KEYS[4] registered marker, KEYS[5] message
 * list; ARGV[1] fingerprint, ARGV[2] record TTL (s), ARGV[3] acceptance time (ms), ARGV[4] message id.
 */
const CLAIM_SEND = new RedisScript(`
if redis.call('EXISTS', KEYS[4]) == 0 then return { -1 } end
local claimed = redis.call('HSETNX', KEYS[1], 'fingerprint', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
local stored = ARGV[1]
local state = redis.call('GET', KEYS[2])
if claimed == 0 then
  stored = redis.call('HGET', KEYS[1], 'fingerprint')
elseif state then
  local ok, decoded = pcall(cjson.decode, state)
  if ok and type(decoded) == 'table' and type(decoded.me) == 'table' and type(decoded.me.wid) == 'string' then
    redis.call('HSET', KEYS[1], 'account', decoded.me.wid)
  end
end
if claimed == 1 then
  local at = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[5], at, ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. (at - tonumber(ARGV[2]) * 1000))
  redis.call('EXPIRE', KEYS[5], ARGV[2])
end
return { claimed, stored, state, redis.call('GET', KEYS[3]) }`);

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

/** Ids read from the message list per round trip while filling a page. */
const LIST_BATCH = 100;
/** Most ids looked at for one page: a page filtered by status ends early rather than reading the whole list. */
const LIST_SCAN_MAX = 1_000;

function sessionProducer(context: ProducerContext, sessionId: string): Producer {
  const existing = context.sessions.get(sessionId);
  if (existing !== undefined) return existing;
  const { redis, prefix, jobConfig, liveness, coalesceWrites, logger } = context;
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

  async function control(name: Exclude<JobName, 'send'>, requestedBy?: string): Promise<{ id: string }> {
    const input: JobInput<typeof name> = requestedBy === undefined ? {} : { requestedBy };
    const job = await enqueue(queues, jobConfig, name, input);
    return { id: String(job.id) };
  }

  async function describe(job: Job, state: string, sessionReady: boolean): Promise<MessageView> {
    const id = String(job.id);
    const hash = await redis.hgetall(keys.message(id));
    const record = decodeMessageRecord(hash);
    const data = job.data as { to?: unknown; acceptedAt?: unknown };
    // The record turns `sent` a moment before BullMQ completes the job: report what WhatsApp did.
    const status: MessageStatus =
      state === 'completed' || (record?.phase === 'sent' && state !== 'failed') ? 'sent'
      : state === 'failed' ? 'failed'
      : state === 'active' ? 'sending'
      : state === 'delayed' ? 'delayed'
      : sessionReady ? 'queued'
      : 'held';
    return {
      id,
      status,
      to: typeof data.to === 'string' ? data.to : '',
      attempts: messageAttempts(job.attemptsMade, hash),
      maxAttempts: job.opts.attempts ?? 1,
      acceptedAt: typeof data.acceptedAt === 'string' ? data.acceptedAt : new Date(job.timestamp).toISOString(),
      ...(record?.waMessageId === undefined ? {} : { waMessageId: record.waMessageId }),
      ...(record?.sentAt === undefined ? {} : { sentAt: record.sentAt }),
      ...(record?.ack === undefined ? {} : { ack: record.ack }),
      ...(status === 'failed' ? { error: decodeMessageFailure(hash) ?? { code: 'send_failed', message: job.failedReason ?? 'failed' } } : {}),
    };
  }

  /** The message's view (`sessionReady` read now when not given); null when its job is gone. */
  async function getMessage(id: string, sessionReady?: boolean): Promise<MessageView | null> {
    // State first, then the job: the job's data is then at least as new as the state it is in.
    const jobState = await queues.outbox.getJobState(id);
    const job = await queues.outbox.getJob(id);
    if (job === undefined || job.name !== 'send') return null;
    return describe(job, jobState, sessionReady ?? (await sessionStatus()).status === 'READY');
  }

  async function listMessages({ status, limit = 50, cursor, order = 'desc' }: ListMessagesOptions = {}): Promise<MessagePage> {
    const wanted = status === undefined || status.length === 0 ? undefined : new Set(status);
    const ready = (await sessionStatus()).status === 'READY';
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
      const views = await Promise.all(fresh.map(({ id }) => getMessage(id, ready)));
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
      const { idempotencyKey, ...rest } = input;
      const id = idempotencyKey === undefined ? newMessageId() : parseJobId(idempotencyKey);
      const parsed = jobCatalog.send.schema.safeParse(rest);
      if (!parsed.success) throw new InvalidPayloadError(toFieldProblems(parsed.error), 'message');
      const payload = { ...parsed.data, acceptedAt: parsed.data.acceptedAt ?? new Date().toISOString() };
      const fingerprint = sendFingerprint(payload);
      coalesceWrites();
      // One script checks the session is registered, claims the id (a new message, a repeat, or a
      // repeat with a different message) and reads the session state (queued or held). All keys
      // share the session's hash slot.
      const ttl = messageRecordTtlSeconds(jobConfig.retentionSeconds);
      const claim = CLAIM_SEND.run(redis, [keys.message(id), keys.state, keys.lease, keys.registered, keys.messages], [fingerprint, ttl, Date.parse(payload.acceptedAt) || Date.now(), id]).then((reply) => {
        const [claimed, stored, state, lease] = reply as [number, string, string | null, string | null];
        if (claimed === -1) return { registered: false, claimed: false, stored: '', status: 'held' as MessageStatus };
        const status: MessageStatus = reported([state, lease]).status === 'READY' ? 'queued' : 'held';
        return { registered: true, claimed: claimed === 1, stored, status };
      });
      const add = (): Promise<unknown> => enqueue(queues, jobConfig, 'send', payload, { jobId: id });
      if (idempotencyKey === undefined) {
        // A fresh random id cannot be a repeat: claim and add go out together (one round trip). A
        // session that is not registered has no worker to send it: the job is taken back.
        const [{ status, registered }] = await Promise.all([claim, add()]);
        if (!registered) {
          await queues.outbox.remove(id);
          throw new SessionNotFoundError(sessionId);
        }
        logger?.debug({ jobId: id, to: payload.to, held: status === 'held' }, 'send accepted');
        return { id, status, duplicate: false };
      }
      // A caller's key must be claimed before the add: a repeat of a message whose job is already
      // gone from the queue (completed and removed) must not be added, and so sent, again.
      const { registered, claimed, stored, status } = await claim;
      if (!registered) throw new SessionNotFoundError(sessionId);
      if (!claimed && stored !== fingerprint) throw new IdempotencyConflictError(id);
      if (!claimed && (await queues.outbox.getJob(id)) !== undefined) return { id, status, duplicate: true };
      await add();
      logger?.debug({ jobId: id, to: payload.to, held: status === 'held' }, 'send accepted');
      return { id, status, duplicate: !claimed };
    },

    connect: (requestedBy) => control('connect', requestedBy),
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
        return found.status === 'sent' || found.status === 'failed' ? found : undefined;
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
