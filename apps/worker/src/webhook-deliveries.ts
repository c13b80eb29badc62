/**
 * Webhook deliveries of one session, run by its owner (it holds the lease, so there is one of these per
 * session): a dispatcher that turns the session's events into delivery jobs, and one consumer per
 * subscription that posts them, in order.
 *
 * - Dispatch: for each enabled subscription, the events of the session's stream after the
 *   subscription's cursor, of the types it asked for, each with the next `seq` of that subscription,
 *   become jobs of its queue; then the cursor moves past them. The seq of an event is assigned once
 *   (a script: the stored one when there is one), and the job id is the delivery id, so a dispatch
 *   repeated after a crash gives the same seq and adds nothing twice.
 * - Delivery: concurrency 1 per subscription, retries in place (the head delivery keeps its place
 *   through its backoff, `Retry-After` honoured) until `retryPeriodMs` after its first attempt; then it
 *   becomes a dead letter (kept with its last answer, redriven through the API) and the queue goes on.
 * - Its own Redis connection and its own consumers: a slow receiver holds a webhook consumer, never the
 *   session's outbox.
 */
import {
  addDelivery,
  backoffDelay,
  decodeEvent,
  deliveryJobSchema,
  duplicateConnection,
  encodeEvent,
  recordDeadLetter,
  RedisScript,
  settleInitialisation,
  signWebhook,
  webhookDeliveryId,
  webhookEnvelope,
  webhookEventOf,
  webhookQueue,
  webhookQueueKeys,
  webhookQueueName,
  type ConfiguredWebhook,
  type DeliveryJob,
  type Logger,
  type RedisClient,
  type SessionKeys,
  type StoredWebhookSubscription,
  type WebhookRegistry,
} from '@waq/shared';
import { WaitingError, Worker, type Job, type Queue } from 'bullmq';

import { abortableDelay } from './lease.js';
import { queueOrderGuard, type QueueOrderGuard } from './queue-order.js';
import { postWebhook } from './webhook-post.js';

/** Orders two stream ids (`<ms>-<seq>`). */
function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map((part) => BigInt(part));
  const [bm = 0n, bs = 0n] = b.split('-').map((part) => BigInt(part));
  return am === bm ? Number(as - bs) : am > bm ? 1 : -1;
}

/** KEYS[1] the subscription's seq hash; ARGV[1] event id. The event's seq: the one assigned before, or the next. */
const ASSIGN_SEQ = new RedisScript(`
local seq = redis.call('HGET', KEYS[1], ARGV[1])
if seq then return tonumber(seq) end
seq = redis.call('HINCRBY', KEYS[1], '#next', 1)
redis.call('HSET', KEYS[1], ARGV[1], seq)
return seq
`);

/**
 * Seq order in a webhook's wait list, whose head is its right end. Letters redriven while a delivery is
 * being taken land in front of it; that delivery must not then be put back (BullMQ puts a job back at
 * the head) or posted ahead of them: seen in the redis layer under load, seq 6 posted before the
 * redriven 1–5 (and so in reliability scenario 15d).
 */
const SEQ_OF = `
local function seqOf(prefix, id)
  local data = redis.call('HGET', prefix .. id, 'data')
  if not data then return nil end
  local ok, job = pcall(cjson.decode, data)
  if not ok or type(job) ~= 'table' or type(job.envelope) ~= 'table' then return nil end
  return tonumber(job.envelope.seq)
end
`;

/** KEYS[1] the wait list; ARGV[1] the job key prefix, ARGV[2] a seq. 1 when the delivery at the head has a lower seq. */
const EARLIER_AT_HEAD = new RedisScript(`${SEQ_OF}
local head = redis.call('LINDEX', KEYS[1], -1)
if not head then return 0 end
local seq = seqOf(ARGV[1], head)
if seq and seq < tonumber(ARGV[2]) then return 1 end
return 0
`);

/**
 * KEYS[1] the wait list; ARGV[1] the job key prefix, ARGV[2] a job id just put back at the head, ARGV[3]
 * its seq. Moves it behind the deliveries of a lower seq in front of it; 1 when it moved.
 */
const BEHIND_EARLIER = new RedisScript(`${SEQ_OF}
local wait, prefix, id, seq = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local last = nil
local to = redis.call('LLEN', wait) - 1
while to >= 0 do
  local from = math.max(0, to - 99)
  local chunk = redis.call('LRANGE', wait, from, to)
  local done = false
  for k = #chunk, 1, -1 do
    if chunk[k] ~= id then
      local other = seqOf(prefix, chunk[k])
      if other and other < seq then last = chunk[k] else done = true break end
    end
  end
  if done then break end
  to = from - 1
end
if not last then return 0 end
if redis.call('LREM', wait, -1, id) == 0 then return 0 end
redis.call('LINSERT', wait, 'BEFORE', last, id)
return 1
`);

const DISPATCH_BATCH = 200;
/** How long a webhook's consumer waits before it looks again while another worker holds an earlier delivery. */
const FOREIGN_DELIVERY_RECHECK_MS = 250;
/** Dead letters in a row after which a webhook is paused (a `webhook.paused` event; PATCH `enabled: true` resumes it). */
export const PAUSE_AFTER_DEAD_LETTERS = 5;
const DEAD_IN_A_ROW = '#dead-in-a-row';
const RETRY_BASE_MS = 5_000;
const RETRY_MAX_MS = 3_600_000;

export const WEBHOOK_OUTCOMES = ['delivered', 'retry', 'dead'] as const;

export interface WebhookMetrics {
  observeDelivery(outcome: (typeof WEBHOOK_OUTCOMES)[number], seconds: number): void;
}

export interface WebhookDeliveriesOptions {
  /** A connection of the session's owner; the deliveries open their own from it. */
  readonly redis: RedisClient;
  readonly prefix: string;
  readonly sessionId: string;
  readonly keys: SessionKeys;
  readonly registry: WebhookRegistry;
  readonly logger: Logger;
  readonly timeoutMs: number;
  readonly retryPeriodMs: number;
  /** WEBHOOK_MAX_BODY_BYTES: a larger envelope becomes a dead letter without being posted. */
  readonly maxBodyBytes: number;
  readonly allowPrivate: boolean;
  readonly userAgent: string;
  /** How often subscriptions are re-read and the stream is looked at when nothing wakes the dispatcher. @defaultValue 1000 */
  readonly pollMs?: number;
  /** The delivery lock: a crashed owner's delivery is taken up again after it. @defaultValue 30000 */
  readonly lockMs?: number;
  /** Backoff of the retries (tests shorten it). */
  readonly retry?: { readonly baseMs: number; readonly maxMs: number };
  readonly metrics?: WebhookMetrics;
  /** EVENTS_MAX_LEN, for the `webhook.paused` event. @defaultValue 10000 */
  readonly eventsMaxLen?: number;
  /** WEBHOOK_URL, WEBHOOK_EVENTS and WEBHOOK_SECRET: the session's configured subscription, made to match at start. */
  readonly configured?: ConfiguredWebhook;
}

interface Subscriber {
  readonly queue: Queue;
  readonly worker: Worker;
  readonly order: QueueOrderGuard;
}

export class WebhookDeliveries {
  private readonly abort = new AbortController();
  private readonly connection: RedisClient;
  /** For the dispatcher's `XREAD BLOCK` on the session's stream (a blocked connection serves nothing else). */
  private readonly waker: RedisClient;
  /** The newest stream id the dispatcher has read: it wakes up for anything after it. */
  private newestSeen: string | undefined;
  private readonly subscribers = new Map<string, Subscriber>();
  private running: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: WebhookDeliveriesOptions) {
    this.connection = duplicateConnection(options.redis, { connectionName: `waq-webhooks:${options.sessionId}`, maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined);
    this.waker = duplicateConnection(options.redis, { connectionName: `waq-webhooks-wake:${options.sessionId}`, maxRetriesPerRequest: null });
    this.waker.on('error', () => undefined);
  }

  start(): void {
    this.running ??= this.loop().catch((error: unknown) => this.options.logger.error({ err: error }, 'webhook dispatcher stopped'));
  }

  /** Stops dispatching and delivering; a delivery under way goes back to the head of its queue. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      // A pending XREAD BLOCK ends by itself within pollMs (disconnecting a Redis Cluster client under a
      // blocked command leaves the command waiting: ioredis retries it).
      await this.running;
      await this.waker.quit().catch(() => this.waker.disconnect());
      await Promise.allSettled([...this.subscribers.keys()].map((id) => this.unsubscribe(id)));
      await this.connection.quit().catch(() => this.connection.disconnect());
    })();
    return this.stopping;
  }

  private async loop(): Promise<void> {
    const { pollMs = 1_000, logger, configured, registry, sessionId } = this.options;
    let ensured = configured === undefined;
    while (!this.abort.signal.aborted) {
      if (!ensured && configured !== undefined) {
        ensured = await registry.ensureConfigured(sessionId, configured).then(
          () => true,
          (error: unknown) => {
            logger.warn({ err: error }, 'could not set up the configured webhook (WEBHOOK_URL); trying again');
            return false;
          },
        );
      }
      let dispatched = 0;
      try {
        dispatched = await this.dispatchOnce();
      } catch (error) {
        if (this.abort.signal.aborted) return;
        logger.warn({ err: error }, 'webhook dispatch failed; trying again');
      }
      if (dispatched === 0) await this.waitForEvents(pollMs);
    }
  }

  /** Until the session's stream has an event after the newest one read, or `pollMs` (new subscriptions, resumed ones). */
  private async waitForEvents(pollMs: number): Promise<void> {
    if (this.newestSeen === undefined) return abortableDelay(pollMs, this.abort.signal);
    try {
      await this.waker.xread('COUNT', 1, 'BLOCK', pollMs, 'STREAMS', this.options.keys.events, this.newestSeen);
    } catch {
      await abortableDelay(pollMs, this.abort.signal);
    }
  }

  /** One pass over the subscriptions; returns how many deliveries it added. */
  async dispatchOnce(): Promise<number> {
    const { registry, sessionId } = this.options;
    const subscriptions = (await registry.listStored(sessionId)).filter((s) => s.enabled && s.paused === null);
    const active = new Set(subscriptions.map((s) => s.id));
    for (const id of this.subscribers.keys()) if (!active.has(id)) await this.unsubscribe(id);
    let added = 0;
    for (const subscription of subscriptions) {
      const subscriber = this.subscribe(subscription.id);
      added += await this.dispatchTo(subscription, subscriber.queue);
    }
    return added;
  }

  private async dispatchTo(subscription: StoredWebhookSubscription, queue: Queue): Promise<number> {
    const { keys, sessionId } = this.options;
    const redis = this.connection;
    const cursorKey = keys.webhookCursor(subscription.id);
    let cursor = await redis.get(cursorKey);
    if (cursor !== null && (this.newestSeen === undefined || compareStreamIds(cursor, this.newestSeen) > 0)) this.newestSeen = cursor;
    if (cursor === null) {
      // A subscription the registry did not start (one from config): from now on.
      const [newest] = await redis.xrevrange(keys.events, '+', '-', 'COUNT', 1);
      await redis.set(cursorKey, newest?.[0] ?? '0-0', 'NX');
      cursor = (await redis.get(cursorKey)) ?? '0-0';
    }
    const entries = await redis.xrange(keys.events, `(${cursor}`, '+', 'COUNT', DISPATCH_BATCH);
    if (entries.length === 0) return 0;
    const wanted = new Set<string>(subscription.events);
    const seqKey = keys.webhookSeq(subscription.id);
    const assigned: string[] = [];
    let added = 0;
    for (const [id, fields] of entries) {
      const stored = decodeEvent(id, fields);
      const mapped = stored === null ? null : webhookEventOf(stored.event);
      if (stored === null || mapped === null || !wanted.has(mapped.type)) continue;
      const seq = Number(await ASSIGN_SEQ.run(redis, [seqKey], [id]));
      assigned.push(id);
      const envelope = webhookEnvelope(sessionId, id, seq, stored.event);
      if (envelope !== null) await addDelivery(queue, { deliveryId: webhookDeliveryId(subscription.id, sessionId, id), envelope });
      added += 1;
    }
    const last = entries[entries.length - 1]![0];
    await redis.set(cursorKey, last);
    if (this.newestSeen === undefined || compareStreamIds(last, this.newestSeen) > 0) this.newestSeen = last;
    if (assigned.length > 0) await redis.hdel(seqKey, ...assigned);
    return added;
  }

  private subscribe(webhookId: string): Subscriber {
    const existing = this.subscribers.get(webhookId);
    // Paused by a delivery that found the subscription paused or disabled, and resumed since.
    if (existing?.worker.isPaused() === true) existing.worker.resume();
    if (existing !== undefined) return existing;
    const { keys, lockMs = 30_000, logger } = this.options;
    const scope = { redis: this.connection, prefix: this.options.prefix, sessionId: this.options.sessionId };
    const queue = webhookQueue(scope, webhookId);
    queue.on('error', (error: Error) => logger.warn({ err: error, webhookId }, 'webhook queue error'));
    const worker = new Worker(webhookQueueName(webhookId), (job, token) => this.deliver(webhookId, job, token), {
      connection: this.connection,
      prefix: keys.bullPrefix,
      concurrency: 1,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: 1_000,
    });
    worker.on('error', (error: Error) => logger.warn({ err: error, webhookId }, 'webhook consumer error'));
    const subscriber = { queue, worker, order: queueOrderGuard(worker, FOREIGN_DELIVERY_RECHECK_MS) };
    this.subscribers.set(webhookId, subscriber);
    return subscriber;
  }

  private async unsubscribe(webhookId: string): Promise<void> {
    const subscriber = this.subscribers.get(webhookId);
    if (subscriber === undefined) return;
    this.subscribers.delete(webhookId);
    await settleInitialisation([subscriber.worker, subscriber.queue]);
    await subscriber.worker.close();
    await subscriber.order.close();
    await subscriber.queue.close();
  }

  private async deliver(webhookId: string, job: Job, token: string | undefined): Promise<unknown> {
    // A delivery another worker holds is an earlier one (queue-order.ts): this one waits behind it.
    await this.subscribers.get(webhookId)?.order.keepBehindEarlierJob(job.id);
    const { registry, sessionId, timeoutMs, retryPeriodMs, maxBodyBytes, allowPrivate, userAgent, retry = { baseMs: RETRY_BASE_MS, maxMs: RETRY_MAX_MS }, metrics } = this.options;
    const logger = this.options.logger.child({ webhookId, deliveryId: job.id });
    const parsed = deliveryJobSchema.safeParse(job.data);
    if (!parsed.success) {
      logger.warn({ problems: parsed.error.issues.length }, 'dropping a webhook delivery that does not parse');
      return { dropped: true };
    }
    let data: DeliveryJob = parsed.data;
    const body = JSON.stringify(data.envelope);
    const firstAttemptAt = data.firstAttemptAt ?? Date.now();
    let attempts = data.attempts ?? 0;
    const bytes = Buffer.byteLength(body);
    if (bytes > maxBodyBytes) {
      // Not the receiver's fault: kept without counting towards a pause, redriven once the cap is raised.
      const reason = `the body is ${bytes} bytes, over WEBHOOK_MAX_BODY_BYTES (${maxBodyBytes}): not posted; raise the cap and redrive it`;
      metrics?.observeDelivery('dead', 0);
      logger.warn({ bytes, maxBodyBytes }, 'webhook delivery over the body size cap: kept as a dead letter');
      await this.deadLetter(webhookId, data, { attempts, firstAttemptAt, status: null, reason, answer: '' });
      return { deadLetter: true, attempts };
    }
    for (;;) {
      const subscription = await registry.getStored(sessionId, webhookId);
      if (subscription === null) return { dropped: true, reason: 'the subscription was deleted' };
      if (!subscription.enabled || subscription.paused !== null || this.abort.signal.aborted) {
        // This consumer takes no more of the webhook's deliveries until it is resumed: the next one it took
        // would only be put back again, and one put back after a redrive would land in front of the
        // redriven letters (seen once: seq 6 delivered before the redriven 1–5, reliability 15d).
        if (!this.abort.signal.aborted) await this.subscribers.get(webhookId)?.worker.pause(true);
        logger.info({ seq: data.envelope.seq, stopping: this.abort.signal.aborted }, 'webhook paused, disabled or stopping: delivery put back at the head of its queue');
        return this.putBack(webhookId, job, token, data.envelope.seq);
      }
      if (await this.earlierWaiting(webhookId, data.envelope.seq)) {
        logger.info({ seq: data.envelope.seq }, 'letters of an earlier seq were redriven while this delivery was taken: it goes back behind them');
        return this.putBack(webhookId, job, token, data.envelope.seq);
      }
      attempts += 1;
      const headers = signWebhook({ id: data.deliveryId, at: new Date(), body, secrets: [subscription.secret] });
      const outcome = await postWebhook({ url: subscription.url, body, headers, timeoutMs, policy: { allowPrivate }, userAgent });
      if (outcome.kind === 'delivered') {
        metrics?.observeDelivery('delivered', outcome.ms / 1_000);
        await this.connection.hdel(this.options.keys.webhookSeq(webhookId), DEAD_IN_A_ROW);
        return { status: outcome.status, attempts };
      }
      const delayMs = outcome.retryAfterMs ?? backoffDelay(attempts, retry);
      if (outcome.kind === 'failed' || Date.now() + delayMs - firstAttemptAt > retryPeriodMs) {
        metrics?.observeDelivery('dead', outcome.ms / 1_000);
        logger.warn({ status: outcome.status, reason: outcome.reason, attempts }, 'webhook delivery given up: kept as a dead letter');
        await this.deadLetter(webhookId, data, { attempts, firstAttemptAt, status: outcome.status, reason: outcome.reason, answer: outcome.answer });
        await this.pauseIfFailing(webhookId, outcome.reason, logger);
        return { deadLetter: true, attempts };
      }
      metrics?.observeDelivery('retry', outcome.ms / 1_000);
      logger.info({ status: outcome.status, reason: outcome.reason, attempts, delayMs }, 'webhook delivery failed; trying again in place after the backoff');
      data = { ...data, firstAttemptAt, attempts };
      await job.updateData(data);
      await abortableDelay(delayMs, this.abort.signal);
    }
  }

  private async deadLetter(webhookId: string, data: DeliveryJob, last: { attempts: number; firstAttemptAt: number; status: number | null; reason: string; answer: string }): Promise<void> {
    const { prefix, sessionId } = this.options;
    await recordDeadLetter({ redis: this.connection, prefix, sessionId }, webhookId, {
      deliveryId: data.deliveryId,
      envelope: data.envelope,
      attempts: last.attempts,
      firstAttemptAt: new Date(last.firstAttemptAt).toISOString(),
      lastAttemptAt: new Date().toISOString(),
      status: last.status,
      reason: last.reason,
      answer: last.answer,
    });
  }

  /** Pauses the webhook after `PAUSE_AFTER_DEAD_LETTERS` dead letters in a row, and says so on the session's event stream. */
  private async pauseIfFailing(webhookId: string, lastReason: string, logger: Logger): Promise<void> {
    const { keys, registry, sessionId, eventsMaxLen = 10_000 } = this.options;
    const inARow = await this.connection.hincrby(keys.webhookSeq(webhookId), DEAD_IN_A_ROW, 1);
    if (inARow < PAUSE_AFTER_DEAD_LETTERS) return;
    const reason = `${inARow} deliveries in a row were given up (the last: ${lastReason}): once the receiver is fixed, redrive the dead letters, then resume with PATCH enabled=true`;
    if ((await registry.pause(sessionId, webhookId, reason)) === null) return;
    await this.connection.hdel(keys.webhookSeq(webhookId), DEAD_IN_A_ROW);
    await this.connection.xadd(keys.events, 'MAXLEN', '~', eventsMaxLen, '*', ...encodeEvent({ type: 'webhook.paused', at: new Date().toISOString(), webhookId, reason }));
    logger.warn({ reason }, 'webhook paused');
  }

  /** Whether the delivery at the head of the webhook's queue has a lower seq than `seq` (redriven letters). */
  private async earlierWaiting(webhookId: string, seq: number): Promise<boolean> {
    const { wait, jobPrefix } = webhookQueueKeys(this.options.keys, webhookId);
    return Number(await EARLIER_AT_HEAD.run(this.connection, [wait], [jobPrefix, seq])) === 1;
  }

  /**
   * Back to its queue (stopping, the subscription disabled or paused meanwhile, letters of an earlier seq
   * redriven meanwhile): at the head, behind any deliveries of a lower seq there.
   */
  private async putBack(webhookId: string, job: Job, token: string | undefined, seq: number): Promise<never> {
    if (token !== undefined) {
      await job.moveToWait(token);
      const { wait, jobPrefix } = webhookQueueKeys(this.options.keys, webhookId);
      await BEHIND_EARLIER.run(this.connection, [wait], [jobPrefix, job.id ?? '', seq]);
    }
    throw new WaitingError();
  }
}
