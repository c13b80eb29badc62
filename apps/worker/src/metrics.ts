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

/**
 * prom-client 15.1.3's default metrics include three gauges named like counters (`*_total`, which
 * Prometheus reserves for counters: promtool warns). Their siblings by `type` stay, so the totals are
 * `sum(nodejs_active_handles)`, `sum(nodejs_active_requests)` and `sum(nodejs_active_resources)`.
 */
const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export type SendOutcome = 'sent' | 'recovered' | 'failed' | 'held' | 'retried';

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly status = new Gauge({ name: 'waq_session_status', help: '1 for the session status this worker last published', labelNames: ['status'], registers: [this.registry] });
  private readonly leaseHeld = new Gauge({ name: 'waq_lease_held', help: '1 while this worker owns the session', registers: [this.registry] });
  readonly reconnects = new Counter({ name: 'waq_reconnects_total', help: 'Reconnect attempts of the WhatsApp client', registers: [this.registry] });
  readonly sends = new Counter({ name: 'waq_sends_total', help: 'Send attempts by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly sendSeconds = new Histogram({
    name: 'waq_send_duration_seconds',
    help: 'Time from taking a send job to WhatsApp accepting it (pacing excluded)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor(queues: { control: Queue; outbox: Queue }) {
    collectDefaultMetrics({ register: this.registry });
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
    new Gauge({
      name: 'waq_queue_jobs',
      help: 'Jobs in the session queues by state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        // Named explicitly: the object passed in may carry more than the two queues (SessionQueues does).
        for (const [name, queue] of [['control', queues.control], ['outbox', queues.outbox]] as const) {
          const counts = await queue.getJobCounts('waiting', 'paused', 'active', 'delayed', 'completed', 'failed', 'prioritized');
          for (const [state, count] of Object.entries(counts)) this.set({ queue: name, state }, count);
        }
      },
    });
    this.setStatus('STOPPED');
  }

  setStatus(current: SessionStatus): void {
    for (const status of SESSION_STATUSES) this.status.set({ status }, status === current ? 1 : 0);
  }

  setLeaseHeld(held: boolean): void {
    this.leaseHeld.set(held ? 1 : 0);
  }

  recordSend(outcome: SendOutcome): void {
    this.sends.inc({ outcome });
  }
}
