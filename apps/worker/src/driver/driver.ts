/**
 * The WhatsApp driver: what the session controller needs from a WhatsApp Web client. Two
 * implementations pass one contract battery (`driver-contract.ts`): `WwebjsDriver` (whatsapp-web.js +
 * Chromium, production) and `FakeDriver` (in memory, for fast tests and benchmarks).
 *
 * One driver instance is one client lifetime: initialise once, destroy once. The controller makes a
 * new one for every (re)connect, which is also how a failed initialisation is retried.
 */
import type { EventEmitter } from 'node:events';

export interface DriverMe {
  /** The linked account's WhatsApp id, e.g. `4915123456789@c.us`. */
  readonly wid: string;
  readonly pushname?: string;
}

export interface IncomingMessage {
  readonly waMessageId: string;
  readonly from: string;
  readonly body: string;
  /** Seconds since the epoch, as WhatsApp reports it. */
  readonly timestamp: number;
}

export interface OwnMessage {
  readonly waMessageId: string;
  readonly body: string;
  /** Seconds since the epoch. */
  readonly timestamp: number;
}

/** Reason reported with `disconnected` when the phone unlinked this device (or logout ran). */
export const LOGOUT_REASON = 'LOGOUT';

export interface DriverEvents {
  qr: [qr: string];
  authenticated: [];
  ready: [me: DriverMe];
  auth_failure: [message: string];
  /** The connection is gone; `LOGOUT` means the device was unlinked and the profile is void. */
  disconnected: [reason: string];
  /** WhatsApp acknowledged a message we sent (`MessageAck` numbering: 1 server, 2 device, 3 read). */
  ack: [waMessageId: string, ack: number];
  incoming: [message: IncomingMessage];
  /** The browser or page died under us ("connected but dead" without a disconnect event). */
  crashed: [reason: string];
}

export interface WhatsAppDriver extends EventEmitter<DriverEvents> {
  /** Launches the client; resolves once the page is up (a QR or a restored session follows as events). */
  initialize(): Promise<void>;
  /** Closes the client and its browser, flushing the profile to disk. Safe to call twice. */
  destroy(): Promise<void>;
  /** Unlinks this device from the account and closes the client. */
  logout(): Promise<void>;
  /** WhatsApp Web's connection state (`CONNECTED`, `OPENING`, …) or null when unknown. */
  getState(): Promise<string | null>;
  /** Whether `wid` (a `…@c.us` user id) has a WhatsApp account. */
  isRegistered(wid: string): Promise<boolean>;
  /**
   * Sends a text and resolves once WhatsApp's servers have it (not when WhatsApp Web merely queued it:
   * a message queued while the connection is down is lost if the device is unlinked before it goes out).
   * While the connection is down it stays pending; it rejects if the client ends meanwhile.
   */
  sendText(wid: string, text: string): Promise<{ waMessageId: string }>;
  /** The latest messages this account sent to `wid`, newest last (for the crash-dedupe). */
  recentOwnMessages(wid: string, limit: number): Promise<OwnMessage[]>;
}

export type DriverFactory = () => WhatsAppDriver;
