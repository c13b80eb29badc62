/**
 * An in-memory WhatsApp for fast tests and benchmarks. `FakeWhatsApp` plays the servers, the phone and
 * the saved profile; each `FakeDriver` is one client lifetime bound to it. It passes the same contract
 * battery as the real driver (`driver-contract.ts`), and adds fault hooks the real one cannot offer
 * cheaply. Where it models the real driver (whatsapp-web.js 1.34.7 on the simulator), it copies what
 * that does: acks 1 → 2 → 3; a dropped connection is state TIMEOUT, not a disconnect, and sends made
 * meanwhile go out on reconnect, their `sendText` resolving only then; `disconnected` / `crashed` end a driver's lifetime; incoming messages
 * wait for a ready client.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';

import { abortableDelay } from '../lease.js';
import { LOGOUT_REASON, type DownloadedMedia, type DriverEvents, type DriverMe, type IncomingMessage, type LinkByCode, type OutgoingMedia, type OwnMessage, type WhatsAppDriver } from './driver.js';

export interface FakeSentMessage {
  readonly waMessageId: string;
  readonly to: string;
  /** The text; for a file, its caption ('' without one). */
  readonly body: string;
  readonly timestamp: number;
  /** When the servers received it, in ms (the phone's clock: pacing tests measure the gaps). */
  readonly receivedAtMs?: number;
  /** A file: what WhatsApp got (hex sha256 and size of the bytes), and how it was to be shown. */
  readonly media?: { readonly mimetype: string; readonly filename?: string | undefined; readonly size: number; readonly sha256: string; readonly mode: OutgoingMedia['mode'] };
}

export interface FakeWhatsAppOptions {
  /** Rotate the QR this often while unpaired. @defaultValue 1000 */
  readonly qrIntervalMs?: number;
  /** Delay between the acks 1 (server) → 2 (device) → 3 (read), in ms; the simulator's default. @defaultValue 300 */
  readonly ackDelayMs?: number;
  /** Users that have WhatsApp; `null` means everyone. @defaultValue null */
  readonly registered?: readonly string[] | null;
  readonly me?: DriverMe;
}

export class FakeWhatsApp {
  /** The saved session: survives driver lifetimes like a LocalAuth profile. */
  paired = false;
  /** What WhatsApp received from the account, in arrival order (the phone's view). */
  readonly sent: FakeSentMessage[] = [];
  /** Accepted by a client while the connection was down: transmitted by {@link goOnline}. */
  readonly pending: FakeSentMessage[] = [];
  /** Sends waiting for the connection (their `sendText` resolves once the message is transmitted). */
  private readonly waiting = new Set<{ driver: FakeDriver; resolve: () => void; reject: (error: Error) => void }>();
  /** Incoming messages waiting for a ready client (the real servers hold them too). */
  readonly pendingIncoming: IncomingMessage[] = [];
  /** False between {@link goOffline} and {@link goOnline}. */
  online = true;
  /** Whether the simulated browser decodes H.264 video (a Chromium without proprietary codecs does not). */
  videoCodecs = true;
  readonly registered: Set<string> | null;
  /** The linked account (a test may link another one: unlink, change it, scan again). */
  me: DriverMe;
  readonly qrIntervalMs: number;
  readonly ackDelayMs: number;
  initializeCalls = 0;
  /** Calls of `getState()` on any driver (what a test waits on to know a client looked). */
  stateReads = 0;
  /** Drivers initialised and not destroyed: more than one is a second Chromium on one profile. */
  readonly live = new Set<FakeDriver>();
  maxLive = 0;
  /** Fault hooks. */
  failNextInitialize = 0;
  failNextSends: Error[] = [];
  hangGetState = false;
  /** Restores of the saved session are rejected (`auth_failure`), while this many remain. */
  rejectNextRestores = 0;
  /** Authenticated clients never get ready (WhatsApp Web stuck syncing), while this many remain. */
  stallAfterAuthenticated = 0;
  /** "typing…" shown, in order: to whom, for how long, and when (ms). */
  readonly typings: { readonly to: string; readonly ms: number; readonly at: number }[] = [];
  /** The chat states the account showed, in order: `typing` when "typing…" starts, `stop` when it ends. */
  readonly chatStates: { readonly to: string; readonly state: 'typing' | 'stop' }[] = [];
  /** Numbers whose WhatsApp id is not `<digits>@c.us` (as for some countries' numbers). */
  readonly numberIds = new Map<string, string>();
  /** Chats the account had before this test (an established number's chat list). */
  readonly existingChats = new Set<string>();
  /** Clients made for a QR code fail when asked for a pairing code, as whatsapp-web.js before 1.34 did. */
  failPairingCodeRequests = false;
  /** While true, clients made for a QR code start but show none yet (WhatsApp Web still loading). */
  qrHeld = false;
  /** Called at the start of sendText, before anything leaves (a hook to crash or throw there). */
  beforeSend: ((wid: string, text: string) => void) | undefined;
  /** Called inside sendText after WhatsApp "accepted" the message but before it returns. */
  afterAccept: ((message: FakeSentMessage) => Promise<void> | void) | undefined;
  private sequence = 0;

  constructor(options: FakeWhatsAppOptions = {}) {
    this.qrIntervalMs = options.qrIntervalMs ?? 1_000;
    this.ackDelayMs = options.ackDelayMs ?? 300;
    this.registered = options.registered === undefined || options.registered === null ? null : new Set(options.registered);
    this.me = options.me ?? { wid: '4915000000001@c.us', pushname: 'waq test' };
  }

  createDriver = (link?: LinkByCode): FakeDriver => new FakeDriver(this, link);

  /** The phone scans the current QR. */
  scan(): void {
    this.paired = true;
    for (const driver of this.live) driver.simulatePaired();
  }

  /** The codes clients show now (linking by code), with the number each was asked for. */
  pairingCodes(): { code: string; phoneNumber: string }[] {
    return [...this.live].flatMap((driver) => (driver.pairing === undefined ? [] : [{ ...driver.pairing }]));
  }

  /** The phone's owner enters a pairing code: the client showing it is linked, if it was asked for this account's number. */
  enterCode(code: string): void {
    const driver = [...this.live].find((d) => d.pairing?.code === code);
    if (driver === undefined) throw new Error('no client shows this code');
    if (`${driver.pairing?.phoneNumber}@c.us` !== this.me.wid) throw new Error(`this code was asked for +${driver.pairing?.phoneNumber}, not this phone's number`);
    this.paired = true;
    driver.simulatePaired();
  }

  /** The phone unlinks this device: ready clients get `disconnected(LOGOUT)`, which ends them. */
  unlink(): void {
    this.paired = false;
    // WhatsApp Web wipes its storage: what it had queued and not sent is gone.
    this.pending.length = 0;
    for (const driver of this.live) driver.end('disconnected', LOGOUT_REASON);
  }

  /**
   * The client reports a disconnect. With whatsapp-web.js that happens for states it does not accept
   * (CONFLICT, UNPAIRED, …), after which it destroys itself; phone or network offline is {@link goOffline}.
   */
  dropConnection(reason = 'TIMEOUT'): void {
    for (const driver of this.live) driver.end('disconnected', reason);
  }

  /** The browser dies without a disconnect event: `crashed`, then `getState()` throws. */
  crash(): void {
    for (const driver of this.live) driver.end('crashed', 'browser process exited');
  }

  /** The connection to WhatsApp drops (phone or network offline): state TIMEOUT, no event, sends wait. */
  goOffline(): void {
    this.online = false;
  }

  /** The connection is back: state CONNECTED; sends made meanwhile are transmitted and acked, once. */
  goOnline(): void {
    this.online = true;
    for (const message of this.pending.splice(0)) this.transmit(message);
    for (const waiter of this.waiting) waiter.resolve();
    this.waiting.clear();
  }

  /** Resolves once the connection is up; rejects when `driver` ends first. */
  waitForConnection(driver: FakeDriver): Promise<void> {
    if (this.online) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiting.add({ driver, resolve, reject }));
  }

  /** `driver` ended: its sends still waiting for the connection fail (their messages stay queued). */
  abandonWaits(driver: FakeDriver, reason: string): void {
    for (const waiter of [...this.waiting]) {
      if (waiter.driver !== driver) continue;
      this.waiting.delete(waiter);
      waiter.reject(new Error(`the client ended while the message waited for the connection (${reason})`));
    }
  }

  /** A contact writes to us; held until a client is ready, like WhatsApp's servers do. */
  receive(from: string, body: string): void {
    this.pendingIncoming.push({ waMessageId: `false_${from}_${this.nextId()}`, from, body, timestamp: Math.floor(Date.now() / 1_000) });
    this.deliverIncoming();
  }

  /**
   * A contact sends a file (with a caption); its download fails `failDownloads` times first, or always
   * when `gone` (WhatsApp no longer has it: undefined).
   */
  receiveMedia(from: string, file: DownloadedMedia & { readonly type: string; readonly caption?: string; readonly failDownloads?: number; readonly gone?: boolean }): void {
    let failures = file.failDownloads ?? 0;
    const media = {
      type: file.type,
      download: async (): Promise<DownloadedMedia | undefined> => {
        if (file.gone === true) return undefined;
        if (failures-- > 0) throw new Error('download failed (simulated)');
        return { data: file.data, mimetype: file.mimetype, filename: file.filename };
      },
    };
    this.pendingIncoming.push({ waMessageId: `false_${from}_${this.nextId()}`, from, body: file.caption ?? '', timestamp: Math.floor(Date.now() / 1_000), media });
    this.deliverIncoming();
  }

  /** Hands held incoming messages to a ready client, if there is one. */
  deliverIncoming(): void {
    const reader = [...this.live].find((driver) => driver.isReady);
    if (reader === undefined || !this.online) return;
    for (const message of this.pendingIncoming.splice(0)) reader.emit('incoming', message);
  }

  /** The account's own messages to `wid`, in sending order, transmitted or not (the chat's view). */
  ownMessagesTo(wid: string): FakeSentMessage[] {
    return [...this.sent, ...this.pending].filter((m) => m.to === wid);
  }

  /** The servers received `message`: record it and ack it 1 → 2 → 3 to the clients alive then. */
  transmit(message: FakeSentMessage): void {
    this.sent.push({ ...message, receivedAtMs: Date.now() });
    for (const [index, ack] of [1, 2, 3].entries()) {
      setTimeout(() => {
        for (const driver of this.live) driver.ack(message.waMessageId, ack);
      }, index * this.ackDelayMs);
    }
  }

  messagesTo(wid: string): FakeSentMessage[] {
    return this.sent.filter((m) => m.to === wid);
  }

  nextId(): string {
    this.sequence += 1;
    return `3EB0${this.sequence.toString(16).toUpperCase().padStart(16, '0')}`;
  }
}

export class FakeDriver extends EventEmitter<DriverEvents> implements WhatsAppDriver {
  private state: 'new' | 'initialized' | 'ready' | 'ended' | 'crashed' | 'destroyed' = 'new';
  private qrTimer: NodeJS.Timeout | undefined;
  private codeTimer: NodeJS.Timeout | undefined;
  /** The pairing code this client shows (linking by code), and the number it was asked for. */
  pairing: { code: string; phoneNumber: string } | undefined;

  constructor(
    private readonly world: FakeWhatsApp,
    private readonly link?: LinkByCode,
  ) {
    super();
  }

  /** Shows a new pairing code for `phoneNumber`, and a newer one every `qrIntervalMs`, like whatsapp-web.js. */
  private showCodes(phoneNumber: string): string {
    const issue = (): string => {
      const code = this.world.nextId().slice(-8);
      this.pairing = { code, phoneNumber };
      this.emit('code', code);
      return code;
    };
    clearInterval(this.codeTimer);
    this.codeTimer = setInterval(() => this.state === 'initialized' && issue(), this.world.qrIntervalMs);
    return issue();
  }

  async requestPairingCode(phoneNumber: string): Promise<string> {
    if (this.state !== 'initialized') throw new Error(`a pairing code is asked for by a client that waits to be linked (this one is ${this.state})`);
    if (this.world.failPairingCodeRequests && this.link === undefined) throw new TypeError('window.onCodeReceivedEvent is not a function');
    return this.showCodes(phoneNumber);
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  async initialize(): Promise<void> {
    if (this.state !== 'new') throw new Error('a driver is initialised once; create a new one');
    this.world.initializeCalls += 1;
    if (this.world.failNextInitialize > 0) {
      this.world.failNextInitialize -= 1;
      throw new Error('Failed to launch the browser process (fake)');
    }
    this.state = 'initialized';
    this.world.live.add(this);
    this.world.maxLive = Math.max(this.world.maxLive, this.world.live.size);
    await Promise.resolve();
    if (this.world.paired && this.world.rejectNextRestores > 0) {
      this.world.rejectNextRestores -= 1;
      setImmediate(() => this.state === 'initialized' && this.emit('auth_failure', 'Unable to log in. Are the session details valid?'));
    } else if (this.world.paired) {
      setImmediate(() => this.simulatePaired());
    } else if (this.link !== undefined) {
      const { phoneNumber } = this.link;
      setImmediate(() => this.state === 'initialized' && this.showCodes(phoneNumber));
    } else {
      const rotate = (): void => {
        if (this.state === 'initialized' && !this.world.qrHeld) this.emit('qr', `2@fake-${this.world.nextId()},ref`);
      };
      setImmediate(rotate);
      this.qrTimer = setInterval(rotate, this.world.qrIntervalMs);
    }
  }

  simulatePaired(): void {
    if (this.state !== 'initialized') return;
    clearInterval(this.qrTimer);
    clearInterval(this.codeTimer);
    this.pairing = undefined;
    this.state = 'ready';
    this.emit('authenticated');
    if (this.world.stallAfterAuthenticated > 0) {
      this.world.stallAfterAuthenticated -= 1;
      return;
    }
    setImmediate(() => {
      if (this.state !== 'ready') return;
      this.emit('ready', this.world.me);
      this.world.deliverIncoming();
    });
  }

  /** Emits the lifetime's last event (`disconnected` or `crashed`); the real driver emits nothing after. */
  end(event: 'disconnected' | 'crashed', reason: string): void {
    if (this.state !== 'ready' && !(event === 'crashed' && this.state === 'initialized')) return;
    clearInterval(this.qrTimer);
    clearInterval(this.codeTimer);
    this.state = event === 'crashed' ? 'crashed' : 'ended';
    this.world.abandonWaits(this, reason);
    this.emit(event, reason);
  }

  /** An ack from the servers: only a live client hears it. */
  ack(waMessageId: string, ack: number): void {
    if (this.state === 'ready') this.emit('ack', waMessageId, ack);
  }

  async destroy(): Promise<void> {
    clearInterval(this.qrTimer);
    clearInterval(this.codeTimer);
    this.state = 'destroyed';
    this.world.abandonWaits(this, 'destroyed');
    this.world.live.delete(this);
  }

  async logout(): Promise<void> {
    const running = this.state === 'initialized' || this.state === 'ready';
    if (running) this.world.paired = false;
    await this.destroy();
    if (!running) throw new Error('cannot log out: the client is not running');
  }

  async getState(): Promise<string | null> {
    this.world.stateReads += 1;
    if (this.world.hangGetState) return new Promise<never>(() => undefined);
    switch (this.state) {
      case 'ready':
        return this.world.online ? 'CONNECTED' : 'TIMEOUT';
      case 'initialized':
        return 'UNPAIRED';
      case 'crashed':
        throw new Error('Attempted to use detached Frame (fake: the browser crashed)');
      default:
        return null;
    }
  }

  async canSendVideo(): Promise<boolean> {
    this.assertReady();
    return this.world.videoCodecs;
  }

  sendText(wid: string, text: string): Promise<{ waMessageId: string }> {
    return this.send(wid, text);
  }

  sendMedia(wid: string, media: OutgoingMedia): Promise<{ waMessageId: string }> {
    const sha256 = createHash('sha256').update(media.data).digest('hex');
    return this.send(wid, media.caption ?? '', { mimetype: media.mimetype, filename: media.filename, size: media.data.length, sha256, mode: media.mode });
  }

  private async send(wid: string, text: string, media?: FakeSentMessage['media']): Promise<{ waMessageId: string }> {
    this.assertReady();
    this.world.beforeSend?.(wid, text);
    const failure = this.world.failNextSends.shift();
    if (failure !== undefined) throw failure;
    if (this.world.registered !== null && !this.world.registered.has(wid) && !wid.endsWith('@g.us')) throw new Error('No LID for user');
    const message: FakeSentMessage = { waMessageId: `true_${wid}_${this.world.nextId()}`, to: wid, body: text, timestamp: Math.floor(Date.now() / 1_000), ...(media === undefined ? {} : { media }) };
    // Like whatsapp-web.js with waitUntilMsgSent: queued locally at once (offline it goes out on
    // reconnect), resolved once the servers have it.
    if (this.world.online) this.world.transmit(message);
    else this.world.pending.push(message);
    await this.world.afterAccept?.(message);
    await this.world.waitForConnection(this);
    return { waMessageId: message.waMessageId };
  }

  async recentOwnMessages(wid: string, limit: number): Promise<OwnMessage[]> {
    this.assertReady();
    return this.world.ownMessagesTo(wid).slice(-limit).map(({ waMessageId, body, timestamp, media }) => ({ waMessageId, body, timestamp, ...(media === undefined ? {} : { sha256: media.sha256 }) }));
  }

  async hasChat(wid: string): Promise<boolean> {
    this.assertReady();
    return this.world.existingChats.has(wid) || this.world.sent.some((m) => m.to === wid) || this.world.pending.some((m) => m.to === wid);
  }

  async showTyping(wid: string, ms: number, signal?: AbortSignal): Promise<void> {
    this.assertReady();
    this.world.typings.push({ to: wid, ms, at: Date.now() });
    this.world.chatStates.push({ to: wid, state: 'typing' });
    try {
      await abortableDelay(ms, signal);
    } finally {
      this.world.chatStates.push({ to: wid, state: 'stop' });
    }
  }

  async numberId(number: string): Promise<string | null> {
    this.assertReady();
    const wid = this.world.numberIds.get(number) ?? `${number}@c.us`;
    return this.world.registered === null || this.world.registered.has(wid) ? wid : null;
  }

  private assertReady(): void {
    if (this.state !== 'ready') throw new Error(`the client is not ready (${this.state})`);
  }
}
