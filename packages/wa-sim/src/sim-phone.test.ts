import { createHash } from 'node:crypto';

import { afterEach, describe, expect, it, vi } from 'vitest';
import { NoQrOnScreenError } from './errors.js';
import type { ServerMessage } from './protocol.js';
import { CLOSE_OFFLINE, SimPhone, type PageLink } from './sim-phone.js';

class FakeLink implements PageLink {
  readonly sent: ServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  send(message: ServerMessage): void {
    this.sent.push(message);
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  last<T extends ServerMessage['type']>(type: T): Extract<ServerMessage, { type: T }> | undefined {
    return this.sent.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type).at(-1);
  }
}

const PEER = '15550100002';

/** A page that connected, was scanned and said hello again with its new device id. */
function pairedPage(phone: SimPhone): { link: FakeLink; deviceId: string } {
  const link = new FakeLink();
  phone.attach(link);
  phone.receive(link, { type: 'hello', deviceId: null, version: 'v' });
  const { deviceId } = phone.scan();
  phone.receive(link, { type: 'hello', deviceId, version: 'v' });
  return { link, deviceId };
}

function send(phone: SimPhone, link: FakeLink, id: string, to = PEER): void {
  phone.receive(link, { type: 'send', msg: { id, to: `${to}@c.us`, body: `body ${id}`, t: 1_700_000_000, msgType: 'chat' } });
}

describe('SimPhone', () => {
  let phone: SimPhone;
  afterEach(() => {
    phone.close();
    vi.useRealTimers();
  });

  it('shows an unpaired page a QR ref, rotates it, and reports it on the snapshot', () => {
    vi.useFakeTimers();
    phone = new SimPhone({ qrRefreshMs: 1000 });
    const link = new FakeLink();
    phone.attach(link);
    phone.receive(link, { type: 'hello', deviceId: null, version: 'v' });
    const first = link.last('unpaired')!.ref;
    expect(phone.snapshot().qr?.ref).toBe(first);
    vi.advanceTimersByTime(1000);
    const rotated = link.last('ref')!.ref;
    expect(rotated).not.toBe(first);
    expect(phone.snapshot().qr?.ref).toBe(rotated);
    expect(() => phone.scan(first)).toThrow(NoQrOnScreenError);
  });

  it('links the scanned page, then welcomes it with its identity', () => {
    phone = new SimPhone({ me: '15550100001', pushname: 'me' });
    const { link, deviceId } = pairedPage(phone);
    expect(link.last('paired')).toMatchObject({ deviceId, me: '15550100001@c.us', pushname: 'me' });
    expect(link.last('welcome')).toMatchObject({ deviceId, history: [], pending: [] });
    expect(phone.snapshot()).toMatchObject({ linked: true, qr: null, devices: [{ id: deviceId, connected: true }] });
  });

  it('throws NoQrOnScreenError when no page shows a QR', () => {
    phone = new SimPhone();
    expect(() => phone.scan()).toThrow(NoQrOnScreenError);
  });

  it('treats an unknown device id as unpaired (the phone unlinked it while the page was closed)', () => {
    phone = new SimPhone();
    const link = new FakeLink();
    phone.attach(link);
    phone.receive(link, { type: 'hello', deviceId: 'gone', version: 'v' });
    expect(link.last('unpaired')).toBeDefined();
  });

  it('records a send once, in order, and acks it sent → delivered → read', () => {
    vi.useFakeTimers();
    phone = new SimPhone({ ackDelayMs: 100 });
    const { link } = pairedPage(phone);
    send(phone, link, 'A');
    send(phone, link, 'B');
    send(phone, link, 'A'); // re-sent after a reconnect
    expect(phone.messages().map((m) => [m.id, m.order, m.ack])).toEqual([['A', 1, 1], ['B', 2, 1]]);
    vi.advanceTimersByTime(200);
    expect(phone.messages(PEER).map((m) => m.ack)).toEqual([3, 3]);
    const acksForA = link.sent.filter((m) => m.type === 'ack' && m.id === 'A').map((m) => (m as { ack: number }).ack);
    expect(acksForA).toEqual([1, 1, 2, 3]);
    expect(phone.messages()[0]).toMatchObject({ serialized: `true_${PEER}@c.us_A`, to: PEER, body: 'body A' });
  });

  it('answers a send after serverAckDelayMs (the round trip to the server), then delivered → read', () => {
    vi.useFakeTimers();
    phone = new SimPhone({ ackDelayMs: 100, serverAckDelayMs: 150 });
    const { link } = pairedPage(phone);
    const acks = (): number[] => link.sent.filter((m) => m.type === 'ack' && m.id === 'A').map((m) => (m as { ack: number }).ack);
    send(phone, link, 'A');
    expect(phone.messages().map((m) => m.id)).toEqual(['A']); // on the server at once
    vi.advanceTimersByTime(149);
    expect(acks()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(acks()).toEqual([1]);
    vi.advanceTimersByTime(200);
    expect(acks()).toEqual([1, 2, 3]);
  });

  it('ignores sends from a page that is not (yet) welcomed as a linked device', () => {
    phone = new SimPhone();
    const { deviceId } = pairedPage(phone);
    const reconnecting = new FakeLink();
    phone.attach(reconnecting);
    send(phone, reconnecting, 'EARLY'); // socket open, hello not sent yet
    phone.receive(reconnecting, { type: 'hello', deviceId, version: 'v' });
    send(phone, reconnecting, 'LATE');
    expect(phone.messages().map((m) => m.id)).toEqual(['LATE']);
    expect(reconnecting.sent.filter((m) => m.type === 'ack').map((m) => (m as { id: string }).id)).toEqual(['LATE']);
  });

  it('answers registration queries and refuses sends to unregistered numbers', () => {
    phone = new SimPhone({ isRegistered: (n) => n !== '4915000000' });
    const { link } = pairedPage(phone);
    phone.receive(link, { type: 'query', reqId: 7, op: 'exists', jid: '4915000000@c.us' });
    phone.receive(link, { type: 'query', reqId: 8, op: 'exists', jid: `${PEER}@c.us` });
    expect(link.sent.filter((m) => m.type === 'result')).toEqual([
      { type: 'result', reqId: 7, ok: true, value: false },
      { type: 'result', reqId: 8, ok: true, value: true },
    ]);
    send(phone, link, 'X', '4915000000');
    expect(link.last('ack')).toEqual({ type: 'ack', id: 'X', ack: -1 });
    expect(phone.messages()).toEqual([]);
  });

  it('re-delivers incoming messages until the page confirms them, and syncs history on reconnect', () => {
    phone = new SimPhone();
    const { link, deviceId } = pairedPage(phone);
    send(phone, link, 'A');
    const rec = phone.addIncoming(PEER, 'hi');
    expect(link.last('incoming')?.msg).toMatchObject({ id: rec.id, chat: `${PEER}@c.us`, fromMe: false, body: 'hi' });

    const again = new FakeLink();
    phone.attach(again);
    phone.receive(again, { type: 'hello', deviceId, version: 'v' });
    expect(again.last('welcome')?.pending.map((m) => m.id)).toEqual([rec.id]);
    expect(again.last('welcome')?.history.map((m) => [m.id, m.fromMe])).toEqual([['A', true]]);

    phone.receive(again, { type: 'received', id: rec.id });
    const third = new FakeLink();
    phone.attach(third);
    phone.receive(third, { type: 'hello', deviceId, version: 'v' });
    expect(third.last('welcome')?.pending).toEqual([]);
    expect(third.last('welcome')?.history.map((m) => m.id).sort()).toEqual(['A', rec.id].sort());
  });

  it('offline drops every page and refuses new ones until online', () => {
    phone = new SimPhone();
    const { link } = pairedPage(phone);
    phone.setOnline(false);
    expect(link.closed?.code).toBe(CLOSE_OFFLINE);
    const late = new FakeLink();
    phone.attach(late);
    expect(late.closed?.code).toBe(CLOSE_OFFLINE);
    phone.setOnline(true);
    const back = new FakeLink();
    phone.attach(back);
    expect(back.closed).toBeNull();
  });

  it('logout unlinks every device and tells connected pages; a page-initiated unlink is answered', () => {
    phone = new SimPhone();
    const { link } = pairedPage(phone);
    expect(phone.logout()).toEqual({ unlinked: 1 });
    expect(link.last('logout')).toEqual({ type: 'logout' });
    expect(phone.snapshot().linked).toBe(false);

    const { link: other } = pairedPage(phone);
    phone.receive(other, { type: 'unlink', reqId: 1 });
    expect(other.last('result')).toEqual({ type: 'result', reqId: 1, ok: true, value: true });
    expect(other.last('logout')).toBeUndefined();
    expect(phone.snapshot().linked).toBe(false);
  });

  it('reset forgets devices and messages and drops pages', () => {
    phone = new SimPhone();
    const { link } = pairedPage(phone);
    send(phone, link, 'A');
    phone.reset();
    expect(link.closed).not.toBeNull();
    expect(phone.snapshot()).toMatchObject({ linked: false, sentCount: 0, incomingCount: 0, online: true });
  });

  it('ignores malformed page messages', () => {
    phone = new SimPhone();
    const link = new FakeLink();
    phone.attach(link);
    expect(phone.receive(link, { type: 'send', msg: { id: '' } }).ok).toBe(false);
    expect(phone.receive(link, 'nonsense').ok).toBe(false);
    expect(link.sent).toEqual([]);
  });
  it('keeps an uploaded file by its hash, records a media send with the bytes it got, and refuses bytes that do not match their filehash', () => {
    phone = new SimPhone();
    const { link } = pairedPage(phone);
    const bytes = Buffer.from('%PDF-1.7 a small document');
    const filehash = createHash('sha256').update(bytes).digest('base64');
    phone.receive(link, { type: 'upload', reqId: 1, mediaType: 'document', mimetype: 'application/pdf', filehash: createHash('sha256').update('other').digest('base64'), data: bytes.toString('base64') });
    expect(link.last('result')).toEqual({ type: 'result', reqId: 1, ok: false, error: 'wa-sim: the upload does not match its filehash' });

    phone.receive(link, { type: 'upload', reqId: 2, mediaType: 'document', mimetype: 'application/pdf', filehash, data: bytes.toString('base64') });
    const uploaded = link.last('result');
    expect(uploaded).toMatchObject({ reqId: 2, ok: true, value: { directPath: `/wa-sim/media/${createHash('sha256').update(bytes).digest('hex')}`, encFilehash: filehash } });
    const directPath = (uploaded as { value: { directPath: string } }).value.directPath;
    expect(phone.mediaFile(directPath)).toEqual({ bytes, mimetype: 'application/pdf' });

    const media = { type: 'document' as const, mimetype: 'application/pdf', filename: 'a.pdf', size: 1, filehash, directPath };
    phone.receive(link, { type: 'send', msg: { id: 'M1', to: `${PEER}@c.us`, body: '', t: 1_700_000_000, msgType: 'document', media } });
    // The record's size is that of the bytes received, not the one the page claimed.
    expect(phone.messages(PEER)[0]?.media).toEqual({ ...media, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(phone.account().sent[0]?.media?.filename).toBe('a.pdf');

    phone.receive(link, { type: 'download', reqId: 3, directPath: '/wa-sim/media/unknown' });
    expect(link.last('result')).toEqual({ type: 'result', reqId: 3, ok: true, value: null });
  });

  it('delivers a contact\'s file with its metadata (no bytes on the wire), and serves the bytes on a download', () => {
    phone = new SimPhone();
    const { link } = pairedPage(phone);
    const bytes = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    const record = phone.addIncomingMedia(PEER, { data: bytes, mimetype: 'image/jpeg', caption: 'hi', filename: 'ignored.jpg' });
    const wire = link.last('incoming')!.msg;
    expect(wire).toMatchObject({ id: record.id, body: 'hi', media: { type: 'image', mimetype: 'image/jpeg', size: 7, caption: 'hi' } });
    expect(wire.media?.filename).toBeUndefined();
    expect(JSON.stringify(wire)).not.toContain(bytes.toString('base64'));
    phone.receive(link, { type: 'download', reqId: 1, directPath: wire.media!.directPath });
    expect(link.last('result')).toEqual({ type: 'result', reqId: 1, ok: true, value: { data: bytes.toString('base64'), mimetype: 'image/jpeg' } });
  });
});
