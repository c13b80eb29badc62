/**
 * Worker metrics (prom-client), served on the health port at /metrics.
 *
 * Naming, the same as the API's (apps/api/src/metrics.ts, which says why): waq's own metrics `waq_*`,
 * prom-client's default process and runtime metrics unprefixed (`process_*`, `nodejs_*`, as Node.js
 * dashboards expect); Prometheus's `job` label tells the worker from the API. `promtool check metrics`
 * must stay clean (health-server.redis.test.ts).
 */
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { SESSION_STATUSES, type SessionStatus } from '@waq/shared';

import type { BackupMetrics } from './profile-backup.js';
import { WEBHOOK_OUTCOMES, type WebhookMetrics } from './webhook-deliveries.js';

/**
 * prom-client 15.1.3's default metrics include three gauges named like counters (`*_total`, which
 * Prometheus reserves for counters: promtool warns). Their siblings by `type` stay, so the totals are
 * `sum(nodejs_active_handles)`, `sum(nodejs_active_requests)` and `sum(nodejs_active_resources)`.
 */
const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** `expired`: withdrawn at its expiry (by the sweeper, or by the handler); `cancelled`: found cancelled by the handler. */
const SEND_OUTCOMES = ['sent', 'recovered', 'failed', 'held', 'retried', 'expired', 'cancelled'] as const;
export type SendOutcome = (typeof SEND_OUTCOMES)[number];

/** What one session's owner reports (its `session` label is bound). */
export interface SessionMetrics extends BackupMetrics, WebhookMetrics {
  setStatus(current: SessionStatus): void;
  setLeaseHeld(held: boolean): void;
  reconnect(): void;
  recordSend(outcome: SendOutcome): void;
  observeSend(seconds: number): void;
}

/** The pool's own figures (`waq_worker_sessions`). */
export interface PoolFigures {
  readonly capacity: number;
  readonly owned: number;
  readonly starting: number;
}

/**
 * One registry per worker process. Every session metric carries a `session` label (bounded by the
 * sessions this worker owns: a session's series are removed when it leaves, `forget`).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly status = new Gauge({ name: 'waq_session_status', help: '1 for the session status this worker last published, by session', labelNames: ['session', 'status'], registers: [this.registry] });
  private readonly leaseHeld = new Gauge({ name: 'waq_lease_held', help: '1 while this worker owns the session', labelNames: ['session'], registers: [this.registry] });
  private readonly reconnects = new Counter({ name: 'waq_reconnects_total', help: 'Reconnect attempts of the WhatsApp client, by session', labelNames: ['session'], registers: [this.registry] });
  private readonly sends = new Counter({ name: 'waq_sends_total', help: 'Send attempts by session and outcome', labelNames: ['session', 'outcome'], registers: [this.registry] });
  private readonly webhookDeliveries = new Counter({
    name: 'waq_webhook_deliveries_total',
    help: 'Webhook delivery attempts by session and outcome (delivered, retry, dead: given up and kept as a dead letter)',
    labelNames: ['session', 'outcome'],
    registers: [this.registry],
  });
  private readonly webhookSeconds = new Histogram({
    name: 'waq_webhook_delivery_duration_seconds',
    help: 'Time of one webhook delivery attempt, request to answer, by session',
    labelNames: ['session'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly sendSeconds = new Histogram({
    name: 'waq_send_duration_seconds',
    help: 'Time from taking a send job to WhatsApp accepting it (pacing excluded), by session',
    labelNames: ['session'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly backupBytes = new Gauge({ name: 'waq_session_backup_bytes', help: 'Size of the last good backup of the session in the session store (compressed), by session', labelNames: ['session'], registers: [this.registry] });
  private readonly backupSeconds = new Histogram({
    name: 'waq_session_backup_duration_seconds',
    help: 'Time to back a session profile up into the session store (copy, compress, write), by session',
    labelNames: ['session'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly restoreSeconds = new Histogram({
    name: 'waq_session_restore_duration_seconds',
    help: 'Time to restore a session profile from the session store, by session',
    labelNames: ['session'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly backupFailures = new Counter({ name: 'waq_session_backup_failures_total', help: 'Backups of the session that were not stored (refused or failed), by session', labelNames: ['session'], registers: [this.registry] });
  private readonly lastBackup = new Map<string, number>();
  private readonly queues = new Map<string, { control: Queue; outbox: Queue }>();
  private pool: () => PoolFigures | undefined = () => undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
    const queues = this.queues;
    new Gauge({
      name: 'waq_queue_jobs',
      help: 'Jobs in the queues of the sessions this worker owns, by session, queue and state',
      labelNames: ['session', 'queue', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        await Promise.all(
          [...queues].map(async ([session, owned]) => {
            // Named explicitly: the object passed in may carry more than the two queues (SessionQueues does).
            for (const [name, queue] of [['control', owned.control], ['outbox', owned.outbox]] as const) {
              const counts = await queue.getJobCounts('waiting', 'paused', 'active', 'delayed', 'completed', 'failed', 'prioritized');
              for (const [state, count] of Object.entries(counts)) this.set({ session, queue: name, state }, count);
            }
          }),
        );
      },
    });
    const lastBackup = this.lastBackup;
    new Gauge({
      name: 'waq_session_backup_age_seconds',
      help: 'Seconds since the last good backup of the session this worker stored or restored, by session',
      labelNames: ['session'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [session, at] of lastBackup) this.set({ session }, (Date.now() - at) / 1_000);
      },
    });
    const pool = (): PoolFigures | undefined => this.pool();
    new Gauge({
      name: 'waq_worker_sessions',
      help: 'Sessions of this worker: capacity (WORKER_MAX_SESSIONS), owned, and starting',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        const figures = pool();
        this.reset();
        if (figures !== undefined) for (const kind of ['capacity', 'owned', 'starting'] as const) this.set({ kind }, figures[kind]);
      },
    });
  }

  /** Reports `figures()` as `waq_worker_sessions` at every scrape. */
  watchPool(figures: () => PoolFigures): void {
    this.pool = figures;
  }

  /** The metrics of one session, whose queue depths are read at every scrape until `forget`. */
  session(session: string, queues: { control: Queue; outbox: Queue }): SessionMetrics {
    this.queues.set(session, queues);
    const setStatus = (current: SessionStatus): void => {
      for (const status of SESSION_STATUSES) this.status.set({ session, status }, status === current ? 1 : 0);
    };
    setStatus('STOPPED');
    return {
      setStatus,
      setLeaseHeld: (held) => this.leaseHeld.set({ session }, held ? 1 : 0),
      reconnect: () => this.reconnects.inc({ session }),
      recordSend: (outcome) => this.sends.inc({ session, outcome }),
      observeSend: (seconds) => this.sendSeconds.observe({ session }, seconds),
      observeBackup: (manifest, seconds) => {
        this.backupBytes.set({ session }, manifest.bytes);
        this.backupSeconds.observe({ session }, seconds);
        this.lastBackup.set(session, manifest.completedAt.getTime());
      },
      observeRestore: (manifest, seconds) => {
        this.restoreSeconds.observe({ session }, seconds);
        this.backupBytes.set({ session }, manifest.bytes);
        this.lastBackup.set(session, manifest.completedAt.getTime());
      },
      backupFailed: () => this.backupFailures.inc({ session }),
      observeDelivery: (outcome, seconds) => {
        this.webhookDeliveries.inc({ session, outcome });
        this.webhookSeconds.observe({ session }, seconds);
      },
    };
  }

  /** Drops every series of a session this worker no longer owns (bounded label sets). */
  forget(session: string): void {
    this.queues.delete(session);
    // prom-client removes a series by its whole label set.
    for (const metric of [this.leaseHeld, this.reconnects, this.sendSeconds, this.backupBytes, this.backupSeconds, this.restoreSeconds, this.backupFailures, this.webhookSeconds]) metric.remove({ session });
    for (const outcome of WEBHOOK_OUTCOMES) this.webhookDeliveries.remove({ session, outcome });
    this.lastBackup.delete(session);
    for (const status of SESSION_STATUSES) this.status.remove({ session, status });
    for (const outcome of SEND_OUTCOMES) this.sends.remove({ session, outcome });
  }
}
