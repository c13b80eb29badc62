/**
 * Queue names.
 *
 * ┌──────────────────────────────────────────────────────────────────────────────────────────────┐
 * │ WARNING: changing a queue name (or WAQ_PREFIX / SESSION_ID) strands every job already in     │
 * │ Redis under the old name: nothing consumes it any more. Drain the queues before renaming.    │
 * └──────────────────────────────────────────────────────────────────────────────────────────────┘
 */

export const QUEUE_NAMES = {
  /** connect / logout / restart; consumed whatever the session state, concurrency 1. */
  control: 'control',
  /** send; consumed only while the session is READY (paused otherwise), concurrency 1, by priority then acceptance. */
  outbox: 'outbox',
} as const;

export type QueueKind = keyof typeof QUEUE_NAMES;
export type QueueName = (typeof QUEUE_NAMES)[QueueKind];

/** BullMQ states of an outbox job that is accepted and not sent yet (nor failed). */
export const WAITING_JOB_STATES = ['waiting', 'paused', 'delayed', 'prioritized', 'waiting-children', 'active'] as const;
