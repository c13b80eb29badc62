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
  /** The text; for a file, its caption ('' without one). */
  readonly body: string;
  /** Seconds since the epoch, as WhatsApp reports it. */
  readonly timestamp: number;
  /** A file: its WhatsApp type (`image`, `document`, …) and how to fetch its bytes. */
  readonly media?: IncomingMedia;
}

export interface IncomingMedia {
  readonly type: string;
  /** The file, or undefined when WhatsApp no longer has it. Rejects when the download fails. */
  download(): Promise<DownloadedMedia | undefined>;
}

export interface DownloadedMedia {
  readonly data: Buffer;
  readonly mimetype: string;
  readonly filename?: string | undefined;
}

export interface OwnMessage {
  readonly waMessageId: string;
  /** The text; for a file, its caption ('' without one). */
  readonly body: string;
  /** A file's hex SHA-256 (WhatsApp's `filehash`), when the message carries one. */
  readonly sha256?: string;
  /** Seconds since the epoch. */
  readonly timestamp: number;
}

/** Reason reported with `disconnected` when the phone unlinked this device (or logout ran). */
export const LOGOUT_REASON = 'LOGOUT';

export interface DriverEvents {
  qr: [qr: string];
  /** A pairing code to enter on the phone (linking by code), each time one is issued or renewed. */
  code: [code: string];
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
  /**
   * Sends a text and resolves once WhatsApp's servers have it (not when WhatsApp Web merely queued it:
   * a message queued while the connection is down is lost if the device is unlinked before it goes out).
   * While the connection is down it stays pending; it rejects if the client ends meanwhile.
   */
  sendText(wid: string, text: string): Promise<{ waMessageId: string }>;
  /** Sends a file, with the same guarantee as {@link sendText}. */
  sendMedia(wid: string, media: OutgoingMedia): Promise<{ waMessageId: string }>;
  /**
   * Whether the browser decodes H.264/AAC video: WhatsApp Web needs to, to send a file as a video
   * (Chromium built without the proprietary codecs cannot; Google Chrome and Debian's Chromium can).
   */
  canSendVideo(): Promise<boolean>;
  /** The latest messages this account sent to `wid`, newest last (for the crash-dedupe). */
  recentOwnMessages(wid: string, limit: number): Promise<OwnMessage[]>;
  /**
   * Whether the account's chat list has a chat with `wid` that has messages (it wrote to `wid` before,
   * or `wid` wrote to it): for the budget of new chats. Asks only; creates nothing.
   */
  hasChat(wid: string): Promise<boolean>;
  /** Shows "typing…" in the chat with `wid` for `ms` (stopped early when `signal` aborts), then clears it. */
  showTyping(wid: string, ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Asks for a pairing code for `phoneNumber` (digits) on a client that waits to be linked, made for a QR
   * code: the code comes as a `code` event (and is returned), renewed by the client until it is linked.
   */
  requestPairingCode(phoneNumber: string): Promise<string>;
  /**
   * The WhatsApp id of a phone number (digits with the country code, no `+`), or null when it has no
   * account. It may differ from `<digits>@c.us` (some countries' numbers changed format).
   */
  numberId(number: string): Promise<string | null>;
}

/** A file to send, with how WhatsApp shows it. */
export interface OutgoingMedia {
  readonly data: Buffer;
  readonly mimetype: string;
  readonly filename?: string | undefined;
  readonly caption?: string | undefined;
  /** `auto`: by its type (image, video, audio, else document). */
  readonly mode: 'auto' | 'document' | 'voice' | 'sticker';
}

/**
 * How often a client linking by code asks for a new one (whatsapp-web.js `pairWithPhoneNumber.intervalMs`;
 * its default, 3 min, is how long WhatsApp keeps a code valid): a little sooner, so the code shown is never
 * one that has just lapsed.
 */
export const PAIRING_CODE_INTERVAL_MS = 170_000;

/** A client made to link by code: it shows a pairing code for `phoneNumber` (digits) instead of a QR code. */
export interface LinkByCode {
  readonly method: 'code';
  readonly phoneNumber: string;
}

/** A new driver; with `link`, made to link by code. */
export type DriverFactory = (link?: LinkByCode) => WhatsAppDriver;
