/**
 * The session controller: one WhatsApp session's state machine, driven by the driver's events and by
 * control jobs, for as long as this worker owns the session.
 *
 * - `start()`: auto-initialises when a saved session exists, else publishes STOPPED and waits for
 *   `connect`.
 * - `connect()`: idempotent; no second client while one is initialising or initialised.
 * - QR: every refresh is published with its expiry; after `qrMaxRetries` unscanned codes the client is
 *   destroyed and the session is FAILED with the reason, until the next `connect`.
 * - Disconnects other than LOGOUT, crashes, failed initialisations and a dead page found by the
 *   watchdog tear the client down and reconnect with jittered exponential backoff, reusing the saved
 *   session. LOGOUT (phone unlinked us, or a logout job) removes the profile and stays LOGGED_OUT.
 * - The outbox is paused whenever the session is not READY and resumed when it is.
 *
 * Each client lifetime gets a generation number; events from an older generation (a client being torn
 * down) are ignored, so a late event can never move the state of its successor.
 */
import { EventEmitter, once } from 'node:events';

import { backoffDelay, type Logger, type SessionState, type SessionStatus } from '@waq/shared';

import { LOGOUT_REASON, PAIRING_CODE_INTERVAL_MS, type DriverFactory, type DriverMe, type LinkByCode, type WhatsAppDriver } from './driver/driver.js';
import type { SessionProfile } from './profile.js';
import type { StatePublisher } from './state-publisher.js';
import { withTimeout } from './with-timeout.js';

export interface OutboxGate {
  pause(): Promise<void>;
  resume(): Promise<void>;
}

export interface SessionTimings {
  /** QR_MAX_RETRIES */
  readonly qrMaxRetries: number;
  /** How long one QR code is valid, for the published expiry. @defaultValue 20000 */
  readonly qrTtlMs?: number;
  /** RECONNECT_BASE_MS */
  readonly reconnectBaseMs: number;
  /** RECONNECT_MAX_MS */
  readonly reconnectMaxMs: number;
  /** How often the watchdog asks a READY client for its state. @defaultValue 30000 */
  readonly watchdogIntervalMs?: number;
  /** How long the watchdog waits for that answer. @defaultValue 10000 */
  readonly watchdogTimeoutMs?: number;
  /**
   * How long AUTHENTICATED may last before the client counts as stuck (WhatsApp Web never finished
   * syncing, a known failure mode) and is restarted. @defaultValue 120000
   */
  readonly authenticatedTimeoutMs?: number;
  /**
   * After this many auth failures in a row (WhatsApp rejects the saved session each time: the phone no
   * longer accepts this device) the session goes LOGGED_OUT and its profile is set aside, instead of
   * being retried forever. @defaultValue 3
   */
  readonly authFailureLimit?: number;
}

export interface SessionOptions extends SessionTimings {
  readonly createDriver: DriverFactory;
  readonly publisher: StatePublisher;
  readonly profile: SessionProfile;
  /** Runs before Chromium is launched (stale locks, orphan processes). */
  readonly prepareProfile: () => Promise<void>;
  readonly outbox: OutboxGate;
  readonly logger: Logger;
  /** Hooks for metrics and for the message handlers (acks, incoming). */
  readonly onDriver?: (driver: WhatsAppDriver) => void;
  readonly onReconnect?: () => void;
  /** Called with every new QR value (the worker draws it in a terminal). */
  readonly onQrCode?: (value: string) => void;
}

interface SessionEvents {
  status: [state: SessionState];
}

export class SessionController extends EventEmitter<SessionEvents> {
  private driver: WhatsAppDriver | undefined;
  private generation = 0;
  private qrCount = 0;
  private reconnectAttempt = 0;
  /** Auth failures since the last READY. */
  private authFailures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private authenticatedTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The number a pairing code is shown for, while linking by code. */
  private pairingPhone: string | undefined;
  /** A pairing code asked for while the client was starting: asked of it once it shows a code. */
  private pendingCode: LinkByCode | undefined;
  /** Serialises outbox pause/resume so they land in the order the states changed. */
  private gate: Promise<void> = Promise.resolve();

  constructor(private readonly options: SessionOptions) {
    super();
  }

  get state(): SessionState {
    return this.options.publisher.current;
  }

  get status(): SessionStatus {
    return this.options.publisher.status;
  }

  /** The client, while one exists (handlers use it only while READY). */
  get client(): WhatsAppDriver | undefined {
    return this.driver;
  }

  async start(): Promise<void> {
    await this.setOutbox('pause');
    await this.options.profile.sweepTrash();
    if (await this.options.profile.hasSavedSession()) {
      this.options.logger.info({ profile: this.options.profile.dir }, 'saved session found: initialising');
      await this.launch();
    } else {
      await this.publish('STOPPED', { reason: `no saved session: send a connect job (POST /v1/sessions/${this.options.profile.sessionId}/connect) to link a phone` });
    }
  }

  /**
   * Starts a client unless one is initialising or initialised; returns whether it started one. With
   * `link`, to link by a pairing code for that number: a new client made for it, or, when one already
   * shows a QR code, that one asked for a code too (the QR code stays as the fallback); a client still
   * starting is asked as soon as it shows its first code.
   */
  async connect(link?: LinkByCode): Promise<boolean> {
    if (this.stopped) return false;
    if (this.driver !== undefined) {
      if (link !== undefined && this.status === 'QR') {
        await this.requestCode(this.driver, link);
        return false;
      }
      if (link !== undefined && this.status === 'STARTING' && link.phoneNumber !== this.pairingPhone) {
        this.pendingCode = link;
        this.options.logger.info('connect: the client is starting; the pairing code is asked for as soon as it shows a QR code');
        return false;
      }
      this.options.logger.info({ status: this.status }, 'connect: a client is already running; nothing to do');
      return false;
    }
    this.cancelReconnect();
    this.reconnectAttempt = 0;
    await this.launch(link);
    return true;
  }

  /**
   * Asks the running client (made for a QR code) for a pairing code. A client that cannot (whatsapp-web.js
   * before 1.34 failed here with "window.onCodeReceivedEvent is not a function") is replaced by one made
   * to link by code.
   */
  private async requestCode(driver: WhatsAppDriver, link: LinkByCode): Promise<void> {
    this.pairingPhone = link.phoneNumber;
    try {
      await driver.requestPairingCode(link.phoneNumber);
    } catch (error) {
      if (driver !== this.driver) return;
      this.options.logger.warn({ err: error }, 'the running client could not give a pairing code: starting one made to link by code');
      await this.teardown();
      await this.launch(link);
    }
  }

  /** Resolves true if the session leaves READY within `ms` (or already has), else false. */
  leavesReadyWithin(ms: number): Promise<boolean> {
    if (this.status !== 'READY') return Promise.resolve(true);
    return new Promise((resolve) => {
      const onStatus = (state: SessionState): void => {
        if (state.status === 'READY') return;
        clearTimeout(timer);
        this.off('status', onStatus);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.off('status', onStatus);
        resolve(false);
      }, ms);
      this.on('status', onStatus);
    });
  }

  /**
   * Resolves with the state once it is QR (with a pairing code when `code`) or READY (or FAILED /
   * LOGGED_OUT), or after `timeoutMs`.
   */
  async waitForQrOrReady(timeoutMs: number, code = false): Promise<SessionState> {
    const settled = (s: SessionState): boolean => (s.status === 'QR' && (!code || s.pairingCode !== undefined)) || s.status === 'READY' || s.status === 'FAILED' || s.status === 'LOGGED_OUT';
    if (settled(this.state)) return this.state;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      for (;;) {
        const [state] = await once(this, 'status', { signal });
        if (settled(state as SessionState)) return state as SessionState;
      }
    } catch {
      return this.state;
    }
  }

  async logout(): Promise<void> {
    this.cancelReconnect();
    const driver = this.driver;
    await this.setOutbox('pause');
    if (driver !== undefined && (this.status === 'READY' || this.status === 'AUTHENTICATED')) {
      this.generation += 1;
      try {
        await driver.logout();
      } catch (error) {
        this.options.logger.warn({ err: error }, 'logout: WhatsApp did not confirm the unlink; removing the local session anyway');
      }
    }
    await this.teardown();
    await this.loggedOut('logged out by request');
  }

  async restart(): Promise<void> {
    this.cancelReconnect();
    await this.teardown();
    this.reconnectAttempt = 0;
    await this.launch();
  }

  /** Graceful stop: destroys the client (which flushes the profile) and publishes STOPPED. */
  async stop(reason: string): Promise<void> {
    this.stopped = true;
    this.cancelReconnect();
    await this.setOutbox('pause');
    await this.teardown();
    await this.publish('STOPPED', { reason });
  }

  /** Lease lost: stop at once without publishing (another worker owns the state now). */
  async abandon(): Promise<void> {
    this.stopped = true;
    this.cancelReconnect();
    await this.teardown();
  }

  private async launch(link?: LinkByCode): Promise<void> {
    if (this.stopped) return;
    const generation = ++this.generation;
    this.pairingPhone = link?.phoneNumber;
    // A client made for a code needs no pending one; one made for a QR code (a reconnect) still does.
    if (link !== undefined) this.pendingCode = undefined;
    const driver = this.options.createDriver(link);
    this.driver = driver;
    this.qrCount = 0;
    this.wire(driver, generation);
    this.options.onDriver?.(driver);
    await this.publish('STARTING');
    try {
      await this.options.prepareProfile();
      await driver.initialize();
    } catch (error) {
      if (generation !== this.generation) return;
      this.options.logger.error({ err: error }, 'the WhatsApp client failed to start');
      await this.connectionLost('init_failed', `the WhatsApp client failed to start: ${errorMessage(error)}`);
    }
  }

  /**
   * Work started by an event or a timer, which nobody awaits: a failure (Redis gone while the session
   * stops, a publish refused) is logged with what was being done, never left an unhandled rejection.
   */
  private detach(work: Promise<unknown>, what: string): void {
    work.catch((error: unknown) => {
      if (this.stopped) this.options.logger.debug({ err: error }, `${what}: failed while stopping`);
      else this.options.logger.warn({ err: error }, `${what} failed`);
    });
  }

  private wire(driver: WhatsAppDriver, generation: number): void {
    const current = (): boolean => generation === this.generation && !this.stopped;
    driver.on('qr', (qr) => current() && this.detach(this.onQr(qr), 'showing the QR code'));
    driver.on('code', (code) => current() && this.detach(this.onQr(code, this.pairingPhone), 'showing the pairing code'));
    driver.on('authenticated', () => current() && this.detach(this.onAuthenticated(generation), 'recording AUTHENTICATED'));
    driver.on('ready', (me) => current() && this.detach(this.onReady(me, generation), 'going READY'));
    driver.on('auth_failure', (message) => {
      if (!current()) return;
      this.invalidate();
      this.detach(this.onAuthFailure(message), 'handling an auth failure');
    });
    driver.on('disconnected', (reason) => {
      if (!current()) return;
      this.invalidate();
      this.detach(reason === LOGOUT_REASON ? this.onUnlinked() : this.connectionLost('disconnected', `disconnected: ${reason}`), 'handling a disconnect');
    });
    driver.on('crashed', (reason) => {
      if (!current()) return;
      this.invalidate();
      this.detach(this.connectionLost('browser_crashed', `the browser died: ${reason}`), 'handling a browser crash');
    });
  }

  /** A new QR code, or (with `phoneNumber`) a new pairing code: both count towards `qrMaxRetries`. */
  private async onQr(value: string, phoneNumber?: string): Promise<void> {
    this.qrCount += 1;
    if (this.qrCount > this.options.qrMaxRetries) {
      await this.setOutbox('pause');
      await this.teardown();
      await this.publish('FAILED', {
        reason: 'QR code not scanned',
        lastError: { code: 'qr_not_scanned', message: `no QR code was scanned after ${this.options.qrMaxRetries} codes: send connect again to get a new one` },
      });
      return;
    }
    if (phoneNumber !== undefined) {
      const expiresAt = new Date(Date.now() + PAIRING_CODE_INTERVAL_MS).toISOString();
      this.options.logger.info({ codeNumber: this.qrCount, of: this.options.qrMaxRetries, expiresAt, phoneNumber }, 'enter the pairing code on the phone (Linked devices → Link a device → Link with phone number instead)');
      await this.publish('QR', { pairingCode: { code: value, phoneNumber: `+${phoneNumber}`, expiresAt } });
    } else {
      const expiresAt = new Date(Date.now() + (this.options.qrTtlMs ?? 20_000)).toISOString();
      this.options.logger.info({ qrNumber: this.qrCount, of: this.options.qrMaxRetries, expiresAt }, 'scan the QR code with WhatsApp on your phone (Linked devices)');
      await this.publish('QR', { qr: { value, expiresAt } });
      this.options.onQrCode?.(value);
    }
    const pending = this.pendingCode;
    if (pending !== undefined && this.driver !== undefined) {
      this.pendingCode = undefined;
      if (pending.phoneNumber !== phoneNumber) await this.requestCode(this.driver, pending);
    }
  }

  private async onAuthenticated(generation: number): Promise<void> {
    const limit = this.options.authenticatedTimeoutMs ?? 120_000;
    clearTimeout(this.authenticatedTimer);
    this.authenticatedTimer = setTimeout(() => {
      if (generation === this.generation && this.status === 'AUTHENTICATED') {
        this.detach(this.connectionLost('stuck_authenticated', `stuck in AUTHENTICATED for ${Math.round(limit / 1_000)} s (WhatsApp Web never finished syncing): restarting the client`), 'restarting a stuck client');
      }
    }, limit);
    this.authenticatedTimer.unref();
    await this.publish('AUTHENTICATED', { reason: 'credentials accepted; syncing' });
  }

  private async onAuthFailure(message: string): Promise<void> {
    this.authFailures += 1;
    const limit = this.options.authFailureLimit ?? 3;
    if (this.authFailures < limit) {
      await this.connectionLost('auth_failure', `WhatsApp rejected the saved session (${this.authFailures} of ${limit} tries): ${message}`);
      return;
    }
    this.authFailures = 0;
    this.cancelReconnect();
    await this.setOutbox('pause');
    await this.teardown();
    if (this.stopped) return;
    const aside = await this.options.profile.setAside().catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'could not set the rejected session profile aside; removing it');
      return this.options.profile.remove().then(() => null);
    });
    const kept = aside === null ? '' : ` The rejected profile was kept at ${aside}.`;
    await this.publish('LOGGED_OUT', {
      reason: 'WhatsApp keeps rejecting the saved session',
      lastError: {
        code: 'auth_rejected',
        message: `WhatsApp rejected the saved session ${limit} times in a row (${message}): the phone no longer accepts this device. Send connect to link it again with a new QR code.${kept}`,
      },
    });
  }

  private async onReady(me: DriverMe, generation: number): Promise<void> {
    clearTimeout(this.authenticatedTimer);
    this.pendingCode = undefined;
    this.reconnectAttempt = 0;
    this.authFailures = 0;
    await this.options.profile.markSaved().catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not mark the session as saved'));
    if (generation !== this.generation) return;
    await this.publish('READY', { me: { wid: me.wid, ...(me.pushname === undefined ? {} : { pushname: me.pushname }) } });
    // The client may have gone while READY was being written: then its loss handler pauses the outbox.
    if (generation !== this.generation) return;
    await this.setOutbox('resume');
    this.startWatchdog();
  }

  /** Events from the current client are ignored from now on (it is being torn down). */
  private invalidate(): void {
    this.generation += 1;
  }

  private async onUnlinked(): Promise<void> {
    await this.setOutbox('pause');
    await this.teardown();
    await this.loggedOut('the phone unlinked this device');
  }

  private async loggedOut(reason: string): Promise<void> {
    const result = await this.options.profile.remove().catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'could not remove the session profile');
      return 'failed';
    });
    await this.publish('LOGGED_OUT', { reason, ...(result === 'failed' ? { lastError: { code: 'profile_not_removed', message: 'the saved session could not be deleted; see the worker log' } } : {}) });
  }

  private async connectionLost(code: string, message: string): Promise<void> {
    await this.setOutbox('pause');
    await this.teardown();
    if (this.stopped) return;
    await this.publish(code === 'init_failed' || code === 'auth_failure' ? 'FAILED' : 'DISCONNECTED', { reason: message, lastError: { code, message } });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.cancelReconnect();
    this.reconnectAttempt += 1;
    const delay = backoffDelay(this.reconnectAttempt, { baseMs: this.options.reconnectBaseMs, maxMs: this.options.reconnectMaxMs });
    this.options.logger.info({ attempt: this.reconnectAttempt, delayMs: delay }, 'reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.options.onReconnect?.();
      this.detach(this.launch(), 'reconnecting');
    }, delay);
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private startWatchdog(): void {
    this.stopWatchdog();
    const generation = this.generation;
    const interval = this.options.watchdogIntervalMs ?? 30_000;
    const timeout = this.options.watchdogTimeoutMs ?? 10_000;
    this.watchdogTimer = setInterval(() => {
      const driver = this.driver;
      if (driver === undefined || generation !== this.generation) return;
      void withTimeout(driver.getState(), timeout, 'getState()').then(
        (state) => {
          // TIMEOUT/OPENING are WhatsApp Web's own reconnecting (phone or network away) and heal by
          // themselves; only a page that has no state at all is dead.
          if (state === null && generation === this.generation) this.detach(this.connectionLost('watchdog', 'watchdog: WhatsApp Web reports no connection state'), 'handling a dead page');
        },
        (error: unknown) => {
          if (generation === this.generation) this.detach(this.connectionLost('watchdog', `watchdog: the page did not answer (${errorMessage(error)})`), 'handling a dead page');
        },
      );
    }, interval);
    this.watchdogTimer.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdogTimer !== undefined) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
  }

  private async teardown(): Promise<void> {
    this.generation += 1;
    this.stopWatchdog();
    clearTimeout(this.authenticatedTimer);
    const driver = this.driver;
    this.driver = undefined;
    if (driver === undefined) return;
    await driver.destroy().catch((error: unknown) => this.options.logger.warn({ err: error }, 'error while closing the WhatsApp client'));
  }

  private async publish(status: SessionStatus, change: Parameters<StatePublisher['transition']>[1] = {}): Promise<void> {
    await this.options.publisher.transition(status, change);
    this.emit('status', this.options.publisher.current);
  }

  private setOutbox(action: 'pause' | 'resume'): Promise<void> {
    this.gate = this.gate
      .then(() => {
        if (action === 'pause') return this.options.outbox.pause();
        // Resume only what is still READY when its turn comes: a pause may have been asked since.
        return this.status === 'READY' ? this.options.outbox.resume() : undefined;
      })
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, action }, `could not ${action} the outbox`);
      });
    return this.gate;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

