/**
 * Publishes the session state. Every transition writes the state and its event in one MULTI, so a
 * reader never sees a state without its event or the other way round. Only the lease owner publishes.
 */
import type { ChainableCommander } from 'ioredis';

import { encodeEvent, type Logger, type RedisClient, type SessionEvent, type SessionKeys, type SessionState, type SessionStatus } from '@waq/shared';

const CARRY_ERROR: ReadonlySet<SessionStatus> = new Set(['STARTING', 'QR', 'AUTHENTICATED', 'DISCONNECTED']);

export interface Transition {
  readonly reason?: string;
  readonly qr?: SessionState['qr'];
  readonly pairingCode?: SessionState['pairingCode'];
  readonly me?: SessionState['me'];
  readonly lastError?: { code: string; message: string };
}

export class StatePublisher {
  private state: SessionState;
  private heartbeatAt: string;
  /** Until the first transition, the stored state is a predecessor's: a heartbeat must not overwrite it. */
  private published = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: SessionKeys,
    private readonly workerId: string,
    private readonly eventsMaxLen: number,
    private readonly logger: Logger,
    sessionId: string,
  ) {
    const now = new Date().toISOString();
    this.heartbeatAt = now;
    this.state = { sessionId, status: 'STOPPED', since: now };
  }

  get current(): SessionState {
    return this.state;
  }

  get status(): SessionStatus {
    return this.state.status;
  }

  /** Moves to `status` (or refreshes it, e.g. a new QR) and writes state + event atomically. */
  async transition(status: SessionStatus, change: Transition = {}): Promise<void> {
    const now = new Date().toISOString();
    const previous = this.state;
    const keepsIdentity = status !== 'LOGGED_OUT';
    // Why the session is not READY stays visible while it reconnects, until READY or a new reason.
    const keepsError = CARRY_ERROR.has(status) && change.lastError === undefined;
    const stillLinking = status === 'QR' && previous.status === 'QR';
    this.state = {
      sessionId: previous.sessionId,
      status,
      since: previous.status === status ? previous.since : now,
      ...(change.me !== undefined ? { me: change.me } : keepsIdentity && previous.me !== undefined ? { me: previous.me } : {}),
      // While it waits to be linked, the QR code and the pairing code stay until replaced (both may show).
      ...(change.qr !== undefined ? { qr: change.qr } : stillLinking && previous.qr !== undefined ? { qr: previous.qr } : {}),
      ...(change.pairingCode !== undefined ? { pairingCode: change.pairingCode } : stillLinking && previous.pairingCode !== undefined ? { pairingCode: previous.pairingCode } : {}),
      ...(change.lastError !== undefined
        ? { lastError: { ...change.lastError, at: now } }
        : keepsError && previous.lastError !== undefined
          ? { lastError: previous.lastError }
          : {}),
      owner: { workerId: this.workerId, heartbeatAt: this.heartbeatAt },
    };
    const events: SessionEvent[] = [];
    if (previous.status !== status || change.reason !== undefined) {
      events.push({ type: 'state', at: now, status, ...(change.reason === undefined ? {} : { reason: change.reason }) });
    }
    if (change.qr !== undefined) events.push({ type: 'qr', at: now, expiresAt: change.qr.expiresAt });
    if (change.pairingCode !== undefined) events.push({ type: 'pairing_code', at: now, expiresAt: change.pairingCode.expiresAt });
    this.logger.info({ from: previous.status, to: status, reason: change.reason }, `session ${status}${change.reason ? `: ${change.reason}` : ''}`);
    await this.write(events);
  }

  /**
   * Records that the owner is alive (called on each lease renewal). Before the first transition it only
   * remembers the time: writing the initial state would publish a status (STOPPED) the session was
   * never in, for as long as the owner takes to decide between STARTING and STOPPED.
   */
  async heartbeat(at: Date): Promise<void> {
    this.heartbeatAt = at.toISOString();
    if (!this.published) return;
    this.state = { ...this.state, owner: { workerId: this.workerId, heartbeatAt: this.heartbeatAt } };
    await this.redis.set(this.keys.state, JSON.stringify(this.state));
  }

  /** Appends events, together with `extra` commands (e.g. a message record update), in one MULTI. */
  async append(events: readonly SessionEvent[], extra?: (multi: ChainableCommander) => void): Promise<void> {
    const multi = this.redis.multi();
    extra?.(multi);
    this.addEvents(multi, events);
    await multi.exec();
  }

  private async write(events: readonly SessionEvent[]): Promise<void> {
    this.published = true;
    const multi = this.redis.multi().set(this.keys.state, JSON.stringify(this.state));
    this.addEvents(multi, events);
    await multi.exec();
  }

  private addEvents(multi: ChainableCommander, events: readonly SessionEvent[]): void {
    for (const event of events) multi.xadd(this.keys.events, 'MAXLEN', '~', this.eventsMaxLen, '*', ...encodeEvent(event));
  }
}
