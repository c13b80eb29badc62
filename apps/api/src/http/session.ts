/** A session's state, `connect` (optionally waiting), `logout` and `restart` (`…/connect`, `…/logout`, `…/restart`). */
import { latestEventId, type Producer, type RedisClient, type ReportedSessionState, tailEvents } from '@waq/shared';

import { tooManyStreams, type BlockingConnections } from './blocking-connections.js';
import type { HttpResult } from './error-response.js';

export async function getSession(producer: Producer): Promise<HttpResult> {
  return { status: 200, body: await producer.getState() };
}

export interface ConnectDependencies {
  readonly producer: Producer;
  readonly redis: RedisClient;
  readonly blocking: BlockingConnections;
  /** QR_WAIT_MS */
  readonly waitMs: number;
}

export interface ConnectRequest {
  readonly wait: boolean;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
}

/** A state worth answering a waiting `connect` with: a QR code to scan, or READY. */
function settled(state: ReportedSessionState, now = Date.now()): boolean {
  return state.status === 'READY' || (state.status === 'QR' && state.qr !== undefined && Date.parse(state.qr.expiresAt) > now);
}

export async function connect({ producer, redis, blocking, waitMs }: ConnectDependencies, { wait, signal }: ConnectRequest): Promise<HttpResult> {
  if (!wait) {
    const job = await producer.connect('api');
    return { status: 202, body: { job, state: await producer.getState(), waited: false } };
  }
  const lease = await blocking.acquire('waq-api-connect-wait');
  if (lease === undefined) return tooManyStreams(blocking.max);
  const onAbort = (): void => lease.release();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    // Read the stream position before queueing, so no event published in between is missed.
    const after = await latestEventId(redis, producer.queues.keys.events);
    const job = await producer.connect('api');
    const deadline = Date.now() + waitMs;
    let state = await producer.getState();
    if (settled(state)) return { status: 200, body: { job, state, waited: true } };
    // Re-read the state on every state/QR event, and at least once a second (a lease can lapse silently).
    for await (const batch of tailEvents(lease.connection, producer.queues.keys.events, { after, blockMs: Math.min(1_000, Math.max(1, deadline - Date.now())), signal })) {
      state = await producer.getState();
      const failedNow = batch.some(({ event }) => event.type === 'state' && event.status === 'FAILED');
      if (settled(state) || failedNow) return { status: 200, body: { job, state, waited: true } };
      if (Date.now() >= deadline) break;
    }
    return { status: 202, body: { job, state, waited: true } };
  } finally {
    signal.removeEventListener('abort', onAbort);
    lease.release();
  }
}

export async function logout(producer: Producer): Promise<HttpResult> {
  return { status: 202, body: { job: await producer.logout('api') } };
}

export async function restart(producer: Producer): Promise<HttpResult> {
  return { status: 202, body: { job: await producer.restart('api') } };
}
