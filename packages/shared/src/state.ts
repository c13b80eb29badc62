/**
 * The session state model, published by the session owner and read by everything else.
 *
 * Glossary (DESIGN.md): a **session** is one WhatsApp account linked as a device; its **owner** is the
 * one worker holding the session's lease; the **state** is what the owner last published.
 *
 *   STOPPED ──connect──▶ STARTING ──▶ QR ──scan──▶ AUTHENTICATED ──▶ READY
 *      ▲                    │          │                │              │
 *      │                    ▼          ▼                ▼              ▼
 *      └───────────────── FAILED   (QR retries      DISCONNECTED ◀─────┘ (reconnects with backoff)
 *                                   exhausted)           │
 *                                                   LOGGED_OUT (phone unlinked us / logout job;
 *                                                               next connect shows a fresh QR)
 *
 * AUTHENTICATED is still "connecting": only READY sends. Readers never trust a READY whose owner is
 * gone: `reportState()` turns a state without a live lease into WORKER_OFFLINE.
 */
import { z } from 'zod';

export const SESSION_STATUSES = [
  'STOPPED',
  'STARTING',
  'QR',
  'AUTHENTICATED',
  'READY',
  'DISCONNECTED',
  'LOGGED_OUT',
  'FAILED',
] as const;

export const sessionStatusSchema = z.enum(SESSION_STATUSES);
export type SessionStatus = z.infer<typeof sessionStatusSchema>;

export const sessionStateSchema = z.object({
  sessionId: z.string(),
  status: sessionStatusSchema,
  /** When the session entered this status (ISO 8601). */
  since: z.iso.datetime(),
  /** The linked account, once known. */
  me: z.object({ wid: z.string(), pushname: z.string().optional() }).optional(),
  /** The QR code to scan, while status is QR. */
  qr: z.object({ value: z.string(), expiresAt: z.iso.datetime() }).optional(),
  /** Why the session is not READY, when there is a reason. */
  lastError: z.object({ code: z.string(), message: z.string(), at: z.iso.datetime() }).optional(),
  /** The worker that published this state, and when it last proved alive. */
  owner: z.object({ workerId: z.string(), heartbeatAt: z.iso.datetime() }).optional(),
});
export type SessionState = z.infer<typeof sessionStateSchema>;

export type ReportedStatus = SessionStatus | 'WORKER_OFFLINE';
export type ReportedSessionState = Omit<SessionState, 'status'> & {
  readonly status: ReportedStatus;
  /** The status the (now gone) owner last published, when status is WORKER_OFFLINE. */
  readonly lastPublishedStatus?: SessionStatus;
};

/**
 * What readers report: the published state, unless no worker holds the lease, in which case the
 * session is WORKER_OFFLINE whatever was last published (a dead worker is never READY).
 */
export function reportState(
  sessionId: string,
  published: SessionState | null,
  leaseHolder: string | null,
  now: Date = new Date(),
): ReportedSessionState {
  if (leaseHolder !== null && published !== null) return published;
  if (leaseHolder !== null) return { sessionId, status: 'STARTING', since: now.toISOString() };
  const offline: ReportedSessionState = {
    sessionId,
    status: 'WORKER_OFFLINE',
    since: published?.since ?? now.toISOString(),
    lastError: {
      code: 'worker_offline',
      message: 'no worker owns this session: start the worker (sends are kept and will go out once it is READY)',
      at: now.toISOString(),
    },
  };
  return published === null ? offline : { ...offline, me: published.me, lastPublishedStatus: published.status };
}

/** Parses a stored state; a corrupt value reads as "nothing published" rather than crashing a reader. */
export function decodeState(raw: string | null): SessionState | null {
  if (raw === null) return null;
  try {
    const result = sessionStateSchema.safeParse(JSON.parse(raw));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}
