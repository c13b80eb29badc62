/**
 * The session owner: stands by until this worker holds the session lease, then runs the session
 * (controller, consumers, handlers) until the lease is lost or the worker shuts down. A lost lease
 * stops everything at once and the worker goes back to standby; shutdown stops gracefully (active job
 * finished, client destroyed so the profile is flushed, lease released so a standby takes over now).
 */
import type { Job } from 'bullmq';

import {
  decodeMessageRetries,
  MESSAGE_RETRIES_FIELD,
  messageFailureFields,
  messageRecordTtlSeconds,
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
import type { SessionMetrics } from './metrics.js';
import { Pacer } from './pacer.js';
import { ProfileBackup } from './profile-backup.js';
import { SessionProfile, type ProfileFs } from './profile.js';
import { createSendHandler } from './send-handler.js';
import { SessionController } from './session.js';
import { StatePublisher } from './state-publisher.js';
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
  | 'MESSAGE_RETENTION_S'
  | 'EVENTS_MAX_LEN'
  | 'JOB_LOCK_MS'
  | 'SESSION_STORE'
  | 'SESSION_BACKUP_DELAY_MS'
  | 'SESSION_BACKUP_INTERVAL_MS'
  | 'SESSION_BACKUP_WARN_BYTES'
  | 'WAQ_PREFIX'
  | 'WEBHOOK_TIMEOUT_MS'
  | 'WEBHOOK_RETRY_PERIOD_MS'
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
  /** The session's pacing, read at every send (a pool reads it from the session's settings). @defaultValue SEND_INTERVAL_MS, SEND_JITTER_MS */
  readonly pacing?: () => { readonly intervalMs: number; readonly jitterMs: number };
  /**
   * `standby` (default): wait for the lease, own the session, stand by again whenever it is lost — a
   * worker dedicated to one session. `once`: try the lease once; own the session if it is free (or
   * its holder is dead), and end when it is lost — a worker pool's claim, which must not sit on a
   * session another worker owns.
   */
  readonly claim?: 'standby' | 'once';
}

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
    const lease = new SessionLease({
      redis,
      key: keys.lease,
      workerId,
      sessionId: config.SESSION_ID,
      ttlMs: config.LEASE_TTL_MS,
      logger,
      onRenewed: (at) => void publisher.heartbeat(at).catch((error: unknown) => logger.warn({ err: error }, 'could not write the heartbeat')),
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

    const send = createSendHandler({
      redis,
      keys,
      lease,
      publisher,
      pacer: new Pacer(this.pacerSettings()),
      readyClient: () => (session.status === 'READY' ? session.client : undefined),
      sessionLostWithin: (ms) => session.leavesReadyWithin(ms),
      retentionSeconds: config.MESSAGE_RETENTION_S,
    });
    const handlers: JobHandlers<JobContext> = {
      connect: async () => {
        await session.connect();
        return { status: (await session.waitForQrOrReady(config.QR_WAIT_MS)).status };
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
      send: async (payload, context) => {
        const started = performance.now();
        try {
          const result = await send(payload, context);
          metrics?.observeSend((performance.now() - started) / 1_000);
          metrics?.recordSend(result.recovered ? 'recovered' : 'sent');
          return result;
        } catch (error) {
          const retry = retryClassOf(error);
          metrics?.recordSend(retry === 'held' ? 'held' : retry === 'unrecoverable' ? 'failed' : 'retried');
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
      const outcome = await new Promise<'lost' | 'stopped'>((resolve) => {
        if (lost.signal.aborted) return resolve('lost');
        if (signal.aborted) return resolve('stopped');
        lost.signal.addEventListener('abort', () => resolve('lost'), { once: true });
        signal.addEventListener('abort', () => resolve('stopped'), { once: true });
      });
      if (outcome === 'lost') {
        // Another worker may own the session already: stop at once, publish nothing, write nothing.
        await Promise.all([consumers.close(true), session.abandon(), backup?.stop(), webhooks.stop()]);
      } else {
        logger.info('stopping: finishing the active job, then closing WhatsApp');
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
      await webhooks.stop();
      this.current = undefined;
      metrics?.setLeaseHeld(false);
    }
  }

  /** The pacer's settings: fixed from the config, or read live through `pacing`. */
  private pacerSettings(): { readonly intervalMs: number; readonly jitterMs: number } {
    const { pacing, config } = this.options;
    if (pacing === undefined) return { intervalMs: config.SEND_INTERVAL_MS, jitterMs: config.SEND_JITTER_MS };
    return {
      get intervalMs() {
        return pacing().intervalMs;
      },
      get jitterMs() {
        return pacing().jitterMs;
      },
    };
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
    const { redis, queues, logger } = this.options;
    const acks = new AckRecorder(redis, queues.keys, publisher, logger);
    driver.on('ack', (waMessageId, ack) => acks.record(waMessageId, ack));
    driver.on('incoming', (message) => {
      logger.info({ from: message.from, waMessageId: message.waMessageId }, 'message received');
      void publisher
        .append([{ type: 'message.incoming', at: new Date().toISOString(), ...message }])
        .catch((error: unknown) => logger.warn({ err: error }, 'could not record an incoming message'));
    });
  }

  /** A send that failed for good: its failure goes into the message record and a `message.failed` event, in one MULTI. */
  private async reportFailure(job: Job, failure: Failure, publisher: StatePublisher): Promise<void> {
    const { queues, config } = this.options;
    // Only the outbox's jobs have message records (a raw `send` pushed onto the control queue has none).
    if (job.queueName !== queues.outbox.name || job.id === undefined) return;
    const id = String(job.id);
    const recordKey = queues.keys.message(id);
    await publisher.append([{ type: 'message.failed', at: new Date().toISOString(), id, code: failure.code, reason: failure.message }], (multi) => {
      multi.hset(recordKey, messageFailureFields(failure)).expire(recordKey, messageRecordTtlSeconds(config.MESSAGE_RETENTION_S));
    });
  }
}
