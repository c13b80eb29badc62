/**
 * Files for sends, as the API takes them, into the session's media store (shared/media-store.ts); a
 * send's job then carries the stored file's reference, never its bytes.
 *
 * - By URL: fetched by the API, streamed into the store with the size cap (`MEDIA_MAX_BYTES`), its type
 *   read from its bytes (not the URL, nor the server's Content-Type); the address is checked as
 *   webhooks' are (shared/webhook-address.ts: on the address connected to, redirects included).
 * - By upload: `multipart/form-data`, the file part streamed into the store as it arrives.
 * - Inline base64, for small files (it rides in the JSON body and its limit).
 * - By reference: `mediaId` of a file stored before (`POST …/media`, or the SDK's `uploadMedia`).
 *
 * Whatever fails (an answer that is not 2xx, an address refused, too large, a type that lies, an
 * upload cut off) is a 4xx naming the input, and leaves nothing stored.
 */
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

import {
  AddressRefusedError,
  assertAllowedHost,
  guardedLookup,
  MediaEmptyError,
  MediaNotFoundError,
  MediaStore,
  MediaTooLargeError,
  MediaTypeMismatchError,
  toFieldProblems,
  type ByteRange,
  type MediaRef,
  type Producer,
} from '@waq/shared';
import busboy from 'busboy';
import type { Response } from 'express';
import type { z } from 'zod';

import { errorResponse, type HttpResult } from './error-response.js';
import { mediaSourceSchema } from './schemas.js';

export interface MediaDependencies {
  /** The session's producer: its `uploadMedia` stores, its keys find stored files. */
  readonly producer: Producer;
  /** WEBHOOK_ALLOW_PRIVATE: the same address policy for media URLs. */
  readonly allowPrivate: boolean;
  /** MEDIA_MAX_BYTES */
  readonly maxBytes: number;
  /** How long a URL's whole download may take. */
  readonly fetchTimeoutMs: number;
}

/** Where a file comes from, as a JSON body names it. */
export type MediaSource = z.infer<typeof mediaSourceSchema>;

/** A file the API could not take: the answer to give. */
export class MediaInputError extends Error {
  constructor(readonly result: HttpResult) {
    super(typeof result.body === 'object' && result.body !== null && 'message' in result.body ? String(result.body.message) : 'media input refused');
  }
}

const fail = (status: number, code: string, message: string, path: string): never => {
  throw new MediaInputError(errorResponse(status, code, message, [{ path, message }]));
};

const MAX_REDIRECTS = 3;

/** The response to a GET of `url`, redirects followed (each one checked against the address policy). */
async function openUrl(url: URL, deps: MediaDependencies, signal: AbortSignal, redirects = MAX_REDIRECTS): Promise<IncomingMessage> {
  const policy = { allowPrivate: deps.allowPrivate };
  assertAllowedHost(url.hostname, policy);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { method: 'GET', lookup: guardedLookup(policy), signal, headers: { Accept: '*/*', 'User-Agent': 'waq' } }, resolve);
    req.on('error', reject);
    req.end();
  });
  const status = response.statusCode ?? 0;
  const location = response.headers.location;
  if (status >= 300 && status < 400 && location !== undefined) {
    response.resume();
    if (redirects === 0) fail(422, 'media_fetch_failed', `${url.host} redirected more than ${MAX_REDIRECTS} times: give the file's final URL`, 'media.url');
    return openUrl(new URL(location, url), deps, signal, redirects - 1);
  }
  if (status < 200 || status >= 300) {
    response.resume();
    fail(422, 'media_fetch_failed', `GET of the file at ${url.host} answered ${status}: check the URL (it must serve the file itself, without credentials)`, 'media.url');
  }
  const length = Number(response.headers['content-length']);
  if (Number.isFinite(length) && length > deps.maxBytes) {
    response.destroy();
    fail(413, 'media_too_large', `the file at ${url.host} is ${length} bytes, over MEDIA_MAX_BYTES (${deps.maxBytes})`, 'media.url');
  }
  return response;
}

type StoreRefusal = MediaInputError | MediaTooLargeError | MediaTypeMismatchError | MediaEmptyError | AddressRefusedError;

const isStoreRefusal = (error: unknown): error is StoreRefusal =>
  error instanceof MediaInputError || error instanceof MediaTooLargeError || error instanceof MediaTypeMismatchError || error instanceof MediaEmptyError || error instanceof AddressRefusedError;

/** Maps what storing a file can throw to the answer naming `path`; rethrows anything else. */
function storeFailure(error: unknown, path: string): never {
  if (!isStoreRefusal(error)) throw error;
  if (error instanceof MediaInputError) throw error;
  if (error instanceof MediaTooLargeError) return fail(413, error.code, error.message, path);
  if (error instanceof AddressRefusedError) return fail(422, 'media_url_refused', error.message, path);
  return fail(422, error.code, error.message, path);
}

async function fromUrl(deps: MediaDependencies, source: { url: string; mimetype?: string | undefined; filename?: string | undefined }): Promise<MediaRef> {
  const url = new URL(source.url);
  const signal = AbortSignal.timeout(deps.fetchTimeoutMs);
  try {
    const response = await openUrl(url, deps, signal);
    return await deps.producer.uploadMedia({ data: response, ...(source.mimetype === undefined ? {} : { mimetype: source.mimetype }), ...(source.filename === undefined ? {} : { filename: source.filename }) });
  } catch (error) {
    // The address guard's refusal reaches here as the socket error's cause.
    const refusal = error instanceof Error && error.cause instanceof AddressRefusedError ? error.cause : error;
    if (isStoreRefusal(refusal)) return storeFailure(refusal, 'media.url');
    const reason = signal.aborted ? `no complete answer within ${deps.fetchTimeoutMs} ms` : error instanceof Error ? error.message : String(error);
    return fail(422, 'media_fetch_failed', `could not fetch the file from ${url.host}: ${reason}`, 'media.url');
  }
}

/** A JSON body's file, stored (or found, for a `mediaId`). @throws MediaInputError */
export async function storeMediaSource(deps: MediaDependencies, source: MediaSource): Promise<MediaRef> {
  if ('url' in source) return fromUrl(deps, source);
  if ('base64' in source) {
    const bytes = Buffer.from(source.base64, 'base64');
    try {
      return await deps.producer.uploadMedia({ data: bytes, ...(source.mimetype === undefined ? {} : { mimetype: source.mimetype }), ...(source.filename === undefined ? {} : { filename: source.filename }) });
    } catch (error) {
      return storeFailure(error, 'media.base64');
    }
  }
  const stored = await new MediaStore(deps.producer.queues.connection, deps.producer.queues.keys).get(source.mediaId);
  if (stored === null) {
    const missing = new MediaNotFoundError(source.mediaId);
    return fail(422, missing.code, missing.message, 'media.mediaId');
  }
  const filename = source.filename ?? stored.filename;
  return { mediaId: stored.id, mimetype: stored.mimetype, size: stored.size, sha256: stored.sha256, ...(filename === undefined ? {} : { filename }) };
}

/** Marks a file stored for one message: the worker removes it once that message is sent. */
export async function markStoredFor(producer: Producer, media: MediaRef, messageId: string): Promise<void> {
  await new MediaStore(producer.queues.connection, producer.queues.keys).storedFor(media.mediaId, messageId);
}

/** Removes a file stored for a send that was then refused. */
export async function discardMedia(producer: Producer, media: MediaRef): Promise<void> {
  const store = new MediaStore(producer.queues.connection, producer.queues.keys);
  const stored = await store.get(media.mediaId);
  if (stored !== null) await store.remove(stored);
}

/** A `multipart/form-data` body: its text fields, and the one file part stored as it arrived. */
export interface MultipartUpload {
  readonly fields: Record<string, string>;
  readonly media: MediaRef | undefined;
}

const MAX_FIELDS = 20;
const MAX_FIELD_BYTES = 70_000;

/**
 * Reads a `multipart/form-data` request: text fields, and at most one file (part `file`), streamed into
 * the media store. @throws MediaInputError (a second file, too many fields, the body cut off, the
 * file refused); whatever was stored is removed first.
 */
export async function readMultipart(deps: MediaDependencies, req: Readable & { headers: IncomingMessage['headers'] }): Promise<MultipartUpload> {
  const fields: Record<string, string> = {};
  let stored: Promise<MediaRef> | undefined;
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers, limits: { files: 1, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, fileSize: deps.maxBytes + 1 } });
  } catch (error) {
    return fail(400, 'invalid_multipart', `the multipart body cannot be read: ${error instanceof Error ? error.message : String(error)}`, '');
  }
  const done = new Promise<void>((resolve, reject) => {
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated) reject(new MediaInputError(errorResponse(422, 'invalid_payload', `the field ${name} is too long`, [{ path: name, message: `must be at most ${MAX_FIELD_BYTES} bytes` }])));
      fields[name] = value;
    });
    parser.on('file', (name, file, info) => {
      if (name !== 'file' || stored !== undefined) {
        file.resume();
        reject(new MediaInputError(errorResponse(422, 'invalid_payload', 'send one file, in the part named "file"', [{ path: name, message: 'unexpected file part' }])));
        return;
      }
      const declared = info.mimeType === '' ? undefined : info.mimeType;
      stored = deps.producer.uploadMedia({ data: file, ...(declared === undefined ? {} : { mimetype: declared }), ...(info.filename === undefined || info.filename === '' ? {} : { filename: info.filename }) });
      // The store stops reading at its first refusal (too large, a lying type): answer at once, and let
      // the rest of the body drain instead of waiting for a parser nobody reads from any more.
      stored.catch((error: unknown) => {
        req.unpipe(parser);
        req.resume();
        reject(error);
      });
    });
    parser.on('filesLimit', () => reject(new MediaInputError(errorResponse(422, 'invalid_payload', 'send one file, in the part named "file"', [{ path: 'file', message: 'more than one file' }]))));
    parser.on('fieldsLimit', () => reject(new MediaInputError(errorResponse(422, 'invalid_payload', `at most ${MAX_FIELDS} fields`, [{ path: '', message: 'too many fields' }]))));
    parser.on('error', (error: Error) => reject(new MediaInputError(errorResponse(400, 'upload_incomplete', `the multipart body was not received completely (${error.message}): send it again`, [{ path: 'file', message: error.message }]))));
    parser.on('close', resolve);
    req.on('aborted', () => parser.destroy(new Error('the client went away')));
  });
  req.pipe(parser);
  let media: MediaRef | undefined;
  try {
    await done;
    media = stored === undefined ? undefined : await stored;
  } catch (error) {
    const kept = await stored?.catch(() => undefined);
    if (kept !== undefined) await discardMedia(deps.producer, kept).catch(() => undefined);
    if (error instanceof MediaInputError) throw error;
    return storeFailure(error, 'file');
  }
  return { fields, media };
}

const FLAG_FIELDS = new Set(['asDocument', 'asVoice', 'asSticker', 'typing']);
const NUMBER_FIELDS = new Set(['ttlSeconds']);

/** A form field as the JSON body would carry it: the flags' `"true"`/`"false"` as booleans, numbers as numbers. */
function fieldValue(name: string, value: string): unknown {
  if (FLAG_FIELDS.has(name) && (value === 'true' || value === 'false')) return value === 'true';
  if (NUMBER_FIELDS.has(name) && /^\d{1,15}$/.test(value)) return Number(value);
  return value;
}

/** A multipart form's text fields as the JSON body would carry them. */
export function multipartBody(fields: Readonly<Record<string, string>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, fieldValue(name, value)]));
}

const mediaView = (media: MediaRef): HttpResult => ({ status: 201, body: media });

/**
 * `POST …/media`: stores a file for later sends (`media: {"mediaId": …}`), from a multipart upload (part
 * `file`) or a JSON body `{"url": …}` / `{"base64": …}`.
 */
export async function uploadMedia(deps: MediaDependencies, req: Readable & { headers: IncomingMessage['headers']; body?: unknown; is(type: string): string | false | null }): Promise<HttpResult> {
  try {
    if (req.is('multipart/form-data')) {
      const { media } = await readMultipart(deps, req);
      return media === undefined ? errorResponse(422, 'invalid_payload', 'send the file in a part named "file"', [{ path: 'file', message: 'is required' }]) : mediaView(media);
    }
    const parsed = mediaSourceSchema.safeParse(req.body);
    if (!parsed.success) return errorResponse(422, 'invalid_payload', 'the request is invalid: see details for the fields at fault', toFieldProblems(parsed.error));
    if ('mediaId' in parsed.data) return errorResponse(422, 'invalid_payload', 'the file is stored already', [{ path: 'mediaId', message: 'upload a file with url, base64, or a multipart part "file"' }]);
    return mediaView(await storeMediaSource(deps, parsed.data));
  } catch (error) {
    if (error instanceof MediaInputError) return error.result;
    throw error;
  }
}

/** Parses `Range: bytes=a-b` (one range) against a size: the range, 'unsatisfiable', or undefined (none or unreadable: the whole file). */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') return undefined;
  const range = from === '' ? { start: Math.max(0, size - Number(to)), end: size - 1 } : { start: Number(from), end: to === '' ? size - 1 : Math.min(Number(to), size - 1) };
  return range.start > range.end || range.start >= size ? 'unsatisfiable' : range;
}

/** `GET …/media/:mediaId`: the stored file, streamed, with `Range` (one range) and its sha256 as the ETag. */
export async function serveMedia(producer: Producer, rawId: string, req: { get(name: string): string | undefined; method: string }, res: Response): Promise<HttpResult | undefined> {
  const store = new MediaStore(producer.queues.connection, producer.queues.keys);
  const media = await store.get(rawId);
  if (media === null) return errorResponse(404, 'media_not_found', `no file ${JSON.stringify(rawId.slice(0, 64))} in session ${producer.sessionId}: it was never stored, or is past MEDIA_RETENTION_S`);
  const range = parseRange(req.get('Range'), media.size);
  if (range === 'unsatisfiable') {
    res.status(416).set('Content-Range', `bytes */${media.size}`).end();
    return undefined;
  }
  const headers: Record<string, string> = {
    'Content-Type': media.mimetype,
    'Accept-Ranges': 'bytes',
    ETag: `"${media.sha256}"`,
    'Cache-Control': 'private, max-age=3600',
    'Content-Length': String(range === undefined ? media.size : range.end - range.start + 1),
    ...(media.filename === undefined ? {} : { 'Content-Disposition': `inline; filename*=UTF-8''${encodeURIComponent(media.filename)}` }),
    ...(range === undefined ? {} : { 'Content-Range': `bytes ${range.start}-${range.end}/${media.size}` }),
  };
  res.status(range === undefined ? 200 : 206).set(headers);
  if (req.method === 'HEAD') {
    res.end();
    return undefined;
  }
  try {
    for await (const chunk of store.read(media, range)) {
      if (!res.write(chunk)) await once(res, 'drain');
    }
    res.end();
  } catch {
    // Expired meanwhile, or the client went away: the headers are out, so the connection is cut.
    res.destroy();
  }
  return undefined;
}
