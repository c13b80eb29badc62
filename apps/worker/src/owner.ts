/**
 * The session owner: stands by until this worker holds the session lease, then runs the session
 * (controller, consumers, handlers) until the lease is lost or the worker shuts down. A lost lease
 * stops everything at once and the worker goes back to standby; shutdown stops gracefully (active job
 * finished, client destroyed so the profile is flushed, lease released so a standby takes over now).
 */
import type { Job } from 'bullmq';

import {
  decodeMessageRetries,
  isWithdrawalCode,
  MediaStore,
  MessageWithdrawnError,
  NumberCheckUnavailableError,
  MESSAGE_RETRIES_FIELD,
  messageFailureFields,
  messageRecordTtlSeconds,
  pacingPolicy,
  type PacingPolicy,
  WAITING_JOB_STATES,
  retryClassOf,
  SessionStore,
  type Config,
  type Failure,
  type JobHandlers,
  type Logger,
  type RedisClient,
  type SessionQueues,
  WAQ_VERSION,
  WebhookRegistry,
} from '@waq/shared';

import { cleanProfile } from './chromium-hygiene.js';
import { createConsumers, type JobContext } from './consumers.js';
import type { DriverFactory, WhatsAppDriver } from './driver/driver.js';
import { abortableDelay, SessionLease } from './lease.js';
import { AckRecorder } from './ack-recorder.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import type { SessionMetrics } from './metrics.js';
import { NumberLookup } from './number-lookup.js';
import { Pacer } from './pacer.js';
import { SendBudget } from './send-budget.js';
import { WarmupTracker } from './warmup.js';
import { ProfileBackup } from './profile-backup.js';
import { SessionProfile, type ProfileFs } from './profile.js';
import { createSendHandler } from './send-handler.js';
import { SessionController } from './session.js';
import { StatePublisher } from './state-publisher.js';
import { IncomingRecorder } from './incoming-recorder.js';
import { WebhookDeliveries } from './webhook-deliveries.js';

export type OwnerConfig = Pick<
  Config,
  | 'SESSION_ID'
  | 'SESSION_DIR'
  | 'LEASE_TTL_MS'
  | 'QR_WAIT_MS'
  | 'QR_MAX_RETRIES'
  | 'RECONNECT_BASE_MS'
  | 'RECONNECT_MAX_MS'
  | 'SEND_INTERVAL_MS'
  | 'SEND_JITTER_MS'
  | 'SEND_DAILY_CAP'
  | 'SEND_NEW_CHATS_PER_DAY'
  | 'SEND_WARMUP_AFTER_S'
  | 'SEND_WARMUP_MESSAGES'
  | 'SEND_WARMUP_INTERVAL_MS'
  | 'SEND_TYPING'
  | 'NUMBER_CHECK_TTL_S'
  | 'NUMBER_CHECK_NEGATIVE_TTL_S'
  | 'MESSAGE_RETENTION_S'
  | 'MEDIA_RETENTION_S'
  | 'MEDIA_MAX_BYTES'
  | 'MEDIA_VIDEO_FALLBACK'
  | 'EVENTS_MAX_LEN'
  | 'JOB_LOCK_MS'
  | 'SESSION_STORE'
  | 'SESSION_BACKUP_DELAY_MS'
  | 'SESSION_BACKUP_INTERVAL_MS'
  | 'SESSION_BACKUP_WARN_BYTES'
  | 'WAQ_PREFIX'
  | 'WEBHOOK_TIMEOUT_MS'
  | 'WEBHOOK_RETRY_PERIOD_MS'
  | 'WEBHOOK_MAX_BODY_BYTES'
  | 'WEBHOOK_ALLOW_PRIVATE'
  | 'WEBHOOK_URL'
  | 'WEBHOOK_EVENTS'
  | 'WEBHOOK_SECRET'
>;

export interface OwnerOptions {
  readonly config: OwnerConfig;
  readonly workerId: string;
  /** waq's own reads and writes (records, events, state). Not the queues' connection: see `SessionQueues.connection`. */
  readonly redis: RedisClient;
  readonly queues: SessionQueues;
  readonly createDriver: DriverFactory;
  readonly logger: Logger;
  readonly metrics?: SessionMetrics;
  /** Watchdog timings (tests shorten them). */
  readonly watchdog?: { readonly intervalMs: number; readonly timeoutMs: number; readonly authenticatedTimeoutMs?: number };
  readonly profileFs?: ProfileFs;
  /** Called with every new QR value. */
  readonly onQrCode?: (value: string) => void;
  /** The session's sending policy, read at every send (a pool reads it from the session's settings). @defaultValue the SEND_* configuration */
  readonly pacing?: () => PacingPolicy;
  /**
   * `standby` (default): wait for the lease, own the session, stand by again whenever it is lost — a
   * worker dedicated to one session. `once`: try the lease once; own the session if it is free (or
   * its holder is dead), and end when it is lost — a worker pool's claim, which must not sit on a
   * session another worker owns.
   */
  readonly claim?: 'standby' | 'once';
}

/** Job states of a send still waiting to go (not gone, not ended). */
const STILL_WAITING: ReadonlySet<string> = new Set(WAITING_JOB_STATES);

/** How a run ended: the signal stopped it, the lease was lost, or (`claim: 'once'`) another worker holds the session. */
export type OwnerOutcome = 'stopped' | 'lost' | 'unclaimed';

export interface Ownership {
  readonly session: SessionController;
  readonly lease: SessionLease;
}

export class SessionOwner {
  private current: Ownership | undefined;
  private readonly ownedListeners: ((ownership: Ownership) => void)[] = [];

  constructor(private readonly options: OwnerOptions) {}

  /** The running ownership, while this worker owns the session. */
  get ownership(): Ownership | undefined {
    return this.current;
  }

  onOwned(listener: (ownership: Ownership) => void): void {
    this.ownedListeners.push(listener);
  }

  /**
   * Runs until `signal` aborts: standby, own, and back to standby whenever the lease is lost. With
   * `claim: 'once'`, one claim: it ends when the session is lost, or at once when another worker has it.
   */
  async run(signal: AbortSignal): Promise<OwnerOutcome> {
    let outcome: OwnerOutcome = 'stopped';
    while (!signal.aborted) {
      outcome = await this.ownOnce(signal);
      if (this.options.claim === 'once') return outcome;
      if (outcome === 'lost') this.options.logger.warn('back to standby after losing the session lease');
    }
    return outcome;
  }

  private async ownOnce(signal: AbortSignal): Promise<OwnerOutcome> {
    const { config, workerId, redis, queues, createDriver, logger, metrics } = this.options;
    const { keys } = queues;
    const publisher = new StatePublisher(redis, keys, workerId, config.EVENTS_MAX_LEN, logger, config.SESSION_ID);
    // Made once the session exists (below); the lease renews before that too.
    let warmup: WarmupTracker | undefined;
    const lease = new SessionLease({
      redis,
      key: keys.lease,
      workerId,
      sessionId: config.SESSION_ID,
      ttlMs: config.LEASE_TTL_MS,
      logger,
      onRenewed: (at) => {
        void publisher.heartbeat(at).catch((error: unknown) => logger.warn({ err: error }, 'could not write the heartbeat'));
        warmup?.onRenewed(publisher.status);
      },
    });
    if (this.options.claim === 'once') {
      if (!(await lease.claimOnce())) return 'unclaimed';
    } else if (!(await lease.acquire(signal))) {
      return 'stopped';
    }
    metrics?.setLeaseHeld(true);
    logger.info({ workerId, sessionId: config.SESSION_ID }, 'this worker now owns the session');

    const lost = new AbortController();
    lease.onLost(() => lost.abort());
    const profile = new SessionProfile(config.SESSION_DIR, config.SESSION_ID, logger, this.options.profileFs);
    const backup =
      config.SESSION_STORE === 'redis'
        ? new ProfileBackup({
            store: new SessionStore(redis, keys, config.SESSION_ID),
            profile,
            workerId,
            logger,
            intervalMs: config.SESSION_BACKUP_INTERVAL_MS,
            firstDelayMs: config.SESSION_BACKUP_DELAY_MS,
            warnBytes: config.SESSION_BACKUP_WARN_BYTES,
            ...(metrics === undefined ? {} : { metrics }),
          })
        : undefined;
    const webhooks = new WebhookDeliveries({
      redis,
      prefix: config.WAQ_PREFIX,
      sessionId: config.SESSION_ID,
      keys,
      registry: new WebhookRegistry(redis, config.WAQ_PREFIX),
      logger: logger.child({ component: 'webhooks' }),
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      retryPeriodMs: config.WEBHOOK_RETRY_PERIOD_MS,
      maxBodyBytes: config.WEBHOOK_MAX_BODY_BYTES,
      allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
      userAgent: `waq/${WAQ_VERSION}`,
      lockMs: config.JOB_LOCK_MS,
      eventsMaxLen: config.EVENTS_MAX_LEN,
      ...(metrics === undefined ? {} : { metrics }),
      ...(config.WEBHOOK_URL === undefined || config.WEBHOOK_SECRET === undefined ? {} : { configured: { url: config.WEBHOOK_URL, events: config.WEBHOOK_EVENTS, secret: config.WEBHOOK_SECRET } }),
    });
    const session = new SessionController({
      createDriver,
      publisher,
      profile,
      prepareProfile: async () => {
        await lease.assertHeld();
        await cleanProfile(profile.dir, logger);
      },
      outbox: {
        pause: () => queues.outbox.pause(),
        resume: async () => {
          await this.awaitOrphanedSends();
          // The first send after an absence goes at the warm-up rate: the pacer learns of it first.
          await warmup?.whenStarted();
          await queues.outbox.resume();
        },
      },
      logger,
      qrMaxRetries: config.QR_MAX_RETRIES,
      reconnectBaseMs: config.RECONNECT_BASE_MS,
      reconnectMaxMs: config.RECONNECT_MAX_MS,
      ...(this.options.watchdog === undefined
        ? {}
        : {
            watchdogIntervalMs: this.options.watchdog.intervalMs,
            watchdogTimeoutMs: this.options.watchdog.timeoutMs,
            ...(this.options.watchdog.authenticatedTimeoutMs === undefined ? {} : { authenticatedTimeoutMs: this.options.watchdog.authenticatedTimeoutMs }),
          }),
      onDriver: (driver) => this.wireMessageEvents(driver, publisher),
      onReconnect: () => metrics?.reconnect(),
      ...(this.options.onQrCode === undefined ? {} : { onQrCode: this.options.onQrCode }),
    });
    session.on('status', (state) => metrics?.setStatus(state.status));
    if (backup !== undefined) {
      session.on('status', (state) => {
        if (state.status === 'READY') backup.onReady();
        else backup.onNotReady();
        // Logged out (by the API, the phone, or WhatsApp rejecting the profile): its backups go with it.
        if (state.status === 'LOGGED_OUT') {
          void lease
            .assertHeld()
            .then(() => backup.clear())
            .catch((error: unknown) => logger.warn({ err: error }, 'could not delete the backups of the logged-out session'));
        }
      });
    }

    const policy = this.options.pacing ?? ((): PacingPolicy => pacingPolicy({}, config));
    const pacer = new Pacer({ policy });
    const budget = new SendBudget({
      redis,
      keys,
      policy,
      hasChat: async (wid) => (session.client === undefined ? false : session.client.hasChat(wid)),
      stillWaiting: async (jobId) => STILL_WAITING.has(await queues.outbox.getJobState(jobId)),
    });
    warmup = new WarmupTracker({ redis, keys, pacer, policy, logger });
    const tracker = warmup;
    session.on('status', (state) => tracker.onStatus(state.status));
    const numbers = new NumberLookup({ redis, keys, ttls: { positiveSeconds: config.NUMBER_CHECK_TTL_S, negativeSeconds: config.NUMBER_CHECK_NEGATIVE_TTL_S } });
    const send = createSendHandler({
      numbers,
      redis,
      keys,
      lease,
      publisher,
      pacer,
      budget,
      policy,
      readyClient: () => (session.status === 'READY' ? session.client : undefined),
      sessionLostWithin: (ms) => session.leavesReadyWithin(ms),
      retentionSeconds: config.MESSAGE_RETENTION_S,
      videoFallback: config.MEDIA_VIDEO_FALLBACK,
      eventsMaxLen: config.EVENTS_MAX_LEN,
    });
    const expiries = new ExpirySweeper({ redis, keys, outbox: queues.outbox, logger, eventsMaxLen: config.EVENTS_MAX_LEN, ...(metrics === undefined ? {} : { onExpired: () => metrics.recordSend('expired') }) });
    const handlers: JobHandlers<JobContext> = {
      connect: async ({ method, phoneNumber }) => {
        const link = method === 'code' && phoneNumber !== undefined ? ({ method, phoneNumber } as const) : undefined;
        await session.connect(link);
        return { status: (await session.waitForQrOrReady(config.QR_WAIT_MS, link !== undefined)).status };
      },
      logout: async () => {
        await lease.assertHeld();
        await session.logout();
        return { status: session.status };
      },
      restart: async () => {
        await lease.assertHeld();
        await session.restart();
        return { status: session.status };
      },
      check: async ({ number }) => {
        const client = session.status === 'READY' ? session.client : undefined;
        if (client === undefined) throw new NumberCheckUnavailableError(session.status);
        return numbers.check(client, number);
      },
      send: async (payload, context) => {
        const started = performance.now();
        try {
          const result = await send(payload, context);
          metrics?.observeSend((performance.now() - started) / 1_000);
          metrics?.recordSend(result.recovered ? 'recovered' : 'sent');
          return result;
        } catch (error) {
          const retry = retryClassOf(error);
          metrics?.recordSend(error instanceof MessageWithdrawnError ? error.code : retry === 'held' ? 'held' : retry === 'unrecoverable' ? 'failed' : 'retried');
          throw error;
        }
      },
    };
    const consumers = createConsumers({
      connection: queues.connection,
      keys,
      handlers,
      logger,
      lockMs: config.JOB_LOCK_MS,
      leaseLost: () => lease.isLost,
      onFailed: (job, failure) => this.reportFailure(job, failure, publisher),
      retriesInPlace: {
        count: async (job) => decodeMessageRetries(await redis.hget(keys.message(String(job.id)), MESSAGE_RETRIES_FIELD)),
        add: async (job) => {
          const recordKey = keys.message(String(job.id));
          await redis.multi().hincrby(recordKey, MESSAGE_RETRIES_FIELD, 1).expire(recordKey, messageRecordTtlSeconds(config.MESSAGE_RETENTION_S)).exec();
        },
      },
    });

    this.current = { session, lease };
    for (const listener of this.ownedListeners) listener(this.current);
    try {
      if (backup !== undefined) {
        await lease.assertHeld();
        await backup.restore();
      }
      await session.start();
      consumers.start();
      webhooks.start();
      expiries.start();
      const outcome = await new Promise<'lost' | 'stopped'>((resolve) => {
        if (lost.signal.aborted) return resolve('lost');
        if (signal.aborted) return resolve('stopped');
        lost.signal.addEventListener('abort', () => resolve('lost'), { once: true });
        signal.addEventListener('abort', () => resolve('stopped'), { once: true });
      });
      if (outcome === 'lost') {
        // Another worker may own the session already: stop at once, publish nothing, write nothing.
        await Promise.all([consumers.close(true), session.abandon(), backup?.stop(), webhooks.stop(), expiries.stop()]);
      } else {
        logger.info('stopping: finishing the active job, then closing WhatsApp');
        await expiries.stop();
        await consumers.close(false);
        const wasReady = session.status === 'READY';
        await session.stop('the worker is shutting down');
        // Chromium has closed and flushed the profile: the most complete backup there is, before another worker may take over.
        if (backup !== undefined && wasReady) await backup.backup('shutdown');
        await backup?.stop();
        await webhooks.stop();
        await lease.release();
      }
      return outcome;
    } finally {
      await Promise.all([webhooks.stop(), expiries.stop()]);
      this.current = undefined;
      metrics?.setLeaseHeld(false);
    }
  }

  /**
   * Sends left active by a worker that died (kill -9) keep their lock until it expires; BullMQ's stalled
   * check then puts them back at the head of the queue. Resuming before that would let the messages
   * behind them go first, so the outbox stays paused (bounded by two lock periods) until none is left.
   */
  private async awaitOrphanedSends(): Promise<void> {
    const { queues, config, logger } = this.options;
    const deadline = Date.now() + 2 * config.JOB_LOCK_MS + 5_000;
    let announced = false;
    while ((await queues.outbox.getActiveCount()) > 0 && Date.now() < deadline) {
      if (!announced) {
        logger.info({ upToMs: deadline - Date.now() }, 'a send interrupted by a crash is waiting for its lock to expire; holding the outbox so order is kept');
        announced = true;
      }
      await abortableDelay(200);
    }
  }

  private wireMessageEvents(driver: WhatsAppDriver, publisher: StatePublisher): void {
    const { redis, queues, logger, config } = this.options;
    const acks = new AckRecorder(redis, queues.keys, publisher, logger);
    const incoming = new IncomingRecorder({
      publisher,
      store: new MediaStore(redis, queues.keys),
      sessionId: config.SESSION_ID,
      retentionSeconds: config.MEDIA_RETENTION_S,
      maxBytes: config.MEDIA_MAX_BYTES,
      logger: logger.child({ component: 'incoming' }),
    });
    driver.on('ack', (waMessageId, ack) => acks.record(waMessageId, ack));
    driver.on('incoming', (message) => {
      logger.info({ from: message.from, waMessageId: message.waMessageId, ...(message.media === undefined ? {} : { mediaType: message.media.type }) }, 'message received');
      incoming.record(message);
    });
  }

  /** A send that failed for good: its failure goes into the message record and a `message.failed` event, in one MULTI. */
  private async reportFailure(job: Job, failure: Failure, publisher: StatePublisher): Promise<void> {
    const { queues, config, redis } = this.options;
    // Only the outbox's jobs have message records (a raw `send` pushed onto the control queue has none).
    // A withdrawn message (expired, cancelled) was reported by its withdrawal — also when the send failed
    // for another reason after it was withdrawn (e.g. its number turned out to have no account).
    if (job.queueName !== queues.outbox.name || job.id === undefined || isWithdrawalCode(failure.code)) return;
    const id = String(job.id);
    const recordKey = queues.keys.message(id);
    if (isWithdrawalCode((await redis.hget(recordKey, 'errorCode')) ?? undefined)) return;
    await publisher.append([{ type: 'message.failed', at: new Date().toISOString(), id, code: failure.code, reason: failure.message }], (multi) => {
      multi.hset(recordKey, messageFailureFields(failure)).expire(recordKey, messageRecordTtlSeconds(config.MESSAGE_RETENTION_S));
      multi.zrem(queues.keys.expiries, id);
    });
  }
}
