/**
 * The driver contract: one test battery that every `WhatsAppDriver` passes — `FakeDriver` in the unit
 * layer (fake-driver.contract.test.ts) and `WwebjsDriver` against the simulator in the E2E layer
 * (wwebjs-driver.e2e.test.ts). When the two disagree, the real one is right and the fake is fixed.
 *
 * The cases run in order on one simulated account and share its pairing (a real pairing costs a
 * Chromium start), so each case builds on the previous one: read them top to bottom.
 */
import { createHash, randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { LOGOUT_REASON, type DriverEvents, type DriverMe, type LinkByCode, type WhatsAppDriver } from './driver.js';

export interface ContractSentMessage {
  readonly waMessageId: string;
  readonly body: string;
  /** A file's hex sha256, of the bytes WhatsApp received. */
  readonly sha256?: string | undefined;
}

/** The simulated phone and WhatsApp's servers, as the battery scripts them. */
export interface ContractPhone {
  /** Scan the QR code on screen (links the device). */
  scan(): Promise<void> | void;
  /** The phone's owner enters a pairing code a client shows. */
  enterCode(code: string): Promise<void> | void;
  /** "Log out" this device from the phone's Linked devices screen. */
  unlink(): Promise<void> | void;
  /** The connection to WhatsApp drops and stays down (the phone or network is offline). */
  goOffline(): Promise<void> | void;
  goOnline(): Promise<void> | void;
  /** A contact (`from`, a `…@c.us` id) writes to the account. */
  receive(from: string, body: string): Promise<void> | void;
  /** A contact sends a file with a caption. */
  receiveFile(from: string, file: { readonly data: Buffer; readonly mimetype: string; readonly caption: string }): Promise<void> | void;
  /** What WhatsApp received from the account for `wid`, in arrival order. */
  sentTo(wid: string): Promise<ContractSentMessage[]> | ContractSentMessage[];
  /** The chat states (`typing`, `stop`) the account showed in the chat with `wid`, in order. */
  chatStates(wid: string): Promise<string[]> | string[];
}

export interface DriverContractHarness {
  /** A new driver on the same saved session (profile) every time, like the controller's factory. */
  createDriver(link?: LinkByCode): WhatsAppDriver;
  readonly phone: ContractPhone;
  /** A contact that is on WhatsApp. */
  readonly peerWid: string;
  /** A `…@c.us` id that is not on WhatsApp. */
  readonly unregisteredWid: string;
  /** A contact on WhatsApp the account never writes to (no chat with it). */
  readonly strangerWid: string;
  /** Stops the phone, removes temporary files; drivers are destroyed by the battery before. */
  cleanup(): Promise<void>;
}

export interface DriverContractOptions {
  /** How long to wait for one driver event. @defaultValue 30_000 */
  readonly eventTimeoutMs?: number;
}

type EventName = keyof DriverEvents;

interface Recorded {
  readonly name: EventName;
  readonly args: unknown[];
  readonly at: number;
}

const EVENT_NAMES: readonly EventName[] = ['qr', 'code', 'authenticated', 'ready', 'auth_failure', 'disconnected', 'ack', 'incoming', 'crashed'];

/** Everything a driver emitted, in order, with waits on future (or past) events. */
export class DriverEventLog {
  readonly events: Recorded[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(
    driver: WhatsAppDriver,
    private readonly timeoutMs: number,
  ) {
    for (const name of EVENT_NAMES) {
      (driver.on as (event: EventName, listener: (...args: unknown[]) => void) => WhatsAppDriver)(name, (...args) => {
        this.events.push({ name, args, at: Date.now() });
        for (const waiter of [...this.waiters]) waiter();
      });
    }
  }

  names(): EventName[] {
    return this.events.map((e) => e.name);
  }

  has(name: EventName): boolean {
    return this.events.some((e) => e.name === name);
  }

  /** The first event `name` (already emitted or coming) whose arguments match; rejects after the timeout. */
  waitFor<K extends EventName>(name: K, match: (...args: DriverEvents[K]) => boolean = () => true, timeoutMs = this.timeoutMs): Promise<DriverEvents[K]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.events.find((e) => e.name === name && match(...(e.args as DriverEvents[K])));
        if (found === undefined) return;
        done();
        resolve(found.args as DriverEvents[K]);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no "${name}" event within ${timeoutMs} ms; events so far: ${this.names().join(', ') || 'none'}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

export function describeDriverContract(name: string, createHarness: () => Promise<DriverContractHarness> | DriverContractHarness, options: DriverContractOptions = {}): void {
  const eventTimeoutMs = options.eventTimeoutMs ?? 30_000;
  const waitOptions = { timeout: eventTimeoutMs, interval: 20 };

  describe(`WhatsAppDriver contract: ${name}`, () => {
    let h: DriverContractHarness;
    const drivers: WhatsAppDriver[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

    // The state the cases share, in order.
    let driver: WhatsAppDriver;
    let log: DriverEventLog;
    let me: DriverMe;
    const sent: ContractSentMessage[] = [];
    let incomingBody: string;

    const start = (link?: LinkByCode): { driver: WhatsAppDriver; log: DriverEventLog } => {
      const created = h.createDriver(link);
      drivers.push(created);
      return { driver: created, log: new DriverEventLog(created, eventTimeoutMs) };
    };
    const sentTo = async (wid: string): Promise<ContractSentMessage[]> => h.phone.sentTo(wid);
    const copiesOf = async (waMessageId: string): Promise<number> => (await sentTo(h.peerWid)).filter((m) => m.waMessageId === waMessageId).length;

    beforeAll(async () => {
      process.on('unhandledRejection', onUnhandled);
      h = await createHarness();
    });

    afterAll(async () => {
      process.off('unhandledRejection', onUnhandled);
      await Promise.all(drivers.map((d) => d.destroy().catch(() => undefined)));
      await h?.cleanup();
    });

    it('a fresh start shows a QR; a scan authenticates, then gets ready with the account', async () => {
      ({ driver, log } = start());
      await driver.initialize();
      const [qr] = await log.waitFor('qr');
      expect(qr).toEqual(expect.any(String));
      expect(qr.length).toBeGreaterThan(0);
      expect(await driver.getState()).not.toBe('CONNECTED');

      await h.phone.scan();
      await log.waitFor('authenticated');
      [me] = await log.waitFor('ready');
      expect(me.wid).toMatch(/^\d+@c\.us$/);
      expect(log.names().indexOf('authenticated')).toBeLessThan(log.names().indexOf('ready'));
    });

    it('getState() is CONNECTED when ready', async () => {
      expect(await driver.getState()).toBe('CONNECTED');
    });

    it('initialize() runs once per driver', async () => {
      await expect(driver.initialize()).rejects.toThrow(/once/);
    });

    it('sendText returns the WA message id; WhatsApp records it exactly once; acks carry that id, rising', async () => {
      const body = 'hello from the driver contract';
      const { waMessageId } = await driver.sendText(h.peerWid, body);
      expect(waMessageId).toMatch(new RegExp(`^true_${h.peerWid.replace('.', '\\.')}_\\w+$`));
      sent.push({ waMessageId, body });

      await vi.waitFor(async () => expect(await copiesOf(waMessageId)).toBe(1), waitOptions);
      expect((await sentTo(h.peerWid)).find((m) => m.waMessageId === waMessageId)?.body).toBe(body);
      await log.waitFor('ack', (id, ack) => id === waMessageId && ack === 3);
      const acks = log.events.filter((e) => e.name === 'ack' && e.args[0] === waMessageId).map((e) => e.args[1] as number);
      expect(acks[0]).toBe(1);
      expect([...acks].sort()).toEqual(acks);
    });

    it('numberId gives the WhatsApp id of a number on WhatsApp and null for one without; sendText to an unregistered id rejects and sends nothing', async () => {
      expect(await driver.numberId(h.peerWid.split('@')[0]!)).toBe(h.peerWid);
      expect(await driver.numberId(h.unregisteredWid.split('@')[0]!)).toBeNull();
      await expect(driver.sendText(h.unregisteredWid, 'nobody reads this')).rejects.toThrow();
      expect(await sentTo(h.unregisteredWid)).toEqual([]);
    });

    it('hasChat knows a chat written to, and no chat with a contact never written to (asking creates none)', async () => {
      expect(await driver.hasChat(h.peerWid)).toBe(true);
      expect(await driver.hasChat(h.strangerWid)).toBe(false);
      expect(await driver.hasChat(h.strangerWid)).toBe(false);
    });

    it('showTyping shows "typing…" in the chat for the time asked, then clears it', async () => {
      const started = Date.now();
      await driver.showTyping(h.peerWid, 300);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      await vi.waitFor(async () => expect((await h.phone.chatStates(h.peerWid)).slice(-2)).toEqual(['typing', 'stop']), waitOptions);
    });

    it('an incoming message becomes an incoming event', async () => {
      incomingBody = `hi gateway ${Date.now()}`;
      const before = Math.floor(Date.now() / 1_000);
      await h.phone.receive(h.peerWid, incomingBody);
      const [message] = await log.waitFor('incoming', (m) => m.body === incomingBody);
      expect(message.from).toBe(h.peerWid);
      expect(message.waMessageId).toMatch(new RegExp(`^false_${h.peerWid.replace('.', '\\.')}_\\w+$`));
      expect(message.timestamp).toBeGreaterThanOrEqual(before - 5);
      expect(message.timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1_000) + 5);
    });

    it('recentOwnMessages lists what was sent, newest last, and no incoming message', async () => {
      const body = 'a second message';
      sent.push({ waMessageId: (await driver.sendText(h.peerWid, body)).waMessageId, body });
      const own = await driver.recentOwnMessages(h.peerWid, 10);
      expect(own.map(({ waMessageId, body: text }) => ({ waMessageId, body: text }))).toEqual(sent);
      expect(own.every((m) => Number.isInteger(m.timestamp) && m.timestamp > 1_600_000_000)).toBe(true);
      expect(own.some((m) => m.body === incomingBody)).toBe(false);
      expect(await driver.recentOwnMessages(h.peerWid, 1)).toEqual([expect.objectContaining({ waMessageId: sent.at(-1)?.waMessageId })]);
    });

    it('sendMedia sends a file once; recentOwnMessages knows it by its sha256; a file from a contact downloads to the same bytes', async () => {
      const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
      const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(50_000)]);
      const { waMessageId } = await driver.sendMedia(h.peerWid, { data: pdf, mimetype: 'application/pdf', filename: 'a.pdf', caption: 'a file', mode: 'auto' });
      sent.push({ waMessageId, body: 'a file' });
      expect(await copiesOf(waMessageId)).toBe(1);
      expect((await sentTo(h.peerWid)).find((m) => m.waMessageId === waMessageId)?.sha256).toBe(sha256(pdf));
      const own = await driver.recentOwnMessages(h.peerWid, 10);
      expect(own.find((m) => m.waMessageId === waMessageId)).toMatchObject({ body: 'a file', sha256: sha256(pdf) });
      expect(own.filter((m) => m.waMessageId !== waMessageId).every((m) => m.sha256 === undefined)).toBe(true);

      const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(50_000)]);
      await h.phone.receiveFile(h.peerWid, { data: jpeg, mimetype: 'image/jpeg', caption: 'a photo' });
      const [message] = await log.waitFor('incoming', (m) => m.body === 'a photo');
      expect(message.media?.type).toBe('image');
      const downloaded = await message.media?.download();
      expect(downloaded?.mimetype).toBe('image/jpeg');
      expect(downloaded === undefined ? undefined : sha256(downloaded.data)).toBe(sha256(jpeg));
    });

    it('the connection dropping is not a disconnect: TIMEOUT, then CONNECTED; a send meanwhile resolves once it went out, and arrives once', async () => {
      await h.phone.goOffline();
      await vi.waitFor(async () => expect(await driver.getState()).toBe('TIMEOUT'), waitOptions);
      const body = 'sent while offline';
      let settled = false;
      const sending = driver.sendText(h.peerWid, body).finally(() => (settled = true));
      // Queued by WhatsApp Web, but not sent: the promise waits for the servers.
      await vi.waitFor(async () => expect((await driver.recentOwnMessages(h.peerWid, 10)).some((m) => m.body === body)).toBe(true), waitOptions);
      expect(settled).toBe(false);
      expect((await sentTo(h.peerWid)).some((m) => m.body === body)).toBe(false);

      await h.phone.goOnline();
      const { waMessageId } = await sending;
      sent.push({ waMessageId, body });
      await vi.waitFor(async () => expect(await driver.getState()).toBe('CONNECTED'), waitOptions);
      expect(await copiesOf(waMessageId)).toBe(1);
      await log.waitFor('ack', (id, ack) => id === waMessageId && ack >= 1);
      expect((await sentTo(h.peerWid)).map((m) => m.waMessageId)).toEqual(sent.map((m) => m.waMessageId));
      expect(log.has('disconnected') || log.has('crashed')).toBe(false);
    });

    it('a new driver after destroy() restores the session: ready with no QR, the same account, the history', async () => {
      await driver.destroy();
      const previous = driver;
      ({ driver, log } = start());
      const initializing = driver.initialize();
      initializing.catch(() => undefined); // awaited below; `ready` may come first
      const [restored] = await log.waitFor('ready');
      expect(restored.wid).toBe(me.wid);
      expect(log.has('qr')).toBe(false);
      // Usable from the ready event on, whether or not initialize() has resolved yet.
      expect((await driver.recentOwnMessages(h.peerWid, 10)).map((m) => m.waMessageId)).toEqual(sent.map((m) => m.waMessageId));
      await initializing;
      // The destroyed one stays quiet and inert.
      expect(await previous.getState()).toBeNull();
      await expect(previous.sendText(h.peerWid, 'from the grave')).rejects.toThrow();
    });

    it('destroy() can be called twice, also at once', async () => {
      const { driver: spare } = start();
      await Promise.all([spare.destroy(), spare.destroy()]);
      await spare.destroy();
      await drivers[0]?.destroy();
    });

    it('unlinking from the phone emits disconnected(LOGOUT) and ends the lifetime; destroying right away is safe', async () => {
      // Like the session controller: tear the client down synchronously from the disconnected handler.
      let destroyed: Promise<void> | undefined;
      driver.once('disconnected', () => {
        destroyed = driver.destroy();
      });
      await h.phone.unlink();
      const [reason] = await log.waitFor('disconnected');
      expect(reason).toBe(LOGOUT_REASON);
      await destroyed;
      const after = log.events.slice(log.names().indexOf('disconnected') + 1).map((e) => e.name);
      expect(after).toEqual([]);
      await expect(driver.sendText(h.peerWid, 'after the unlink')).rejects.toThrow();
    });

    it('after an unlink the next driver starts unpaired: a QR, not ready; asked for a pairing code, it shows one, and the phone links by it', async () => {
      ({ driver, log } = start());
      await driver.initialize();
      await log.waitFor('qr');
      expect(log.has('ready')).toBe(false);
      // A client made for a QR code, asked for a code (the pitfall of whatsapp-web.js before 1.34).
      const code = await driver.requestPairingCode(me.wid.split('@')[0]!);
      expect(code).toMatch(/^[A-Z0-9]{8}$/);
      const [emitted] = await log.waitFor('code');
      expect(emitted).toBe(code);
      await h.phone.enterCode(code);
      const [linked] = await log.waitFor('ready');
      expect(linked.wid).toBe(me.wid);
      await driver.destroy();
    });

    it('a driver made to link by code shows a code instead of a QR, and the phone links by it', async () => {
      await h.phone.unlink();
      ({ driver, log } = start({ method: 'code', phoneNumber: me.wid.split('@')[0]! }));
      await driver.initialize();
      const [code] = await log.waitFor('code');
      expect(code).toMatch(/^[A-Z0-9]{8}$/);
      expect(log.has('qr')).toBe(false);
      await h.phone.enterCode(code);
      await log.waitFor('ready');
      await driver.destroy();
    });

    it('left no unhandled promise rejection behind', () => {
      expect(unhandled).toEqual([]);
    });
  });
}
