/**
 * Media sends through the owner (fake driver, real Redis): a file goes into the media store through the
 * producer, the job carries its reference, and the worker reads it back and sends it once.
 */
import { createHash, randomBytes } from 'node:crypto';

import { MediaStore } from '@waq/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { OwnerHarness } from './testing/owner-harness.js';

let h: OwnerHarness;

beforeEach(async () => {
  h = await OwnerHarness.create({ registered: ['4915100000001@c.us'] });
});

afterEach(async () => {
  await h.close();
});

const ALICE = '+49 151 00000001';
const ALICE_WID = '4915100000001@c.us';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

const pairFresh = (): Promise<void> => h.pairFresh();

describe('media sends (fake driver, real Redis)', () => {
  it('sends an uploaded file with its caption and mode, the bytes as stored', async () => {
    h.startOwner();
    await pairFresh();
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(3 * 1024 * 1024)]);
    const media = await h.producer.uploadMedia({ data: pdf, filename: 'report.pdf' });
    expect(media).toEqual({ mediaId: expect.stringMatching(/^md_/), mimetype: 'application/pdf', size: pdf.length, sha256: sha256(pdf), filename: 'report.pdf' });
    const doc = await h.producer.send({ to: ALICE, media, text: 'the report' });
    const image = await h.producer.send({ to: ALICE, media: await h.producer.uploadMedia({ data: PNG, mimetype: 'image/png' }), asSticker: true });
    expect((await h.producer.waitForMessage(doc.id, { timeoutMs: 20_000 })).status).toBe('sent');
    expect((await h.producer.waitForMessage(image.id, { timeoutMs: 20_000 })).status).toBe('sent');
    expect(h.world.messagesTo(ALICE_WID).map((m) => [m.body, m.media])).toEqual([
      ['the report', { mimetype: 'application/pdf', filename: 'report.pdf', size: pdf.length, sha256: sha256(pdf), mode: 'auto' }],
      ['', { mimetype: 'image/png', filename: undefined, size: PNG.length, sha256: sha256(PNG), mode: 'sticker' }],
    ]);
  });

  it('removes a file stored for one message once it is sent, and keeps a shared one', async () => {
    h.startOwner();
    await pairFresh();
    const store = new MediaStore(h.fixture.redis, h.keys);
    const own = await h.producer.uploadMedia({ data: PNG });
    const shared = await h.producer.uploadMedia({ data: PNG });
    await store.storedFor(own.mediaId, 'own-1');
    await h.producer.send({ to: ALICE, media: own, idempotencyKey: 'own-1' });
    const second = await h.producer.send({ to: ALICE, media: shared });
    await h.producer.waitForMessage('own-1', { timeoutMs: 10_000 });
    await h.producer.waitForMessage(second.id, { timeoutMs: 10_000 });
    expect(await store.get(own.mediaId)).toBeNull();
    expect(await store.get(shared.mediaId)).not.toBeNull();
  });

  it('never sends a file twice when an attempt fails after WhatsApp accepted it', async () => {
    h.startOwner();
    await pairFresh();
    const media = await h.producer.uploadMedia({ data: PNG });
    let crashes = 1;
    h.world.afterAccept = () => {
      if (crashes-- > 0) throw new Error('Protocol error: Target closed (after the message left)');
    };
    // The same caption as a text sent before: the copy is recognised by the file's sha256, not the text.
    const text = await h.producer.send({ to: ALICE, text: 'same words' });
    await h.producer.waitForMessage(text.id, { timeoutMs: 10_000 });
    crashes = 1;
    const { id } = await h.producer.send({ to: ALICE, media, text: 'same words' });
    const view = await h.producer.waitForMessage(id, { timeoutMs: 10_000 });
    expect(view.status).toBe('sent');
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.media?.sha256 ?? m.body)).toEqual(['same words', sha256(PNG)]);
    expect(view.waMessageId).toBe(h.world.messagesTo(ALICE_WID)[1]?.waMessageId);
  });

  it('fails a send whose file is gone, with media_not_found, and keeps sending the rest', async () => {
    h.startOwner();
    await pairFresh();
    const media = await h.producer.uploadMedia({ data: PNG });
    await h.fixture.redis.del(h.keys.media(media.mediaId));
    const gone = await h.producer.send({ to: ALICE, media });
    const after = await h.producer.send({ to: ALICE, text: 'after' });
    expect(await h.producer.waitForMessage(gone.id, { timeoutMs: 10_000 })).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'media_not_found' } });
    expect((await h.producer.waitForMessage(after.id, { timeoutMs: 10_000 })).status).toBe('sent');
    expect(h.world.messagesTo(ALICE_WID).map((m) => m.body)).toEqual(['after']);
  });
  it('stores a file a contact sent and puts its reference on the event, in the order the messages came', async () => {
    h.startOwner();
    await pairFresh();
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(300_000)]);
    // The first download fails: the retry waits, and the text after it still comes after it.
    h.world.receiveMedia(ALICE_WID, { type: 'image', data: jpeg, mimetype: 'image/jpeg', caption: 'a photo', failDownloads: 1 });
    h.world.receive(ALICE_WID, 'and a text after it');
    h.world.receiveMedia(ALICE_WID, { type: 'document', data: Buffer.from('gone'), mimetype: 'application/pdf', gone: true });
    await h.waitForEvent((e) => e.type === 'message.incoming' && e.media !== undefined && 'error' in e.media);
    const incoming = (await h.events()).filter((e) => e.type === 'message.incoming');
    expect(incoming.map((e) => e.body)).toEqual(['a photo', 'and a text after it', '']);
    const [photo, text, gone] = incoming;
    expect(photo).toMatchObject({ media: { mimetype: 'image/jpeg', size: jpeg.length, sha256: sha256(jpeg), url: expect.stringMatching(/^\/v1\/sessions\/default\/media\/md_/) } });
    expect(text?.media).toBeUndefined();
    expect(gone).toMatchObject({ media: { type: 'document', error: expect.stringMatching(/^WhatsApp no longer has the file/) } });
    const ref = photo?.media as { mediaId: string };
    const store = new MediaStore(h.fixture.redis, h.keys);
    const stored = await store.get(ref.mediaId);
    expect(stored).not.toBeNull();
    expect(await store.readAll(stored!)).toEqual(jpeg);
    expect(await h.fixture.redis.ttl(h.keys.media(ref.mediaId))).toBeGreaterThan(3_500);
  });
  it('sends a video as a document on a browser without H.264, or fails it with video_unsupported when told to', async () => {
    const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\x00\x00\x02\x00isomiso2', 'latin1'), randomBytes(20_000)]);
    h.world.videoCodecs = false;
    const running = h.startOwner();
    await pairFresh();
    const media = await h.producer.uploadMedia({ data: mp4 });
    expect(media.mimetype).toBe('video/mp4');
    const { id } = await h.producer.send({ to: ALICE, media, text: 'the clip' });
    expect((await h.producer.waitForMessage(id, { timeoutMs: 10_000 })).status).toBe('sent');
    expect(h.world.messagesTo(ALICE_WID)[0]?.media).toMatchObject({ mimetype: 'video/mp4', mode: 'document', filename: 'video.mp4' });

    await running.stop();
    h.startOwner({ MEDIA_VIDEO_FALLBACK: 'fail' });
    await h.waitForStatus('READY');
    const refused = await h.producer.send({ to: ALICE, media });
    expect(await h.producer.waitForMessage(refused.id, { timeoutMs: 20_000 })).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'video_unsupported', message: expect.stringMatching(/send it with asDocument: true, set MEDIA_VIDEO_FALLBACK=document/) } });
    // Asked for as a document, it goes as one either way.
    const asDocument = await h.producer.send({ to: ALICE, media, asDocument: true });
    expect((await h.producer.waitForMessage(asDocument.id, { timeoutMs: 10_000 })).status).toBe('sent');
    expect(h.world.messagesTo(ALICE_WID)).toHaveLength(2);
  });
});
