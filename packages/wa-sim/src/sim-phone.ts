/**
 * The simulated phone and WhatsApp's servers for one account (a phone server holds one per account:
 * phone-accounts.ts): linked devices, pending QR refs, the messages the gateway sent (WA id, time, order,
 * ack level) and the messages the phone "received" for it.
 * Transport-free: a page connection is a {@link PageLink}, so this is unit-tested without sockets.
 * Storage-free too: {@link SimPhone.account} exports what survives a restart, `options.account` restores
 * it and `options.onChange` says when it changed (account-file.ts keeps it on disk).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AccountState } from './account-file.js';
import { NoQrOnScreenError, PairingCodeError } from './errors.js';
import { DEFAULT_ME, defaultIsRegistered, normalizeNumber, toJid } from './numbers.js';
import { pageMessageSchema, type MediaType, type PageMessage, type ServerMessage, type WireMedia, type WireMessage } from './protocol.js';

/** The push name of the default account (the others add their id: `waq sandbox (sales)`). */
export const DEFAULT_PUSHNAME = 'waq sandbox';

/** One connected page (one Chromium tab running the simulated WhatsApp Web). */
export interface PageLink {
  send(message: ServerMessage): void;
  /** Drop the connection (the page sees a network loss and reconnects). */
  close(code: number, reason: string): void;
}

export interface SimPhoneOptions {
  /** The account's own number. @defaultValue `'15550100001'` */
  me?: string;
  /** Push name shown as `client.info.pushname`. @defaultValue `'waq sandbox'` */
  pushname?: string;
  /** Delay between the acks sent → delivered → read, in ms. @defaultValue 300 */
  ackDelayMs?: number;
  /**
   * How long the server's receipt of a sent message (ack 1, what `sendMessage(…, { waitUntilMsgSent })`
   * waits for) takes: the network round trip to WhatsApp's servers, which loopback does not have, in ms.
   * @defaultValue 0
   */
  serverAckDelayMs?: number;
  /** How often an unscanned QR ref rotates, in ms (WhatsApp: about 20 s). @defaultValue 20_000 */
  qrRefreshMs?: number;
  /** How long a pairing code may be entered after it was issued, in ms (whatsapp-web.js asks for a new one every 3 min). @defaultValue 180_000 */
  pairingCodeTtlMs?: number;
  /** Whether a number is on WhatsApp. @defaultValue every number not starting with `999` */
  isRegistered?: (number: string) => boolean;
  /** How many recent messages the page receives when it (re)connects. @defaultValue 200 */
  historyLimit?: number;
  /**
   * A saved account to continue (identity, linked devices, message history): `me` and `pushname` then
   * come from it, not from the options. @defaultValue a new account
   */
  account?: AccountState;
  /** Called after every change to what {@link SimPhone.account} returns (to save it). */
  onChange?: () => void;
}

/** A message the gateway sent, as the phone server recorded it. */
export interface SentRecord {
  /** WA message id (`msg.id.id` in whatsapp-web.js). */
  id: string;
  /** `msg.id._serialized` in whatsapp-web.js: `true_<to>@c.us_<id>`. */
  serialized: string;
  to: string;
  body: string;
  /** Unix seconds set by the page when the gateway sent it. */
  t: number;
  /** When the phone server received it (ms since epoch). */
  receivedAt: number;
  /** 1-based arrival order across all recipients. */
  order: number;
  /** 1 sent (server), 2 delivered (device), 3 read. */
  ack: number;
  /** A media message: what the page said of it, and `sha256` (hex) and `size` of the bytes it uploaded. */
  media?: SentMedia;
}

/** A chat state ("typing…") the gateway showed in a chat. */
export interface ChatStateRecord {
  /** The contact's number (digits). */
  to: string;
  state: 'typing' | 'recording' | 'stop';
  /** When the phone server received it (ms since epoch). */
  at: number;
}

export interface SentMedia extends WireMedia {
  /** Hex SHA-256 of the bytes the phone server received (empty when the upload never came). */
  readonly sha256: string;
}

/** A file a contact sends ({@link SimPhone.addIncomingMedia}). */
export interface IncomingMediaInput {
  readonly data: Buffer;
  readonly mimetype: string;
  /** Sent with documents. */
  readonly filename?: string;
  readonly caption?: string;
  /** @defaultValue from the mimetype: image/*, video/*, audio/*, else document */
  readonly type?: MediaType;
}

export interface IncomingRecord {
  id: string;
  from: string;
  body: string;
  t: number;
  /** The page handed it to whatsapp-web.js (until then it is re-delivered on every reconnect). */
  delivered: boolean;
  media?: WireMedia;
}

interface LinkState {
  deviceId: string | null;
  ref: string | null;
  refIssuedAt: number;
  refTimer: NodeJS.Timeout | null;
  /** The pairing code this page asked for (linking by code), while it is valid. */
  pairing: { code: string; phone: string; expiresAt: number } | null;
}

/** Letters and digits of a pairing code, without the easily confused ones (WhatsApp's codes look like `ABCD-1234`). */
const PAIRING_ALPHABET = 'ABCDEFGHJKLMNPQRSTVWXYZ23456789';

function newPairingCode(): string {
  return Array.from(randomBytes(8), (byte) => PAIRING_ALPHABET[byte % PAIRING_ALPHABET.length]).join('');
}

interface Device {
  id: string;
  linkedAt: number;
}

export interface PhoneSnapshot {
  me: string;
  pushname: string;
  online: boolean;
  linked: boolean;
  devices: { id: string; linkedAt: number; connected: boolean }[];
  /** The QR ref on screen (the most recent unpaired page), or null. */
  qr: { ref: string; issuedAt: number } | null;
  ackDelayMs: number;
  sentCount: number;
  incomingCount: number;
}

/** WebSocket close codes the page treats as a plain network loss. */
export const CLOSE_OFFLINE = 4000;
export const CLOSE_RESET = 4001;

export class SimPhone {
  readonly me: string;
  readonly pushname: string;
  readonly ackDelayMs: number;
  /** {@link SimPhoneOptions.serverAckDelayMs}; may be changed while running (applies to the next send). */
  serverAckDelayMs: number;
  private readonly lid: string;
  private readonly qrRefreshMs: number;
  private readonly pairingCodeTtlMs: number;
  private readonly isRegistered: (number: string) => boolean;
  private readonly historyLimit: number;
  private readonly links = new Map<PageLink, LinkState>();
  private readonly devices = new Map<string, Device>();
  private sent: SentRecord[] = [];
  private incoming: IncomingRecord[] = [];
  private online = true;
  private order = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly onChange: () => void;
  /** What the pages say of H.264/AAC ({@link setVideoCodecs}). */
  private videoCodecs = true;
  /** Media bytes by directPath (in memory only: a restarted phone server has the records, not the files). */
  private readonly files = new Map<string, { bytes: Buffer; mimetype: string }>();
  private readonly chatStateLog: ChatStateRecord[] = [];

  constructor(options: SimPhoneOptions = {}) {
    const { account } = options;
    this.me = account?.me ?? options.me ?? DEFAULT_ME;
    this.pushname = account?.pushname ?? options.pushname ?? DEFAULT_PUSHNAME;
    this.ackDelayMs = options.ackDelayMs ?? 300;
    this.serverAckDelayMs = options.serverAckDelayMs ?? 0;
    this.qrRefreshMs = options.qrRefreshMs ?? 20_000;
    this.pairingCodeTtlMs = options.pairingCodeTtlMs ?? 180_000;
    this.isRegistered = options.isRegistered ?? defaultIsRegistered;
    this.historyLimit = options.historyLimit ?? 200;
    this.onChange = options.onChange ?? (() => undefined);
    this.lid = account?.lid ?? `${BigInt(`0x${randomBytes(6).toString('hex')}`)}`.padStart(15, '1');
    if (account) this.restore(account);
  }

  private restore(account: AccountState): void {
    for (const device of account.devices) this.devices.set(device.id, { ...device });
    this.sent = account.sent.map((m) => ({ ...m }));
    this.incoming = account.incoming.map((m) => ({ ...m }));
    this.order = this.sent.reduce((max, m) => Math.max(max, m.order), account.order);
    // The ack timers died with the previous process: a message not yet read is delivered and read now,
    // on the same schedule as a new one (WhatsApp's acks do not stop because a phone restarted).
    for (const record of this.sent) {
      if (record.ack < 2) this.later(this.ackDelayMs, () => this.setAck(record, 2));
      if (record.ack < 3) this.later(this.ackDelayMs * 2, () => this.setAck(record, 3));
    }
  }

  /** What survives a restart: identity, linked devices and message history (not QR refs, links or `online`). */
  account(): AccountState {
    return {
      version: 1,
      me: this.me,
      pushname: this.pushname,
      lid: this.lid,
      order: this.order,
      devices: [...this.devices.values()].map((d) => ({ ...d })),
      sent: this.sent.map((m) => ({ ...m })),
      incoming: this.incoming.map((m) => ({ ...m })),
    };
  }

  // ------------------------------------------------------------------ page connections

  attach(link: PageLink): void {
    if (!this.online) {
      link.close(CLOSE_OFFLINE, 'phone offline');
      return;
    }
    this.links.set(link, { deviceId: null, ref: null, refIssuedAt: 0, refTimer: null, pairing: null });
    if (!this.videoCodecs) link.send({ type: 'codecs', video: false });
  }

  detach(link: PageLink): void {
    const state = this.links.get(link);
    if (state?.refTimer) clearInterval(state.refTimer);
    this.links.delete(link);
  }

  /** Handle one raw (already JSON-parsed) message from a page; invalid ones are ignored and reported. */
  receive(link: PageLink, raw: unknown): { ok: true } | { ok: false; error: string } {
    const state = this.links.get(link);
    if (!state) return { ok: false, error: 'unknown link' };
    const parsed = pageMessageSchema.safeParse(raw);
    if (!parsed.success) return { ok: false, error: parsed.error.message };
    this.handle(link, state, parsed.data);
    return { ok: true };
  }

  private handle(link: PageLink, state: LinkState, msg: PageMessage): void {
    switch (msg.type) {
      case 'hello':
        if (msg.deviceId !== null && this.devices.has(msg.deviceId)) this.welcome(link, state, msg.deviceId);
        else this.showQr(link, state, 'unpaired');
        return;
      case 'send':
        // Only a linked device that has said hello may send; the page keeps anything earlier pending.
        if (state.deviceId) this.recordSend(link, msg.msg);
        return;
      case 'received': {
        const rec = this.incoming.find((m) => m.id === msg.id);
        if (rec && !rec.delivered) {
          rec.delivered = true;
          this.onChange();
        }
        return;
      }
      case 'upload': {
        const bytes = Buffer.from(msg.data, 'base64');
        const digest = createHash('sha256').update(bytes).digest();
        if (digest.toString('base64') !== msg.filehash) {
          link.send({ type: 'result', reqId: msg.reqId, ok: false, error: 'wa-sim: the upload does not match its filehash' });
          return;
        }
        const directPath = this.storeFile(bytes, msg.mimetype);
        link.send({
          type: 'result',
          reqId: msg.reqId,
          ok: true,
          value: { directPath, mediaKey: randomBytes(32).toString('base64'), mediaKeyTimestamp: Math.floor(Date.now() / 1000), encFilehash: msg.filehash },
        });
        return;
      }
      case 'download': {
        const file = this.files.get(msg.directPath);
        link.send({ type: 'result', reqId: msg.reqId, ok: true, value: file === undefined ? null : { data: file.bytes.toString('base64'), mimetype: file.mimetype } });
        return;
      }
      case 'pairing-code': {
        // A code for a number that has an account; for another one WhatsApp would say so.
        const phone = normalizeNumber(msg.phone);
        if (phone === null || !this.isRegistered(phone)) {
          link.send({ type: 'result', reqId: msg.reqId, ok: false, error: 'wa-sim: no WhatsApp account has that number' });
          return;
        }
        const code = newPairingCode();
        state.pairing = { code, phone, expiresAt: Date.now() + this.pairingCodeTtlMs };
        link.send({ type: 'result', reqId: msg.reqId, ok: true, value: code });
        return;
      }
      case 'query': {
        const number = normalizeNumber(msg.jid);
        link.send({ type: 'result', reqId: msg.reqId, ok: true, value: number !== null && this.isRegistered(number) });
        return;
      }
      case 'unlink':
        if (state.deviceId && this.devices.delete(state.deviceId)) this.onChange();
        state.deviceId = null;
        link.send({ type: 'result', reqId: msg.reqId, ok: true, value: true });
        return;
      case 'refresh-qr':
        if (!state.deviceId) this.showQr(link, state, 'ref');
        return;
      case 'chatstate': {
        const to = normalizeNumber(msg.to);
        if (to !== null) this.chatStateLog.push({ to, state: msg.state, at: Date.now() });
        return;
      }
    }
  }

  private showQr(link: PageLink, state: LinkState, kind: 'unpaired' | 'ref'): void {
    state.deviceId = null;
    state.ref = newRef();
    state.refIssuedAt = Date.now();
    link.send({ type: kind, ref: state.ref });
    if (state.refTimer) clearInterval(state.refTimer);
    // Rotate Conn.ref instead of ever showing UNPAIRED_IDLE: whatsapp-web.js 1.34.7's own
    // UNPAIRED_IDLE handler calls window.require in Node and throws (Client.js onAuthAppStateChangedEvent).
    state.refTimer = setInterval(() => {
      state.ref = newRef();
      state.refIssuedAt = Date.now();
      link.send({ type: 'ref', ref: state.ref });
    }, this.qrRefreshMs);
    state.refTimer.unref();
  }

  private welcome(link: PageLink, state: LinkState, deviceId: string): void {
    if (state.refTimer) clearInterval(state.refTimer);
    state.refTimer = null;
    state.ref = null;
    state.deviceId = deviceId;
    const history: WireMessage[] = [
      ...this.sent.map((m) => ({ id: m.id, chat: toJid(m.to), fromMe: true, body: m.body, t: m.t, ack: m.ack, ...(m.media === undefined ? {} : { media: wireMediaOf(m.media) }) })),
      ...this.incoming
        .filter((m) => m.delivered)
        .map((m) => ({ ...incomingWire(m), ack: 3 })),
    ]
      .sort((a, b) => a.t - b.t)
      .slice(-this.historyLimit);
    const pending = this.incoming.filter((m) => !m.delivered).map(incomingWire);
    link.send({ type: 'welcome', deviceId, me: toJid(this.me), lid: `${this.lid}@lid`, pushname: this.pushname, history, pending });
  }

  private recordSend(link: PageLink, msg: { id: string; to: string; body: string; t: number; media?: WireMedia | undefined }): void {
    const to = normalizeNumber(msg.to);
    const existing = this.sent.find((m) => m.id === msg.id);
    if (existing) {
      // A re-send after a reconnect: WhatsApp dedupes by message id, and so do we.
      link.send({ type: 'ack', id: existing.id, ack: existing.ack });
      return;
    }
    if (to === null || !this.isRegistered(to)) {
      link.send({ type: 'ack', id: msg.id, ack: -1 });
      return;
    }
    const record: SentRecord = {
      id: msg.id,
      serialized: `true_${toJid(to)}_${msg.id}`,
      to,
      body: msg.body,
      t: msg.t,
      receivedAt: Date.now(),
      order: ++this.order,
      ack: 1,
      ...(msg.media === undefined ? {} : { media: this.sentMedia(msg.media) }),
    };
    this.sent.push(record);
    this.onChange();
    const receipt = this.serverAckDelayMs;
    if (receipt > 0) this.later(receipt, () => this.broadcast({ type: 'ack', id: record.id, ack: record.ack }));
    else this.broadcast({ type: 'ack', id: record.id, ack: 1 });
    this.later(receipt + this.ackDelayMs, () => this.setAck(record, 2));
    this.later(receipt + this.ackDelayMs * 2, () => this.setAck(record, 3));
  }

  private setAck(record: SentRecord, ack: number): void {
    if (!this.sent.includes(record) || record.ack >= ack) return;
    record.ack = ack;
    this.onChange();
    // Pages that are offline now get the level with the history sync when they reconnect.
    this.broadcast({ type: 'ack', id: record.id, ack });
  }

  private broadcast(message: ServerMessage): void {
    for (const [link, state] of this.links) if (state.deviceId !== null) link.send(message);
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private storeFile(bytes: Buffer, mimetype: string): string {
    const directPath = `/wa-sim/media/${createHash('sha256').update(bytes).digest('hex')}`;
    this.files.set(directPath, { bytes, mimetype });
    return directPath;
  }

  private sentMedia(media: WireMedia): SentMedia {
    const file = this.files.get(media.directPath);
    return file === undefined ? { ...media, sha256: '' } : { ...media, size: file.bytes.length, sha256: createHash('sha256').update(file.bytes).digest('hex') };
  }

  // ------------------------------------------------------------------ the phone API

  /** The bytes of a media message (sent by the gateway or by a contact), by its `directPath`. */
  mediaFile(directPath: string): { bytes: Buffer; mimetype: string } | undefined {
    const file = this.files.get(directPath);
    return file === undefined ? undefined : { bytes: file.bytes, mimetype: file.mimetype };
  }

  /**
   * Makes the account's pages answer as a Chromium without H.264/AAC (`false`) or with them: what
   * `MediaSource.isTypeSupported` says there, for pages connected now and later.
   */
  setVideoCodecs(video: boolean): void {
    this.videoCodecs = video;
    for (const link of this.links.keys()) link.send({ type: 'codecs', video });
  }

  /** A contact sends the account a file (an image, a document, …), with an optional caption. */
  addIncomingMedia(from: string, input: IncomingMediaInput): IncomingRecord {
    const type = input.type ?? (/^image\//.test(input.mimetype) ? 'image' : /^video\//.test(input.mimetype) ? 'video' : /^audio\//.test(input.mimetype) ? 'audio' : 'document');
    const media: WireMedia = {
      type,
      mimetype: input.mimetype,
      ...(type === 'document' && input.filename !== undefined ? { filename: input.filename } : {}),
      size: input.data.length,
      filehash: createHash('sha256').update(input.data).digest('base64'),
      directPath: this.storeFile(input.data, input.mimetype),
      ...(input.caption === undefined ? {} : { caption: input.caption }),
    };
    return this.addIncomingRecord(from, input.caption ?? '', media);
  }

  snapshot(): PhoneSnapshot {
    const connected = new Set([...this.links.values()].map((s) => s.deviceId));
    let qr: PhoneSnapshot['qr'] = null;
    for (const s of this.links.values()) {
      if (s.ref !== null && (qr === null || s.refIssuedAt >= qr.issuedAt)) qr = { ref: s.ref, issuedAt: s.refIssuedAt };
    }
    return {
      me: this.me,
      pushname: this.pushname,
      online: this.online,
      linked: this.devices.size > 0,
      devices: [...this.devices.values()].map((d) => ({ ...d, connected: connected.has(d.id) })),
      qr,
      ackDelayMs: this.ackDelayMs,
      sentCount: this.sent.length,
      incomingCount: this.incoming.length,
    };
  }

  /** The phone scans a QR code: the ref given, or the one on screen. Links a new device. */
  scan(ref?: string): { deviceId: string } {
    let target: [PageLink, LinkState] | undefined;
    for (const entry of this.links) {
      const s = entry[1];
      if (s.ref === null) continue;
      if (ref !== undefined ? s.ref === ref : target === undefined || s.refIssuedAt >= target[1].refIssuedAt) target = entry;
    }
    if (!target) throw new NoQrOnScreenError(ref);
    return this.link(target[0], target[1]);
  }

  /**
   * The phone's owner enters a pairing code ("Link with phone number instead"): the page that asked for
   * it is linked. The code must be current, and issued for this phone's own number.
   */
  enterCode(code: string): { deviceId: string } {
    const entered = code.replace(/[\s-]/g, '').toUpperCase();
    for (const [link, state] of this.links) {
      if (state.pairing === null || state.pairing.code !== entered) continue;
      if (state.pairing.expiresAt < Date.now()) throw new PairingCodeError('this code has expired: ask the gateway for a new one');
      if (state.pairing.phone !== this.me) throw new PairingCodeError(`this code was issued for +${state.pairing.phone}, not for this phone (+${this.me})`);
      return this.link(link, state);
    }
    throw new PairingCodeError('no page is waiting for this code: check it, or ask the gateway for a new one');
  }

  /** The codes pages are waiting for (a test reads the code as the gateway shows it, and checks it is the phone's). */
  pairingCodes(): { code: string; phone: string; expiresAt: number }[] {
    return [...this.links.values()].flatMap((state) => (state.pairing === null ? [] : [{ ...state.pairing }]));
  }

  /** Links a new device to the page of `link`. */
  private link(link: PageLink, state: LinkState): { deviceId: string } {
    state.pairing = null;
    if (state.refTimer) clearInterval(state.refTimer);
    state.refTimer = null;
    state.ref = null;
    const device: Device = { id: randomUUID(), linkedAt: Date.now() };
    this.devices.set(device.id, device);
    this.onChange();
    // The page persists the pairing, then says hello with the device id and gets the welcome.
    link.send({ type: 'paired', deviceId: device.id, me: toJid(this.me), lid: `${this.lid}@lid`, pushname: this.pushname });
    return { deviceId: device.id };
  }

  /** Unlink every device ("Log out" from the phone's Linked devices screen). */
  logout(): { unlinked: number } {
    const unlinked = this.devices.size;
    this.devices.clear();
    if (unlinked > 0) this.onChange();
    for (const [link, state] of this.links) {
      if (state.deviceId === null) continue;
      state.deviceId = null;
      link.send({ type: 'logout' });
    }
    return { unlinked };
  }

  /** Drop every page connection and refuse new ones until {@link setOnline}(true). */
  setOnline(online: boolean): { online: boolean } {
    this.online = online;
    if (!online) for (const link of [...this.links.keys()]) this.dropLink(link, CLOSE_OFFLINE, 'phone offline');
    return { online };
  }

  /** A contact sends the account a message; the page gets it now or when it reconnects. */
  addIncoming(from: string, body: string): IncomingRecord {
    return this.addIncomingRecord(from, body);
  }

  private addIncomingRecord(from: string, body: string, media?: WireMedia): IncomingRecord {
    const record: IncomingRecord = {
      // 32 hex digits: the shape of an Android sender's id (whatsapp-web.js reports deviceType 'android').
      id: randomBytes(16).toString('hex').toUpperCase(),
      from,
      body,
      t: Math.floor(Date.now() / 1000),
      delivered: false,
      ...(media === undefined ? {} : { media }),
    };
    this.incoming.push(record);
    this.onChange();
    this.broadcast({ type: 'incoming', msg: incomingWire(record) });
    return record;
  }

  /** The chat states the gateway showed, in arrival order; optionally only in the chat with one number. */
  chatStates(to?: string): ChatStateRecord[] {
    return this.chatStateLog.filter((c) => to === undefined || c.to === to).map((c) => ({ ...c }));
  }

  /** What the gateway sent, in arrival order; optionally only to one number. */
  messages(to?: string): SentRecord[] {
    return this.sent.filter((m) => to === undefined || m.to === to).map((m) => ({ ...m }));
  }

  incomingMessages(): IncomingRecord[] {
    return this.incoming.map((m) => ({ ...m }));
  }

  /** Forget devices and messages, go online, drop every page (they reconnect unpaired → QR). */
  reset(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.devices.clear();
    this.sent = [];
    this.incoming = [];
    this.chatStateLog.length = 0;
    this.order = 0;
    this.online = true;
    this.onChange();
    for (const link of [...this.links.keys()]) this.dropLink(link, CLOSE_RESET, 'phone reset');
  }

  /** Stop timers and drop pages; idempotent. */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const link of [...this.links.keys()]) this.dropLink(link, CLOSE_RESET, 'phone server closing');
  }

  private dropLink(link: PageLink, code: number, reason: string): void {
    this.detach(link);
    link.close(code, reason);
  }
}

function newRef(): string {
  // Real refs look like "2@<base64>"; the library only concatenates it into the QR string.
  return `2@${randomBytes(24).toString('base64')}`;
}

function incomingWire(m: IncomingRecord): WireMessage {
  return { id: m.id, chat: toJid(m.from), fromMe: false, body: m.body, t: m.t, ack: 3, ...(m.media === undefined ? {} : { media: m.media }) };
}

/** A sent record's media as the wire carries it (without the phone's own sha256). */
function wireMediaOf({ sha256: _sha256, ...media }: SentMedia): WireMedia {
  return media;
}
