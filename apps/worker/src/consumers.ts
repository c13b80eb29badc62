/**
 * BullMQ consumers of the session's two queues. Created with `autorun: false` and started explicitly
 * once the session is owned (a job must never slip through before the lease is held).
 *
 * Every job is validated again at dequeue (`parseQueuedJob`): a raw job pushed without the SDK with a
 * wrong shape or an unknown name fails at once as unrecoverable, with the reason in `failedReason`
 * (`<code>: <message>`), and never reaches a handler. Errors then follow the retry taxonomy.
 */
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

import {
  QUEUE_NAMES,
  WaqError,
  parseQueuedJob,
  retryClassOf,
  type JobHandlers,
  type JobName,
  type JobPayload,
  type Logger,
  type ParsedJob,
  type QueueKind,
  type SessionKeys,
} from '@waq/shared';

import { HeldError } from './send-handler.js';

export interface JobContext {
  readonly jobId: string;
  readonly logger: Logger;
  /** Aborted when the worker shuts down or loses the lease. */
  readonly signal: AbortSignal;
}

export interface ConsumerOptions {
  readonly connection: Redis;
  readonly keys: SessionKeys;
  readonly handlers: JobHandlers<JobContext>;
  readonly logger: Logger;
  /** JOB_LOCK_MS: how long a job's lock lives without renewal; also the stalled-job check interval. */
  readonly lockMs: number;
  /** Called when a job failed for good (no retry left, or unrecoverable). */
  readonly onFailed?: (job: Job, error: Error) => void;
  readonly onCompleted?: (job: Job) => void;
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

export function createConsumers({ connection, keys, handlers, logger, lockMs, onFailed, onCompleted }: ConsumerOptions): Consumers {
  const abort = new AbortController();

  const processor = (queue: QueueKind) => async (job: Job, token?: string): Promise<unknown> => {
    const jobLogger = logger.child({ jobId: job.id, jobName: job.name, queue, attempt: job.attemptsMade + 1 });
    let parsed: ParsedJob;
    try {
      parsed = parseQueuedJob(queue, job.name, job.data);
    } catch (error) {
      const reason = error instanceof WaqError ? `${error.code}: ${error.message}` : String(error);
      jobLogger.warn({ reason }, 'rejected an invalid job');
      throw new UnrecoverableError(reason);
    }
    try {
      return await dispatch(handlers, parsed, { jobId: String(job.id), logger: jobLogger, signal: abort.signal });
    } catch (error) {
      if (error instanceof HeldError || retryClassOf(error) === 'held') {
        // Back to the head of the queue, attempts untouched: it goes out once the session is READY.
        jobLogger.info({ reason: (error as Error).message }, 'session not ready: job held');
        if (token !== undefined) await job.moveToWait(token);
        throw new WaitingError();
      }
      if (retryClassOf(error) === 'unrecoverable') {
        const reason = error instanceof WaqError ? `${error.code}: ${error.message}` : String(error);
        throw new UnrecoverableError(reason);
      }
      if (error instanceof DelayedError || error instanceof WaitingError) throw error;
      jobLogger.warn({ err: error }, 'job attempt failed; it will be retried with backoff if attempts remain');
      throw error;
    }
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
      if (job === undefined) return;
      const final = error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (final) onFailed?.(job, error);
    });
    worker.on('completed', (job) => onCompleted?.(job));
    return worker;
  };

  const control = make('control');
  const outbox = make('outbox');
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
      closing ??= Promise.allSettled([control.close(force), outbox.close(force)]).then(() => undefined);
      return closing;
    },
  };
}
