/**
 * Files for sends through the API (real Redis): by URL (a server on this host, WEBHOOK_ALLOW_PRIVATE for
 * it), by multipart upload, inline base64 and by a stored file's id; and `GET …/media/:id` with ranges.
 * Every refusal is a 4xx naming the input and leaves no file in the media store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';

import { keysUnder, listen, type ListeningServer } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startTestApi, TEST_API_KEY, type TestApi } from '../testing/test-api.js';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(3 * 1024 * 1024)]);
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

let t: TestApi;
let files: ListeningServer;
let base: string;

beforeEach(async () => {
  t = await startTestApi({ env: { WEBHOOK_ALLOW_PRIVATE: 'true', MEDIA_MAX_BYTES: String(4 * 1024 * 1024) } });
  await t.publishState('READY');
  files = await listen((req, res) => {
    // The server's Content-Type lies on purpose: the type comes from the bytes.
    if (req.url === '/photo') return void res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(PNG);
    if (req.url === '/report.pdf') return void res.writeHead(200, { 'Content-Type': 'application/pdf' }).end(PDF);
    if (req.url === '/moved') return void res.writeHead(302, { Location: '/photo' }).end();
    if (req.url === '/huge') {
      res.writeHead(200, { 'Content-Type': 'application/pdf' });
      res.write(Buffer.from('%PDF-1.7\n'));
      const more = (): void => void (res.write(randomBytes(256 * 1024)) ? setImmediate(more) : res.once('drain', more));
      return more();
    }
    res.writeHead(404).end('no such file');
  });
  base = files.url;
});

afterEach(async () => {
  await files.close();
  await t.close();
});

const mediaKeys = async (): Promise<string[]> => (await keysUnder(t.fixture.redis, t.fixture.prefix)).filter((key) => key.includes(':media:'));
const postJson = (path: string, body: unknown): Promise<Response> => t.fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
function form(fields: Record<string, string>, file?: { bytes: Buffer; name: string; type: string }): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) data.append(name, value);
  if (file !== undefined) data.append('file', new Blob([file.bytes], { type: file.type }), file.name);
  return data;
}
async function job(id: string): Promise<Record<string, unknown> | undefined> {
  return (await t.api.producer.queues.outbox.getJob(id))?.data as Record<string, unknown> | undefined;
}

describe('sending files through the API', () => {
  it('fetches a file by URL (redirect followed), its type from the bytes, and the job carries only its reference', async () => {
    const response = await postJson('/v1/messages', { to: '+49 151 23456789', text: 'look', media: { url: `${base}/moved` } });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const data = await job(id);
    expect(data).toMatchObject({ to: '4915123456789@c.us', text: 'look', media: { mediaId: expect.stringMatching(/^md_/), mimetype: 'image/png', size: PNG.length, sha256: sha256(PNG) } });
    expect(JSON.stringify(data).length).toBeLessThan(600);
    const mediaId = (data!['media'] as { mediaId: string }).mediaId;
    // Stored for this message alone: the worker removes it once the message is sent.
    expect(await t.fixture.redis.hget(t.api.producer.queues.keys.media(mediaId), 'for')).toBe(id);
    const served = await t.fetch(`/v1/media/${mediaId}`);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await served.arrayBuffer())).toEqual(PNG);
  });

  it('takes a multipart upload with the fields beside the file, streamed, and serves byte ranges of it', async () => {
    const response = await t.fetch('/v1/sessions/default/messages', { method: 'POST', body: form({ to: '+49 151 23456789', text: 'the report', asDocument: 'true' }, { bytes: PDF, name: 'report.pdf', type: 'application/pdf' }) });
    expect(response.status).toBe(202);
    const data = await job(((await response.json()) as { id: string }).id);
    expect(data).toMatchObject({ text: 'the report', asDocument: true, media: { mimetype: 'application/pdf', size: PDF.length, sha256: sha256(PDF), filename: 'report.pdf' } });
    const mediaId = (data!['media'] as { mediaId: string }).mediaId;
    const part = await t.fetch(`/v1/sessions/default/media/${mediaId}`, { headers: { Range: 'bytes=1048570-1048585' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1048570-1048585/${PDF.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(PDF.subarray(1_048_570, 1_048_586));
    expect((await t.fetch(`/v1/sessions/default/media/${mediaId}`, { headers: { Range: `bytes=${PDF.length}-` } })).status).toBe(416);
  });

  it('takes inline base64 and a file stored before by its id, and removes a repeat\'s own copy', async () => {
    const stored = await t.fetch('/v1/media', { method: 'POST', body: form({}, { bytes: PNG, name: 'p.png', type: 'image/png' }) });
    expect(stored.status).toBe(201);
    const ref = (await stored.json()) as { mediaId: string; sha256: string };
    expect(ref).toMatchObject({ mimetype: 'image/png', size: PNG.length, sha256: sha256(PNG), filename: 'p.png' });
    const byId = await postJson('/v1/messages', { to: '+4915123456789', media: { mediaId: ref.mediaId }, asSticker: true });
    expect(byId.status).toBe(202);
    // A file stored on its own may serve many sends: not tied to this one.
    expect(await t.fixture.redis.hget(t.api.producer.queues.keys.media(ref.mediaId), 'for')).toBeNull();
    const first = await postJson('/v1/messages', { to: '+4915123456789', media: { base64: PNG.toString('base64') }, idempotencyKey: 'inline-1' });
    const again = await postJson('/v1/messages', { to: '+4915123456789', media: { base64: PNG.toString('base64') }, idempotencyKey: 'inline-1' });
    expect(await again.json()).toMatchObject({ id: 'inline-1', duplicate: true });
    expect(first.status).toBe(202);
    // The stored file, the first inline copy; the repeat's copy is gone (a manifest and one chunk each).
    expect(await mediaKeys()).toHaveLength(4);
  });

  it.each([
    ['a URL that answers 404', { url: '/missing' }, 422, 'media_fetch_failed', 'media.url'],
    ['a URL to a private address (the policy on)', { url: 'http://10.0.0.1/x' }, 422, 'media_url_refused', 'media.url'],
    ['a file over MEDIA_MAX_BYTES, streamed', { url: '/huge' }, 413, 'media_too_large', 'media.url'],
    ['a body that lies about its type', { url: '/report.pdf', mimetype: 'image/png' }, 422, 'media_type_mismatch', 'media.url'],
    ['an empty file', { base64: '' }, 422, 'invalid_payload', 'media.base64'],
    ['an unknown stored file', { mediaId: `md_${'a'.repeat(26)}` }, 422, 'media_not_found', 'media.mediaId'],
  ])('refuses %s with a clear 4xx and stores nothing', async (_label, source, status, code, path) => {
    const media = 'url' in source && source.url.startsWith('/') ? { ...source, url: `${base}${source.url}` } : source;
    if (code === 'media_url_refused') await t.close().then(async () => (t = await startTestApi({ env: { MEDIA_MAX_BYTES: String(4 * 1024 * 1024) } })));
    const response = await postJson('/v1/messages', { to: '+4915123456789', media });
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: { code: string; message: string; details: { path: string }[] } };
    expect(body.error.code).toBe(code);
    expect(body.error.details.map((d) => d.path)).toContain(path);
    expect(await mediaKeys()).toEqual([]);
    expect(await t.api.producer.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(0);
  });

  it('refuses a send the file does not fit (a voice note of an image) and removes the file it stored', async () => {
    const response = await t.fetch('/v1/messages', { method: 'POST', body: form({ to: '+4915123456789', asVoice: 'true' }, { bytes: PNG, name: 'p.png', type: 'image/png' }) });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_payload', details: [{ path: 'asVoice', message: 'needs an audio file, and this one is image/png' }] } });
    expect(await mediaKeys()).toEqual([]);
  });

  it('answers a multipart upload cut off half-way with 400 upload_incomplete and stores nothing', async () => {
    const boundary = 'waqboundary';
    const head = [`--${boundary}`, 'Content-Disposition: form-data; name="to"', '', '+4915123456789', `--${boundary}`, 'Content-Disposition: form-data; name="file"; filename="r.pdf"', 'Content-Type: application/pdf', '', ''].join('\r\n');
    const url = new URL(t.url);
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
    });
    socket.write(
      [`POST /v1/messages HTTP/1.1`, `Host: ${url.host}`, `Authorization: Bearer ${TEST_API_KEY}`, `Content-Type: multipart/form-data; boundary=${boundary}`, `Content-Length: ${head.length + PDF.length + 100}`, 'Connection: close', '', ''].join('\r\n'),
    );
    socket.write(head);
    socket.write(PDF.subarray(0, 2 * 1024 * 1024));
    socket.end();
    const text = await answer;
    // The client half-closed, so the answer may or may not arrive; the store must be clean either way.
    if (text !== '') expect(text).toMatch(/^HTTP\/1\.1 400/);
    await expect.poll(mediaKeys, { timeout: 10_000 }).toEqual([]);
    expect(await t.api.producer.queues.outbox.getJobCountByTypes('waiting', 'prioritized')).toBe(0);
  });
});
