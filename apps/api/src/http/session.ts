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
  /** Link by a pairing code for this number (E.164) instead of a QR code. */
  readonly pairingCodeFor?: string;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
}

/** A state worth answering a waiting `connect` with: a QR code to scan (a pairing code, when one was asked for), or READY. */
function settled(state: ReportedSessionState, code: boolean, now = Date.now()): boolean {
  if (state.status === 'READY') return true;
  if (state.status !== 'QR') return false;
  const shown = code ? state.pairingCode : state.qr;
  return shown !== undefined && Date.parse(shown.expiresAt) > now;
}

/** The answer of a `connect`: the job, the state, and the pairing code on its own when there is one. */
function answer(status: number, job: { id: string }, state: ReportedSessionState, waited: boolean): HttpResult {
  return { status, body: { job, state, waited, ...(state.pairingCode === undefined ? {} : { pairingCode: state.pairingCode.code }) } };
}

export async function connect({ producer, redis, blocking, waitMs }: ConnectDependencies, { wait, pairingCodeFor, signal }: ConnectRequest): Promise<HttpResult> {
  const code = pairingCodeFor !== undefined;
  const queue = (): Promise<{ id: string }> => producer.connect('api', code ? { method: 'code', phoneNumber: pairingCodeFor } : undefined);
  if (!wait) return answer(202, await queue(), await producer.getState(), false);
  const lease = await blocking.acquire('waq-api-connect-wait');
  if (lease === undefined) return tooManyStreams(blocking.max);
  const onAbort = (): void => lease.release();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    // Read the stream position before queueing, so no event published in between is missed.
    const after = await latestEventId(redis, producer.queues.keys.events);
    const job = await queue();
    const deadline = Date.now() + waitMs;
    let state = await producer.getState();
    // A code asked for beside a QR code already shown comes with its own event: not the state of before.
    if (settled(state, code) && !code) return answer(200, job, state, true);
    // Re-read the state on every state/QR event, and at least once a second (a lease can lapse silently).
    for await (const batch of tailEvents(lease.connection, producer.queues.keys.events, { after, blockMs: Math.min(1_000, Math.max(1, deadline - Date.now())), signal })) {
      state = await producer.getState();
      const failedNow = batch.some(({ event }) => event.type === 'state' && event.status === 'FAILED');
      const codeNow = !code || batch.some(({ event }) => event.type === 'pairing_code') || state.status === 'READY';
      if ((settled(state, code) && codeNow) || failedNow) return answer(200, job, state, true);
      if (Date.now() >= deadline) break;
    }
    return answer(202, job, state, true);
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
