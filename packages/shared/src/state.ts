/**
 * The session state model, published by the session owner and read by everything else.
 *
 * Glossary (DESIGN.md): a **session** is one WhatsApp account linked as a device; its **owner** is the
 * one worker holding the session's lease; the **state** is what the owner last published.
 *
 *   STOPPED ──connect──▶ STARTING ──▶ QR ──scan (or code)──▶ AUTHENTICATED ──▶ READY
 *      ▲                    │          │                │              │
 *      │                    ▼          ▼                ▼              ▼
 *      └───────────────── FAILED   (QR retries      DISCONNECTED ◀─────┘ (reconnects with backoff)
 *                                   exhausted)           │
 *                                                   LOGGED_OUT (phone unlinked us / logout job;
 *                                                               next connect shows a fresh QR)
 *
 * AUTHENTICATED is still "connecting": only READY sends. Readers never trust a READY whose owner is
 * gone: `reportState()` turns a state whose lease has no live holder into WORKER_OFFLINE.
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
  /**
   * The code to enter on the phone instead (Linked devices → Link a device → Link with phone number
   * instead), while status is QR: asked for with `connect { method: "code", phoneNumber }`, renewed
   * before it expires. The QR code may be shown beside it.
   */
  pairingCode: z.object({ code: z.string(), phoneNumber: z.string(), expiresAt: z.iso.datetime() }).optional(),
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

/** What a reader knows of the session's lease. */
export interface LeaseReading {
  /** The worker holding the lease, or null when none does. */
  readonly holder: string | null;
  /**
   * False when the holder is known dead: its Redis connection is gone (see owner-liveness.ts), so the
   * lease only has not expired yet. @defaultValue true
   */
  readonly alive?: boolean;
}

/**
 * What readers report: the published state while its owner lives; WORKER_OFFLINE when no worker holds
 * the lease or its holder is dead, whatever was last published (a dead worker is never READY); STARTING
 * while a new owner holds the lease and has not published yet (what is stored is its predecessor's).
 */
export function reportState(sessionId: string, published: SessionState | null, lease: LeaseReading, now: Date = new Date()): ReportedSessionState {
  const { holder, alive = true } = lease;
  if (holder !== null && alive) {
    if (published !== null && published.owner?.workerId === holder) return published;
    return { sessionId, status: 'STARTING', since: now.toISOString(), ...(published?.me === undefined ? {} : { me: published.me }) };
  }
  const offline: ReportedSessionState = {
    sessionId,
    status: 'WORKER_OFFLINE',
    since: published?.since ?? now.toISOString(),
    lastError: {
      code: 'worker_offline',
      message:
        holder === null
          ? 'no worker owns this session: start the worker (sends are kept and will go out once it is READY)'
          : 'the worker that owned this session is gone (its Redis connection closed); another worker takes over, or start one (sends are kept and will go out once it is READY)',
      at: now.toISOString(),
    },
  };
  return published === null ? offline : { ...offline, ...(published.me === undefined ? {} : { me: published.me }), lastPublishedStatus: published.status };
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
