/**
 * BullMQ consumers of the session's two queues. Created with `autorun: false` and started explicitly
 * once the session is owned (a job must never slip through before the lease is held).
 *
 * Every job is validated again at dequeue (`parseQueuedJob`): a raw job pushed without the SDK with a
 * wrong shape or an unknown name fails at once as unrecoverable and never reaches a handler. Errors
 * then follow the retry taxonomy (packages/shared/src/errors.ts). A send that fails and may be tried
 * again is retried *in place*: it stays active, at the head of the outbox, through its backoff, so no
 * send accepted after it can overtake it (a BullMQ retry would put it behind all of them, and the chat
 * would get the messages out of order). Control jobs retry through BullMQ. A job that fails for good
 * has its failure (`{ code, message }`) handed to `onFailed` before BullMQ marks it failed, so a reader
 * never sees a failed job without its reason; `failedReason` holds the message.
 */
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';

import {
  backoffDelay,
  failureOf,
  LeaseLostError,
  parseQueuedJob,
  QUEUE_NAMES,
  retryClassOf,
  settleInitialisation,
  type Failure,
  type JobHandlers,
  type JobName,
  type JobPayload,
  type Logger,
  type ParsedJob,
  type QueueKind,
  type RedisClient,
  type SessionKeys,
} from '@waq/shared';

import { abortableDelay } from './lease.js';
import { queueOrderGuard, type QueueOrderGuard } from './queue-order.js';
import { OutboxRestError, SendParkedError } from './send-budget.js';

/** A job that failed for good, its failure already reported: BullMQ fails it without a retry. */
class ReportedFailure extends UnrecoverableError {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

export interface JobContext {
  readonly jobId: string;
  readonly logger: Logger;
  /** Aborted when the worker shuts down or loses the lease. */
  readonly signal: AbortSignal;
}

export interface ConsumerOptions {
  readonly connection: RedisClient;
  readonly keys: SessionKeys;
  readonly handlers: JobHandlers<JobContext>;
  readonly logger: Logger;
  /** JOB_LOCK_MS: how long a job's lock lives without renewal; also the stalled-job check interval. */
  readonly lockMs: number;
  /**
   * Called when a job fails for good (unrecoverable, or its last attempt): awaited before BullMQ marks
   * the job failed, except for a job BullMQ fails by itself (stalled too often).
   */
  readonly onFailed?: (job: Job, failure: Failure) => Promise<void>;
  readonly onCompleted?: (job: Job) => void;
  /**
   * Where an outbox job's attempts that failed in place are counted (the message record, so the count
   * survives a crash). Without it, outbox jobs retry through BullMQ like control jobs.
   */
  readonly retriesInPlace?: RetryCounter;
  /**
   * Whether this worker lost the session (its lease taken or not renewed in time). A send it cannot
   * finish then is left to the new owner (see `leave`), whatever stopped it: its client gone, its
   * consumers closing, a backoff cut short.
   */
  readonly leaseLost?: () => boolean;
}

export interface RetryCounter {
  /** Attempts of `job` that failed in place so far. */
  count(job: Job): Promise<number>;
  /** Counts one more. */
  add(job: Job): Promise<void>;
}

/** Longest pause between two in-place attempts of a send, in ms. */
const MAX_RETRY_DELAY_MS = 60_000;

function backoffBaseMs(job: Job): number {
  const backoff = job.opts.backoff;
  if (typeof backoff === 'number') return backoff;
  return backoff?.delay ?? 1_000;
}

export interface Consumers {
  readonly control: Worker;
  readonly outbox: Worker;
  start(): void;
  /** Stops taking jobs and aborts handlers' waits; waits for active jobs unless `force`. Idempotent. */
  close(force?: boolean): Promise<void>;
}

function dispatch(handlers: JobHandlers<JobContext>, parsed: ParsedJob, context: JobContext): Promise<unknown> {
  const handler = handlers[parsed.name] as (payload: JobPayload<JobName>, context: JobContext) => Promise<unknown>;
  return handler(parsed.payload, context);
}

/** The longest the outbox rests for the daily cap before it looks at the cap again (the setting may have changed). */
const DAILY_CAP_RECHECK_MS = 60_000;
/** How long the outbox waits before it looks again while another worker holds an earlier send. */
const FOREIGN_SEND_RECHECK_MS = 250;

export function createConsumers({ connection, keys, handlers, logger, lockMs, onFailed, onCompleted, retriesInPlace, leaseLost }: ConsumerOptions): Consumers {
  const abort = new AbortController();

  const failForGood = async (job: Job, error: unknown, jobLogger: Logger): Promise<never> => {
    const failure = failureOf(error);
    jobLogger.warn({ code: failure.code, reason: failure.message }, 'job failed for good');
    await onFailed?.(job, failure);
    throw new ReportedFailure(failure);
  };

  let outboxOrder: QueueOrderGuard | undefined;
  let waitingBehindForeignSend = false;

  const processor = (queue: QueueKind) => async (job: Job, token?: string): Promise<unknown> => {
    let jobLogger = logger.child({ jobId: job.id, jobName: job.name, queue, attempt: job.attemptsMade + 1 });
    // A send another worker holds is an earlier one (queue-order.ts): this one waits behind it, so the
    // order of acceptance is kept.
    if (queue === 'outbox' && outboxOrder !== undefined) {
      await outboxOrder.keepBehindEarlierJob(job.id, () => {
        if (!waitingBehindForeignSend) jobLogger.info('another worker still holds an earlier send (it lost the session in the middle of it): waiting behind it so order is kept');
        waitingBehindForeignSend = true;
      });
      waitingBehindForeignSend = false;
    }
    let parsed: ParsedJob;
    try {
      parsed = parseQueuedJob(queue, job.name, job.data);
    } catch (error) {
      return failForGood(job, error, jobLogger);
    }
    const maxAttempts = job.opts.attempts ?? 1;
    /** Attempts of this job that failed in place (read at the first failure: a crash may have left some). */
    let failedInPlace: number | undefined;
    for (;;) {
      try {
        return await dispatch(handlers, parsed, { jobId: String(job.id), logger: jobLogger, signal: abort.signal });
      } catch (error) {
        if (error instanceof DelayedError || error instanceof WaitingError) throw error;
        if (error instanceof SendParkedError) return park(job, token, error, jobLogger);
        if (error instanceof OutboxRestError && outboxOrder !== undefined) {
          jobLogger.info({ until: new Date(error.untilMs).toISOString() }, "the session's daily cap is reached: the outbox rests until the oldest send of the last 24 hours is a day old (looking at the cap again every minute)");
          // In steps of at most a minute: a cap raised (or turned off) meanwhile takes effect at the next look.
          return outboxOrder.rest(Math.max(1, Math.min(error.untilMs - Date.now(), DAILY_CAP_RECHECK_MS)));
        }
        const retry = retryClassOf(error);
        if (queue === 'outbox' && (error instanceof LeaseLostError || (retry === 'held' && leaseLost?.() === true))) return leave(job, token, error, jobLogger);
        if (retry === 'held') return hold(job, token, error, jobLogger);
        if (retry === 'unrecoverable') return failForGood(job, error, jobLogger);
        if (queue !== 'outbox' || retriesInPlace === undefined) {
          if (job.attemptsMade + 1 >= maxAttempts) return failForGood(job, error, jobLogger);
          jobLogger.warn({ err: error }, 'job attempt failed; it will be retried with backoff');
          throw error;
        }
        failedInPlace ??= await retriesInPlace.count(job);
        // This attempt included; BullMQ counts the last one itself when the job fails (or completes).
        const failed = job.attemptsMade + failedInPlace + 1;
        if (failed >= maxAttempts) return failForGood(job, error, jobLogger);
        await retriesInPlace.add(job);
        failedInPlace += 1;
        const delayMs = backoffDelay(failed, { baseMs: backoffBaseMs(job), maxMs: MAX_RETRY_DELAY_MS });
        jobLogger.warn({ err: error, delayMs }, 'send attempt failed; trying again in place after the backoff (it keeps its place in the queue)');
        await abortableDelay(delayMs, abort.signal);
        // Shutting down during the backoff: back to the head, for the next owner to try again.
        if (abort.signal.aborted) return leaseLost?.() === true ? leave(job, token, new Error('this worker lost the session during the backoff'), jobLogger) : hold(job, token, new Error('the worker is stopping'), jobLogger);
        jobLogger = logger.child({ jobId: job.id, jobName: job.name, queue, attempt: failed + 1 });
      }
    }
  };

  /**
   * This worker lost the session while it held a send: it leaves the send active (no move back to the
   * queue) until its consumers close and the lock expires, so the new owner, which may already hold a
   * later send, puts that one back first and the earlier one then lands in front of it. Putting it back
   * instead would tie with that later send: BullMQ puts both at the head of their priority with one
   * score, and orders them by job id (reliability 14c, `0, 2, 1, 3–9`). Bounded: a lease loss that does
   * not close the consumers holds it back the usual way after two lock periods.
   */
  const leave = async (job: Job, token: string | undefined, error: unknown, jobLogger: Logger): Promise<never> => {
    jobLogger.info('this worker lost the session: leaving the send to its new owner (back at the head of the queue when its lock expires)');
    await abortableDelay(2 * lockMs, abort.signal);
    if (!abort.signal.aborted) return hold(job, token, error, jobLogger);
    throw new WaitingError();
  };

  /**
   * The budget of new chats is spent: the send waits as a delayed job until it frees (attempts
   * untouched), and the outbox goes on with the next one.
   */
  const park = async (job: Job, token: string | undefined, reason: SendParkedError, jobLogger: Logger): Promise<never> => {
    jobLogger.info({ until: new Date(reason.untilMs).toISOString() }, "the session's budget of new chats is spent: this send waits; the sends to other recipients go on");
    if (token !== undefined) await job.moveToDelayed(reason.untilMs, token);
    throw new DelayedError();
  };

  /** Back to the head of the queue, attempts untouched: it goes out once the session is READY. */
  const hold = async (job: Job, token: string | undefined, reason: unknown, jobLogger: Logger): Promise<never> => {
    jobLogger.info({ reason: reason instanceof Error ? reason.message : String(reason) }, 'session not ready: job held');
    if (token !== undefined) await job.moveToWait(token);
    throw new WaitingError();
  };

  const make = (queue: QueueKind): Worker => {
    const worker = new Worker(QUEUE_NAMES[queue], processor(queue), {
      connection,
      prefix: keys.bullPrefix,
      autorun: false,
      concurrency: 1,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A job interrupted by a crash is safe to run again (the send handler dedupes), so a few
      // crashes in a row must not fail it.
      maxStalledCount: 10,
    });
    worker.on('error', (error) => logger.error({ err: error, queue }, 'queue consumer error'));
    worker.on('failed', (job, error) => {
      // Ours were reported before they failed; this is one BullMQ failed by itself (started too often).
      if (job === undefined || error instanceof ReportedFailure) return;
      if (error.name !== 'UnrecoverableError' && job.attemptsMade < (job.opts.attempts ?? 1)) return;
      void onFailed?.(job, failureOf(error)).catch((failure: unknown) => logger.warn({ err: failure, queue }, 'could not record a failed job'));
    });
    worker.on('completed', (job) => onCompleted?.(job));
    return worker;
  };

  const control = make('control');
  const outbox = make('outbox');
  outboxOrder = queueOrderGuard(outbox, FOREIGN_SEND_RECHECK_MS);
  let closing: Promise<void> | undefined;
  return {
    control,
    outbox,
    start() {
      for (const [queue, worker] of [['control', control], ['outbox', outbox]] as const) {
        worker.run().catch((error: unknown) => logger.error({ err: error, queue }, 'queue consumer stopped'));
      }
    },
    close(force = false) {
      // Handlers stop waiting (pacing, QR) at once; a side effect already under way completes.
      abort.abort();
      closing ??= (async () => {
        await settleInitialisation([control, outbox]);
        await Promise.allSettled([control.close(force), outbox.close(force)]);
        await outboxOrder?.close();
      })();
      return closing;
    },
  };
}
