/**
 * Contract test for media: the real whatsapp-web.js (1.34.7) + Chromium against the simulator, sending
 * files the way the library's users do (`MessageMedia` + `sendMessage` options) and downloading them
 * (`message.downloadMedia()`), both ways. The simulated phone checks the bytes it gets against their
 * filehash, so every figure below is of the bytes that really went through the page.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { startPhoneServer, type PhoneServer } from './phone-server.js';
import type { SentRecord } from './sim-phone.js';
import { ClientProcess } from './testing/client-process.js';

const PEER = '15550100002';
const PEER_JID = `${PEER}@c.us`;

/** A 2×2 PNG, decodable (the sticker path draws it on a canvas). */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

interface Sent {
  id: string;
  serialized: string;
  type: string;
  hasMedia: boolean;
  body: string;
}
interface Downloaded {
  mimetype: string;
  filename: string | null;
  size: number;
  sha256: string;
}

describe('wa-sim contract with whatsapp-web.js + Chromium: media', () => {
  let dir: string;
  let server: PhoneServer;
  let client: ClientProcess;
  const file = (name: string, bytes: Buffer): string => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const recorded = async (id: string): Promise<SentRecord> => {
    let record: SentRecord | undefined;
    await vi.waitFor(() => {
      record = server.phone.messages(PEER).find((m) => m.id === id);
      expect(record).toBeDefined();
    });
    return record!;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wa-sim-media-'));
    server = await startPhoneServer({ ackDelayMs: 100 });
    client = new ClientProcess({
      phoneUrl: server.url,
      cacheDir: join(dir, 'cache'),
      dataPath: join(dir, 'auth'),
      clientId: 'default',
      ...(process.env.CHROMIUM_PATH ? { chromiumPath: process.env.CHROMIUM_PATH } : {}),
    });
    await client.waitFor('qr', () => true, 60_000);
    server.phone.scan();
    await client.waitFor('ready', () => true, 60_000);
  }, 120_000);

  afterAll(async () => {
    await client?.dispose();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends an image with its caption: the phone gets the same bytes, type and size', async () => {
    const sent = await client.call<Sent>({ cmd: 'sendMedia', to: PEER_JID, path: file('photo.png', PNG), mimetype: 'image/png', caption: 'look https://example.com' });
    expect(sent).toMatchObject({ type: 'image', hasMedia: true, body: 'look https://example.com' });
    const record = await recorded(sent.id);
    expect(record.body).toBe('look https://example.com');
    expect(record.media).toMatchObject({ type: 'image', mimetype: 'image/png', size: PNG.length, sha256: sha256(PNG), caption: 'look https://example.com' });
    expect(record.media?.filename).toBeUndefined();
    expect(await client.call<Downloaded>({ cmd: 'download', messageId: sent.serialized })).toEqual({ mimetype: 'image/png', filename: null, size: PNG.length, sha256: sha256(PNG) });
  });

  it('sends a 20 MB PDF as a document with its file name', async () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(20 * 1024 * 1024)]);
    const sent = await client.call<Sent>({ cmd: 'sendMedia', to: PEER_JID, path: file('report.pdf', pdf), mimetype: 'application/pdf', filename: 'report.pdf' }, 120_000);
    expect(sent).toMatchObject({ type: 'document', hasMedia: true });
    const record = await recorded(sent.id);
    expect(record.media).toMatchObject({ type: 'document', mimetype: 'application/pdf', filename: 'report.pdf', size: pdf.length, sha256: sha256(pdf) });
    expect(sha256(server.phone.mediaFile(record.media!.directPath)!.bytes)).toBe(sha256(pdf));
  }, 180_000);

  it('sends an image as a document, audio as a voice note, and a PNG as a sticker (WebP made in the page)', async () => {
    const asDocument = await client.call<Sent>({ cmd: 'sendMedia', to: PEER_JID, path: file('scan.png', PNG), mimetype: 'image/png', filename: 'scan.png', asDocument: true });
    expect((await recorded(asDocument.id)).media).toMatchObject({ type: 'document', mimetype: 'image/png', filename: 'scan.png', sha256: sha256(PNG) });

    const ogg = Buffer.concat([Buffer.from('OggS'), randomBytes(4_000)]);
    const voice = await client.call<Sent>({ cmd: 'sendMedia', to: PEER_JID, path: file('note.ogg', ogg), mimetype: 'audio/ogg; codecs=opus', asVoice: true });
    expect((await recorded(voice.id)).media).toMatchObject({ type: 'ptt', mimetype: 'audio/ogg; codecs=opus', size: ogg.length, sha256: sha256(ogg) });

    const sticker = await client.call<Sent>({ cmd: 'sendMedia', to: PEER_JID, path: file('sticker.png', PNG), mimetype: 'image/png', asSticker: true });
    expect(sticker.type).toBe('sticker');
    const stickerRecord = await recorded(sticker.id);
    expect(stickerRecord.media).toMatchObject({ type: 'sticker', mimetype: 'image/webp' });
    const webp = server.phone.mediaFile(stickerRecord.media!.directPath)!.bytes;
    expect([webp.subarray(0, 4).toString('latin1'), webp.subarray(8, 12).toString('latin1')]).toEqual(['RIFF', 'WEBP']);
    expect(stickerRecord.media?.sha256).toBe(sha256(webp));
  });

  it('receives an image from a contact: hasMedia, its caption as the body, and downloadMedia() gives the same bytes', async () => {
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(50_000)]);
    const incoming = server.phone.addIncomingMedia(PEER, { data: jpeg, mimetype: 'image/jpeg', caption: 'from the phone' });
    const event = await client.waitFor('message', (e) => typeof e.id === 'string' && e.id.endsWith(incoming.id));
    expect(event).toMatchObject({ type: 'image', hasMedia: true, body: 'from the phone' });
    expect(await client.call<Downloaded>({ cmd: 'download', messageId: String(event.id) })).toEqual({ mimetype: 'image/jpeg', filename: null, size: jpeg.length, sha256: sha256(jpeg) });

    const doc = randomBytes(10_000);
    const incomingDoc = server.phone.addIncomingMedia(PEER, { data: doc, mimetype: 'application/octet-stream', filename: 'data.bin' });
    const docEvent = await client.waitFor('message', (e) => typeof e.id === 'string' && e.id.endsWith(incomingDoc.id));
    expect(docEvent).toMatchObject({ type: 'document', hasMedia: true, body: '' });
    expect(await client.call<Downloaded>({ cmd: 'download', messageId: String(docEvent.id) })).toEqual({ mimetype: 'application/octet-stream', filename: 'data.bin', size: doc.length, sha256: sha256(doc) });
  });

  it('asks for no module the simulator does not provide on the media paths', async () => {
    const missing = await client.call<string[]>({ cmd: 'missing' });
    expect(missing.filter((name) => /Media|Upload|Download|Image|Opaque|Mms/.test(name))).toEqual([]);
  });
});
