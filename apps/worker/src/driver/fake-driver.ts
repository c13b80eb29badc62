/**
 * An in-memory WhatsApp for fast tests and benchmarks. `FakeWhatsApp` plays the servers, the phone and
 * the saved profile; each `FakeDriver` is one client lifetime bound to it. It passes the same contract
 * battery as the real driver, and adds fault hooks the real one cannot offer cheaply.
 */
import { EventEmitter } from 'node:events';

import { LOGOUT_REASON, type DriverEvents, type DriverMe, type OwnMessage, type WhatsAppDriver } from './driver.js';

export interface FakeSentMessage {
  readonly waMessageId: string;
  readonly to: string;
  readonly body: string;
  readonly timestamp: number;
}

export interface FakeWhatsAppOptions {
  /** Rotate the QR this often while unpaired. @defaultValue 1000 */
  readonly qrIntervalMs?: number;
  /** Users that have WhatsApp; `null` means everyone. @defaultValue null */
  readonly registered?: readonly string[] | null;
  readonly me?: DriverMe;
}

export class FakeWhatsApp {
  /** The saved session: survives driver lifetimes like a LocalAuth profile. */
  paired = false;
  readonly sent: FakeSentMessage[] = [];
  readonly registered: Set<string> | null;
  readonly me: DriverMe;
  readonly qrIntervalMs: number;
  initializeCalls = 0;
  /** Drivers initialised and not destroyed: more than one is a second Chromium on one profile. */
  readonly live = new Set<FakeDriver>();
  maxLive = 0;
  /** Fault hooks. */
  failNextInitialize = 0;
  failNextSends: Error[] = [];
  hangGetState = false;
  /** Called inside sendText after WhatsApp "accepted" the message but before it returns. */
  afterAccept: ((message: FakeSentMessage) => Promise<void> | void) | undefined;
  private sequence = 0;

  constructor(options: FakeWhatsAppOptions = {}) {
    this.qrIntervalMs = options.qrIntervalMs ?? 1_000;
    this.registered = options.registered === undefined || options.registered === null ? null : new Set(options.registered);
    this.me = options.me ?? { wid: '4915000000001@c.us', pushname: 'waq test' };
  }

  createDriver = (): FakeDriver => new FakeDriver(this);

  /** The phone scans the current QR. */
  scan(): void {
    this.paired = true;
    for (const driver of this.live) driver.simulatePaired();
  }

  /** The phone unlinks this device. */
  unlink(): void {
    this.paired = false;
    for (const driver of this.live) driver.emit('disconnected', LOGOUT_REASON);
  }

  /** The connection drops (phone offline, network gone). */
  dropConnection(reason = 'TIMEOUT'): void {
    for (const driver of this.live) driver.emit('disconnected', reason);
  }

  /** The browser dies without a disconnect event. */
  crash(): void {
    for (const driver of this.live) driver.emit('crashed', 'browser process exited');
  }

  /** A contact writes to us. */
  receive(from: string, body: string): void {
    const message = { waMessageId: `false_${from}_${this.nextId()}`, from, body, timestamp: Math.floor(Date.now() / 1_000) };
    for (const driver of this.live) driver.emit('incoming', message);
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
  private state: 'new' | 'initialized' | 'ready' | 'destroyed' = 'new';
  private qrTimer: NodeJS.Timeout | undefined;

  constructor(private readonly world: FakeWhatsApp) {
    super();
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
    if (this.world.paired) {
      setImmediate(() => this.simulatePaired());
    } else {
      const rotate = (): void => {
        if (this.state === 'initialized') this.emit('qr', `2@fake-${this.world.nextId()},ref`);
      };
      setImmediate(rotate);
      this.qrTimer = setInterval(rotate, this.world.qrIntervalMs);
    }
  }

  simulatePaired(): void {
    if (this.state !== 'initialized') return;
    clearInterval(this.qrTimer);
    this.state = 'ready';
    this.emit('authenticated');
    setImmediate(() => {
      if (this.state === 'ready') this.emit('ready', this.world.me);
    });
  }

  async destroy(): Promise<void> {
    clearInterval(this.qrTimer);
    this.state = 'destroyed';
    this.world.live.delete(this);
  }

  async logout(): Promise<void> {
    this.world.paired = false;
    await this.destroy();
  }

  async getState(): Promise<string | null> {
    if (this.world.hangGetState) return new Promise<never>(() => undefined);
    return this.state === 'ready' ? 'CONNECTED' : this.state === 'initialized' ? 'UNPAIRED' : null;
  }

  async isRegistered(wid: string): Promise<boolean> {
    this.assertReady();
    return this.world.registered === null || this.world.registered.has(wid);
  }

  async sendText(wid: string, text: string): Promise<{ waMessageId: string }> {
    this.assertReady();
    const failure = this.world.failNextSends.shift();
    if (failure !== undefined) throw failure;
    if (this.world.registered !== null && !this.world.registered.has(wid) && !wid.endsWith('@g.us')) throw new Error('No LID for user');
    const message: FakeSentMessage = { waMessageId: `true_${wid}_${this.world.nextId()}`, to: wid, body: text, timestamp: Math.floor(Date.now() / 1_000) };
    this.world.sent.push(message);
    await this.world.afterAccept?.(message);
    setImmediate(() => this.emit('ack', message.waMessageId, 1));
    return { waMessageId: message.waMessageId };
  }

  async recentOwnMessages(wid: string, limit: number): Promise<OwnMessage[]> {
    this.assertReady();
    return this.world.messagesTo(wid).slice(-limit).map(({ waMessageId, body, timestamp }) => ({ waMessageId, body, timestamp }));
  }

  private assertReady(): void {
    if (this.state !== 'ready') throw new Error(`the client is not ready (${this.state})`);
  }
}
