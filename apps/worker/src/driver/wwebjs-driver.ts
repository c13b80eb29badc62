/**
 * The real WhatsApp driver: one whatsapp-web.js `Client` (pinned 1.34.7) and its Chromium.
 *
 * Built from Client options, so production passes `whatsappClientOptions()` (real WhatsApp Web) and the
 * sandbox and tests pass `prepareSimClientOptions()` from `@waq/wa-sim`. What it adds to the library:
 * - a bound on `initialize()`: a restored session whose server is unreachable stays OPENING and the
 *   library waits forever; on timeout the driver closes what it launched and rejects;
 * - `crashed` when Chromium or the page dies: the library emits nothing on a kill -9 of Chromium;
 * - a bounded `destroy()` that SIGKILLs Chromium's process group when closing hangs, and leaves none;
 * - no unhandled rejections out of the library's own listeners (they would end the worker process);
 * - one lifetime per instance: after `disconnected` or `crashed` (or once closing) it emits nothing more.
 */
import { EventEmitter } from 'node:events';

import type { Logger } from '@waq/shared';
import wwebjs from 'whatsapp-web.js';
import { z } from 'zod';

import { killProcessGroup, processGroupAlive, waitForProcessGroupExit } from './chromium.js';
import { LOGOUT_REASON, PAIRING_CODE_INTERVAL_MS, type DriverEvents, type DriverFactory, type LinkByCode, type OutgoingMedia, type OwnMessage, type WhatsAppDriver } from './driver.js';
import { abortableDelay } from '../lease.js';
import { withTimeout } from '../with-timeout.js';

export type DriverLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface WwebjsDriverOptions {
  readonly logger: DriverLogger;
  /**
   * Bound on `initialize()` (Chromium launch + page load + injection), in ms. whatsapp-web.js has none
   * while a restored session waits for a server that does not answer.
   * @defaultValue 60_000
   */
  readonly initTimeoutMs?: number;
  /** Bound on closing Chromium gracefully before its process group is killed, in ms. @defaultValue 10_000 */
  readonly closeTimeoutMs?: number;
  /** Bound on asking WhatsApp to unlink this device in `logout()`, in ms. @defaultValue 15_000 */
  readonly logoutTimeoutMs?: number;
}

export interface WwebjsDriverFactoryOptions extends WwebjsDriverOptions {
  /** Called once per driver: a LocalAuth instance binds to one Client, so each needs fresh options. */
  readonly clientOptions: () => wwebjs.ClientOptions;
}

/** Client options that link by code for `link` (whatsapp-web.js `pairWithPhoneNumber`), or `base` as it is. */
export function withLink(base: wwebjs.ClientOptions, link: LinkByCode | undefined): wwebjs.ClientOptions {
  return link === undefined ? base : { ...base, pairWithPhoneNumber: { phoneNumber: link.phoneNumber, showNotification: true, intervalMs: PAIRING_CODE_INTERVAL_MS } };
}

/** A new `WwebjsDriver` (and Client) per call, as the session controller wants for every (re)connect. */
export function createWwebjsDriverFactory({ clientOptions, ...options }: WwebjsDriverFactoryOptions): DriverFactory {
  return (link) => new WwebjsDriver(withLink(clientOptions(), link), options);
}

/** How long `destroy()` lets the library finish its own post-LOGOUT clean-up first (see `close`). */
const RELOGIN_SETTLE_MS = 5_000;
/** How long `destroy()` waits for a Chromium launch in progress, to close it: puppeteer's launch timeout + margin. */
const LAUNCH_SETTLE_MS = 35_000;

type Phase = 'new' | 'initializing' | 'running' | 'closing' | 'closed';

/** The library internals the driver wraps (1.34.7); `inject` is private, hence not in the typings. */
interface ClientInternals {
  inject(): Promise<void>;
  authStrategy: { afterBrowserInitialized(): Promise<void> };
}

/** What `getNumberId` answers (a Wid as the page serialises it), or null. */
const numberIdSchema = z.object({ user: z.string().min(1), server: z.string().min(1), _serialized: z.string().min(1).optional() });

/** A media message's `filehash` (base64 SHA-256) from the library's raw message data, when it has one. */
const rawFilehashSchema = z.object({ filehash: z.string().min(1) });
function filehashOf(raw: unknown): string | undefined {
  const parsed = rawFilehashSchema.safeParse(raw);
  return parsed.success ? parsed.data.filehash : undefined;
}

export class WwebjsDriver extends EventEmitter<DriverEvents> implements WhatsAppDriver {
  private readonly client: wwebjs.Client;
  private readonly logger: DriverLogger;
  private readonly initTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly logoutTimeoutMs: number;
  private phase: Phase = 'new';
  /** `disconnected` or `crashed` was emitted: this lifetime is over. */
  private ended = false;
  private ready = false;
  /** The browser's answer on H.264/AAC, asked once per client. */
  private videoSupport: Promise<boolean> | undefined;
  private injectedOnce = false;
  private watching = false;
  private initSettled: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set from the LOGOUT `disconnected` until the library reaches its re-injection (its profile clean-up done). */
  private relogin: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Resolved once `initialize()` has launched Chromium (`client.pupBrowser` is set). */
  private readonly launched = deferred();
  private pid: number | undefined;

  constructor(clientOptions: wwebjs.ClientOptions, options: WwebjsDriverOptions) {
    super();
    this.logger = options.logger;
    this.initTimeoutMs = options.initTimeoutMs ?? 60_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.logoutTimeoutMs = options.logoutTimeoutMs ?? 15_000;
    // The session controller counts QR codes and decides when to give up; the library must not.
    this.client = new wwebjs.Client({ ...clientOptions, qrMaxRetries: 0 });
    this.wrapLaunch();
    this.wrapInject();
    this.wireClient();
  }

  /** Chromium's pid once launched (its process group id too), for metrics and crash hygiene. */
  browserPid(): number | undefined {
    return this.pid ?? this.client.pupBrowser?.process()?.pid ?? undefined;
  }

  async initialize(): Promise<void> {
    if (this.phase !== 'new') throw new Error('a driver is initialised once; create a new one');
    this.phase = 'initializing';
    const init = this.client.initialize();
    this.initSettled = init.then(
      () => undefined,
      () => undefined,
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`WhatsApp Web did not start within ${this.initTimeoutMs} ms (initTimeoutMs); is the server reachable?`)),
        this.initTimeoutMs,
      );
    });
    try {
      await Promise.race([init, timeout]);
    } catch (error) {
      await this.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (this.phase !== 'initializing') throw new Error('the driver was destroyed while it initialised');
    this.phase = 'running';
    this.watchBrowser();
  }

  destroy(): Promise<void> {
    this.closing ??= this.close();
    return this.closing;
  }

  async logout(): Promise<void> {
    if (!this.alive() || !this.client.pupPage) {
      await this.destroy();
      throw new Error(`cannot log out: the client is not running (${this.ended ? 'ended' : this.phase})`);
    }
    // Silence first: the unlink navigates the page, which the library reports as its own LOGOUT.
    this.phase = 'closing';
    this.ready = false;
    try {
      // Client.logout(): Socket.logout() in the page, close Chromium, then LocalAuth removes the profile.
      await withTimeout(this.client.logout(), this.logoutTimeoutMs, 'logout');
    } finally {
      await this.destroy();
    }
  }

  async getState(): Promise<string | null> {
    if (this.phase === 'new' || this.phase === 'closed' || !this.client.pupPage) return null;
    // Throws ("Attempted to use detached Frame") once the page is dead: the watchdog treats that as dead.
    return (await this.client.getState()) ?? null;
  }

  async canSendVideo(): Promise<boolean> {
    this.assertReady();
    const page = this.client.pupPage;
    if (!page) return false;
    this.videoSupport ??= page
      // A string: the worker's TypeScript has no DOM types, and this runs in the page.
      .evaluate(`typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E, mp4a.40.2"')`)
      .then((supported) => supported === true)
      .catch((error: unknown) => {
        this.videoSupport = undefined;
        throw error;
      });
    return this.videoSupport;
  }

  async sendText(wid: string, text: string): Promise<{ waMessageId: string }> {
    this.assertReady();
    // sendSeen: false — a gateway's send must not mark the human's unread messages in that chat as read.
    // waitUntilMsgSent: resolve on the server's answer, not when WhatsApp Web queued the message: one
    // queued while the phone was away and the device unlinked meanwhile never leaves (reliability
    // suite, scenario 5), and waq must not record it as sent.
    const message = await this.client.sendMessage(wid, text, { sendSeen: false, waitUntilMsgSent: true });
    return { waMessageId: message.id._serialized };
  }

  async sendMedia(wid: string, media: OutgoingMedia): Promise<{ waMessageId: string }> {
    this.assertReady();
    // The library takes the file as base64 and hands it to the page in one evaluate (a 20 MB file is
    // about 27 MB of it, once, for the length of the send).
    const file = new wwebjs.MessageMedia(media.mimetype, media.data.toString('base64'), media.filename ?? null, media.data.length);
    const message = await this.client.sendMessage(wid, file, {
      sendSeen: false,
      waitUntilMsgSent: true,
      ...(media.caption === undefined ? {} : { caption: media.caption }),
      sendMediaAsDocument: media.mode === 'document',
      sendAudioAsVoice: media.mode === 'voice',
      sendMediaAsSticker: media.mode === 'sticker',
    });
    return { waMessageId: message.id._serialized };
  }

  async requestPairingCode(phoneNumber: string): Promise<string> {
    if (this.phase !== 'running' || this.ready) throw new Error('a pairing code is asked for by a client that runs and waits to be linked');
    // whatsapp-web.js 1.34.7 exposes the page's `onCodeReceivedEvent` itself before asking (older ones did
    // not, and a client made for a QR code failed with "window.onCodeReceivedEvent is not a function"); the
    // session controller falls back to a client made for a code if this fails anyway.
    const code: unknown = await this.client.requestPairingCode(phoneNumber, true, PAIRING_CODE_INTERVAL_MS);
    return String(code);
  }

  async hasChat(wid: string): Promise<boolean> {
    this.assertReady();
    const page = this.client.pupPage;
    if (!page) return false;
    // WhatsApp Web's chat collection (whatsapp-web.js 1.34.7 reads it the same way in getChatById); a
    // string, since this runs in the page. `wid` is a validated WhatsApp id; JSON quotes it.
    const found: unknown = await page.evaluate(
      `(() => { const chat = window.require('WAWebCollections').Chat.get(${JSON.stringify(wid)}); return !!chat && ((chat.t || 0) > 0 || chat.msgs.length > 0); })()`,
    );
    return found === true;
  }

  async showTyping(wid: string, ms: number, signal?: AbortSignal): Promise<void> {
    this.assertReady();
    const chat = await this.client.getChatById(wid);
    await chat.sendStateTyping();
    await abortableDelay(ms, signal);
    await chat.clearState();
  }

  async numberId(number: string): Promise<string | null> {
    this.assertReady();
    const id: unknown = await this.client.getNumberId(number);
    const parsed = numberIdSchema.safeParse(id);
    if (!parsed.success) return null;
    return parsed.data._serialized ?? `${parsed.data.user}@${parsed.data.server}`;
  }

  async recentOwnMessages(wid: string, limit: number): Promise<OwnMessage[]> {
    this.assertReady();
    const chat = await this.client.getChatById(wid);
    if (!chat) return [];
    // Without a limit, fetchMessages returns the chat's loaded messages in chat order. With one it may
    // load earlier ones, but then sorts with a comparator that is inconsistent for equal timestamps
    // (1.34.7: `a.t > b.t ? 1 : -1`), which shuffles messages sent within one second: use it only to
    // reach further back than what is loaded.
    let messages = await chat.fetchMessages({ fromMe: true });
    if (messages.length < limit) messages = await chat.fetchMessages({ fromMe: true, limit });
    return messages.slice(-limit).map((m) => {
      const filehash = filehashOf(m.rawData);
      return { waMessageId: m.id._serialized, body: m.body, timestamp: m.timestamp, ...(filehash === undefined ? {} : { sha256: Buffer.from(filehash, 'base64').toString('hex') }) };
    });
  }

  /**
   * `ready` can come before `initialize()` resolves (a restored session), so readiness is the event's,
   * not the phase's.
   */
  private assertReady(): void {
    if (!this.ready || !this.alive()) throw new Error(`the client is not ready (${this.ended ? 'ended' : this.phase})`);
  }

  /** Launched or launching, not closing, and no `disconnected` / `crashed` yet. */
  private alive(): boolean {
    return !this.ended && (this.phase === 'initializing' || this.phase === 'running');
  }

  /** Events reach listeners only during the lifetime; a listener that throws is logged, not thrown into the library. */
  private forward<K extends keyof DriverEvents>(event: K, ...args: DriverEvents[K]): void {
    if (this.silenced) return;
    try {
      (this.emit as (event: K, ...args: DriverEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.logger.error({ err: error, event }, 'a WhatsApp driver event listener threw');
    }
  }

  private get silenced(): boolean {
    return this.ended || this.isClosing();
  }

  /** A method, not an inline comparison: the phase changes across awaits, which TypeScript's narrowing ignores. */
  private isClosing(): boolean {
    return this.phase === 'closing' || this.phase === 'closed';
  }

  private wireClient(): void {
    const client = this.client;
    client.on('qr', (qr: string) => this.forward('qr', qr));
    client.on('code', (code: unknown) => this.forward('code', String(code)));
    client.on('authenticated', () => this.forward('authenticated'));
    client.on('auth_failure', (message: string) => this.forward('auth_failure', String(message)));
    client.on('ready', () => {
      if (this.silenced) return;
      this.ready = true;
      const pushname = client.info.pushname;
      this.forward('ready', { wid: client.info.wid._serialized, ...(pushname ? { pushname } : {}) });
    });
    client.on('disconnected', (reason: string) => {
      // whatsapp-web.js 1.34.7 emits this for a LOGOUT (then deletes the profile and shows a new QR in
      // the same Client) and for any state it does not accept (CONFLICT, UNPAIRED, …; then it destroys
      // itself). Phone offline is not one: that is state TIMEOUT, and the page reconnects by itself.
      const mapped = reason === 'LOGOUT' ? LOGOUT_REASON : String(reason);
      if (mapped === LOGOUT_REASON && this.relogin === undefined) this.relogin = deferred();
      if (this.silenced) return;
      this.ready = false;
      this.forward('disconnected', mapped);
      this.ended = true;
    });
    client.on('message_ack', (message: wwebjs.Message, ack: number) => {
      if (message.id.fromMe) this.forward('ack', message.id._serialized, ack);
    });
    client.on('message', (message: wwebjs.Message) => {
      if (message.fromMe || message.id.fromMe || message.isStatus || message.from === 'status@broadcast') return;
      const media = message.hasMedia
        ? {
            type: message.type,
            download: async () => {
              const file = await message.downloadMedia();
              return file === undefined ? undefined : { data: Buffer.from(file.data, 'base64'), mimetype: file.mimetype, filename: file.filename ?? undefined };
            },
          }
        : undefined;
      this.forward('incoming', { waMessageId: message.id._serialized, from: message.from, body: message.body, timestamp: message.timestamp, ...(media === undefined ? {} : { media }) });
    });
  }

  /**
   * whatsapp-web.js calls `inject()` from `initialize()` and again from an async `framenavigated`
   * listener after every navigation (a LOGOUT reloads the page). A rejection there is unhandled and would
   * end the process: with 1.34.7, closing the browser during the post-LOGOUT re-injection rejects with
   * "Execution context was destroyed". The wrapper keeps the first call's rejection (initialize() must
   * fail) and logs later ones; a later failure while not closing means the page is broken: `crashed`.
   */
  private wrapInject(): void {
    const target = this.client as unknown as ClientInternals;
    const inject = target.inject.bind(this.client);
    target.inject = async (): Promise<void> => {
      const first = !this.injectedOnce;
      this.injectedOnce = true;
      this.relogin?.resolve();
      if (first) {
        this.watchBrowser();
        // Destroyed while Chromium was still launching: close what arrived late instead of injecting.
        if (this.isClosing()) {
          await this.killBrowser();
          throw new Error('the driver was destroyed while it initialised');
        }
        return inject();
      }
      if (this.isClosing()) return;
      try {
        await inject();
      } catch (error) {
        if (this.isClosing()) {
          this.logger.debug({ err: error }, 'whatsapp-web.js re-injection interrupted by closing (expected)');
          return;
        }
        this.logger.warn({ err: error }, 'whatsapp-web.js could not re-inject into WhatsApp Web after a navigation');
        this.onDead(`re-injection after a navigation failed: ${errorMessage(error)}`);
      }
    };
  }

  /**
   * `authStrategy.afterBrowserInitialized()` runs right after `initialize()` launched Chromium (and again,
   * from the library's post-LOGOUT listener, where it must not throw). A driver destroyed while Chromium
   * was starting closes it here, on the first call, so destroy() can promise that no browser survives it.
   */
  private wrapLaunch(): void {
    const strategy = (this.client as unknown as ClientInternals).authStrategy;
    const afterBrowserInitialized = strategy.afterBrowserInitialized.bind(strategy);
    let first = true;
    strategy.afterBrowserInitialized = async (): Promise<void> => {
      if (first) {
        first = false;
        this.launched.resolve();
        if (this.isClosing()) {
          await this.killBrowser();
          throw new Error('the driver was destroyed while Chromium started');
        }
      }
      return afterBrowserInitialized();
    };
  }

  /** Chromium exiting or the page crashing is only visible through puppeteer. Attached once both exist. */
  private watchBrowser(): void {
    const browser = this.client.pupBrowser;
    const page = this.client.pupPage;
    if (this.watching || !browser || !page) return;
    this.watching = true;
    this.pid = browser.process()?.pid ?? undefined;
    browser.once('disconnected', () => this.onDead('Chromium disconnected (the browser process exited or was killed)'));
    page.once('error', (error: Error) => this.onDead(`the page crashed: ${error.message}`));
    page.once('close', () => this.onDead('the page was closed'));
  }

  private onDead(reason: string): void {
    if (this.silenced) return;
    this.ready = false;
    this.forward('crashed', reason);
    this.ended = true;
  }

  private async close(): Promise<void> {
    const launching = this.phase === 'initializing' && !this.client.pupBrowser;
    this.phase = 'closing';
    this.ready = false;
    // Chromium is being launched: wait for it (the launch hook closes it) or for initialize() to fail.
    if (launching && this.initSettled !== undefined) {
      await withTimeout(Promise.race([this.launched.promise, this.initSettled]), LAUNCH_SETTLE_MS, 'the Chromium launch').catch(() => undefined);
    }
    // After a LOGOUT the library deletes the profile, recreates its dir and re-injects: let it reach the
    // re-injection (bounded) so its clean-up does not run after ours, then close under it.
    if (this.relogin !== undefined) await withTimeout(this.relogin.promise, RELOGIN_SETTLE_MS, 'post-LOGOUT clean-up').catch(() => undefined);
    try {
      await withTimeout(this.client.destroy(), this.closeTimeoutMs, 'closing Chromium');
    } catch (error) {
      this.logger.warn({ err: error, pid: this.browserPid() }, 'Chromium did not close cleanly; killing it');
    }
    await this.killBrowser();
    // Belt and braces: should initialize() still end up with a browser (a launch slower than the bound above).
    void this.initSettled?.then(() => this.killBrowser());
    this.phase = 'closed';
  }

  /**
   * Leaves no Chromium: SIGKILLs whatever is still alive of the browser's process group (all of it when
   * closing timed out; stragglers otherwise; a browser launched after destroy() began) and waits, bounded,
   * until it is gone.
   */
  private async killBrowser(): Promise<void> {
    const pid = this.browserPid();
    if (pid === undefined || !processGroupAlive(pid)) return;
    this.logger.debug({ pid }, 'killing what is left of Chromium');
    killProcessGroup(pid);
    if (!(await waitForProcessGroupExit(pid, this.closeTimeoutMs))) this.logger.warn({ pid }, 'Chromium processes survived SIGKILL');
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
