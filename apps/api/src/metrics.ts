/**
 * Prometheus metrics of the API (`/metrics`), on a registry of its own (several apps in one test
 * process do not collide):
 * - HTTP RED: `waq_http_requests_total` and `waq_http_request_duration_seconds` by method, route
 *   pattern (never the raw path: ids would explode the label set) and status;
 * - `waq_queue_jobs{session,queue,state}`: queue depths of every registered session, read from Redis
 *   at scrape time;
 * - `waq_session_status{session,status}`: 1 for each session's current status, 0 for the others;
 * - `waq_webhook_queue_jobs{session,webhook,state}` (waiting, active), `waq_webhook_dead_letters` and
 *   `waq_webhook_paused` of every webhook of those sessions;
 * - `waq_redis_up`, `waq_sse_streams`, and Node's default process metrics.
 *
 * Naming, the same in the worker (apps/worker/src/metrics.ts): waq's own metrics are `waq_*`; prom-client's
 * default process and runtime metrics keep their standard unprefixed names (`process_*`, `nodejs_*`),
 * because that is what every Node.js dashboard and alert queries, and Prometheus already tells the
 * apps apart by the `job` (and `instance`) label of the scrape. For the same reason both apps use the
 * same name for what they both report (`waq_queue_jobs`, `waq_session_status`) rather than an app
 * prefix. `promtool check metrics` must stay clean on both endpoints (metrics.redis.test.ts).
 */
import { type Producer, type RedisClient, SESSION_STATUSES, webhookHealth, type WebhookRegistry } from '@waq/shared';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'paused', 'completed', 'failed', 'waiting-children'] as const;
const REPORTED_STATUSES = [...SESSION_STATUSES, 'WORKER_OFFLINE'] as const;

export interface MetricsDependencies {
  /** The API's producer: `producer.session(id)` for each session. */
  readonly producer: Producer;
  /** The sessions to report (the registry's, deleted ones left out). */
  readonly sessions: () => Promise<readonly string[]>;
  /** The producer's connection: its status tells whether reading is worth trying. */
  readonly redis: RedisClient;
  /** Open event streams and waits. */
  readonly activeStreams: () => number;
  /** The sessions' webhooks, and WAQ_PREFIX (their keys). */
  readonly webhooks?: { readonly registry: WebhookRegistry; readonly prefix: string };
}

export interface ApiMetrics {
  readonly registry: Registry;
  /** Records every request once it has finished. */
  readonly middleware: (req: Request, res: Response, next: NextFunction) => void;
}

/** The route pattern that served `req`, or a fixed label for what no route matched. */
function routeLabel(req: Request): string {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof route === 'string') return `${req.baseUrl}${route}`;
  const path = req.originalUrl.split('?')[0] ?? '';
  if (path.startsWith('/admin/queues')) return '/admin/queues';
  if (path.startsWith('/assets/')) return '/assets';
  return 'unmatched';
}

/**
 * prom-client 15.1.3's default metrics include three gauges named like counters (`*_total`, which
 * Prometheus reserves for counters: promtool warns). Their siblings by `type` stay, so the totals are
 * `sum(nodejs_active_handles)`, `sum(nodejs_active_requests)` and `sum(nodejs_active_resources)`.
 */
const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function createMetrics({ producer, sessions, redis, activeStreams, webhooks }: MetricsDependencies): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name);
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'waq_http_requests_total', help: 'HTTP requests by method, route and status.', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'waq_http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status (SSE streams count until they close).',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // prom-client runs every collect() of a scrape concurrently: the Redis-backed gauges share one read.
  let reading: Promise<Snapshot | undefined> | undefined;
  const snapshot = (): Promise<Snapshot | undefined> => {
    reading ??= readSnapshot(producer, sessions, redis, webhooks).finally(() => {
      reading = undefined;
    });
    return reading;
  };
  new Gauge({
    name: 'waq_redis_up',
    help: '1 when the scrape could read Redis, else 0.',
    registers: [registry],
    async collect() {
      this.set((await snapshot()) === undefined ? 0 : 1);
    },
  });
  new Gauge({
    name: 'waq_queue_jobs',
    help: 'Jobs in the session queues by session, queue and state.',
    labelNames: ['session', 'queue', 'state'],
    registers: [registry],
    async collect() {
      const read = await snapshot();
      // Stale depths would mislead: without Redis there are none.
      this.reset();
      for (const { session, queues } of read ?? []) {
        for (const [queue, counts] of Object.entries(queues)) {
          for (const state of JOB_STATES) this.set({ session, queue, state }, counts[state] ?? 0);
        }
      }
    },
  });
  new Gauge({
    name: 'waq_session_status',
    help: 'Session status as reported by the API, by session: 1 for the current one, 0 for the others.',
    labelNames: ['session', 'status'],
    registers: [registry],
    async collect() {
      const read = await snapshot();
      this.reset();
      for (const { session, status: current } of read ?? []) {
        for (const status of REPORTED_STATUSES) this.set({ session, status }, status === current ? 1 : 0);
      }
    },
  });
  /** A gauge of every webhook of the reported sessions: `values` gives each series' extra labels and value. */
  const perWebhook = (name: string, help: string, extraLabels: readonly string[], values: (hook: WebhookSnapshot) => readonly (readonly [Record<string, string>, number])[]): void => {
    new Gauge({
      name,
      help,
      labelNames: ['session', 'webhook', ...extraLabels],
      registers: [registry],
      async collect() {
        const read = await snapshot();
        this.reset();
        for (const { session, webhooks: hooks } of read ?? []) {
          for (const hook of hooks) for (const [labels, n] of values(hook)) this.set({ session, webhook: hook.id, ...labels }, n);
        }
      },
    });
  };
  perWebhook('waq_webhook_queue_jobs', "Deliveries in each webhook's queue by session, webhook and state (waiting, active).", ['state'], (hook) => [
    [{ state: 'waiting' }, hook.waiting],
    [{ state: 'active' }, hook.active],
  ]);
  perWebhook('waq_webhook_dead_letters', 'Deliveries given up (dead letters, kept for a redrive) by session and webhook.', [], (hook) => [[{}, hook.dead]]);
  perWebhook('waq_webhook_paused', '1 when the webhook is paused after failing deliveries (or disabled), by session and webhook.', [], (hook) => [[{}, hook.paused ? 1 : 0]]);
  new Gauge({ name: 'waq_sse_streams', help: 'Open event streams and connect waits (each holds a Redis connection).', registers: [registry], collect() { this.set(activeStreams()); } });

  return {
    registry,
    middleware(req, res, next) {
      const end = duration.startTimer();
      res.once('close', () => {
        const labels = { method: req.method, route: routeLabel(req), status: String(res.statusCode) };
        requests.inc(labels);
        end(labels);
      });
      next();
    },
  };
}

interface WebhookSnapshot {
  readonly id: string;
  readonly waiting: number;
  readonly active: number;
  readonly dead: number;
  readonly paused: boolean;
}

interface SessionSnapshot {
  readonly session: string;
  readonly queues: Record<'control' | 'outbox', Record<string, number>>;
  readonly status: string;
  readonly webhooks: readonly WebhookSnapshot[];
}

type Snapshot = readonly SessionSnapshot[];

async function readWebhooks(redis: RedisClient, webhooks: MetricsDependencies['webhooks'], session: string): Promise<WebhookSnapshot[]> {
  if (webhooks === undefined) return [];
  return Promise.all(
    (await webhooks.registry.list(session)).map(async (hook) => {
      const { waiting, active, deadLetters } = await webhookHealth({ redis, prefix: webhooks.prefix, sessionId: session }, hook.id);
      return { id: hook.id, waiting, active, dead: deadLetters, paused: hook.paused !== null || !hook.enabled };
    }),
  );
}

async function readSnapshot(producer: Producer, sessions: () => Promise<readonly string[]>, redis: RedisClient, webhooks: MetricsDependencies['webhooks']): Promise<Snapshot | undefined> {
  // BullMQ waits (rather than fails) for a connection that has never been ready: do not ask it.
  if (redis.status !== 'ready') return undefined;
  try {
    return await Promise.all((await sessions()).map(async (session) => {
      const { queues, getState } = producer.session(session);
      const [control, outbox, state, hooks] = await Promise.all([queues.control.getJobCounts(...JOB_STATES), queues.outbox.getJobCounts(...JOB_STATES), getState(), readWebhooks(redis, webhooks, session)]);
      return { session, queues: { control, outbox }, status: state.status, webhooks: hooks };
    }));
  } catch {
    return undefined;
  }
}
