/**
 * The media store: the files that sends carry and that contacts sent, in Redis, chunked, with a TTL, so
 * that whichever worker owns the session, on whichever host, can read them (the session store's
 * reasoning). Jobs carry a file's id, never its bytes.
 *
 * Keys (in the session's hash tag):
 *
 *   <p>:{<s>}:media:<id>       hash    state writing|complete, mimetype, size, sha256, chunks, filename,
 *                                      createdAt, expiresAt, and `for` (the message it was stored for)
 *   <p>:{<s>}:media:<id>:<i>   string  chunk i (at most `chunkBytes`)
 *
 * A file is written chunk by chunk as it arrives (nothing holds a whole upload in memory) and can be
 * read only once complete. Every key carries the file's TTL from its first write, so a writer that dies
 * half-way leaves nothing that outlives it; a write that fails (too large, a type that lies, a source
 * that breaks off) deletes what it wrote before it throws.
 */
import { createHash, randomBytes } from 'node:crypto';

import { WaqError } from './errors.js';
import type { SessionKeys } from './keys.js';
import { detectMediaType, MEDIA_SNIFF_BYTES } from './media-type.js';
import { RedisScript } from './redis-script.js';
import type { RedisClient } from './redis.js';
import { STORE_CHUNK_BYTES } from './session-store.js';

export const MEDIA_ID_PATTERN = /^md_[a-z2-7]{26}$/;

/** KEYS[1] a file's manifest; ARGV[1] a message id. Sets `for` on a complete file, once. */
const MARK_FOR = new RedisScript(`
if redis.call('HGET', KEYS[1], 'state') ~= 'complete' then return 0 end
return redis.call('HSETNX', KEYS[1], 'for', ARGV[1])
`);

export function newMediaId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `md_${[...randomBytes(26)].map((byte) => alphabet[byte % 32]).join('')}`;
}

export interface StoredMedia {
  readonly id: string;
  /** From the file's bytes (media-type.ts), with the declared type where it agrees. */
  readonly mimetype: string;
  readonly size: number;
  /** Hex SHA-256 of the bytes. */
  readonly sha256: string;
  readonly filename?: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** The one message this file was stored for (it goes once that message is sent); absent for a file many sends may use. */
  readonly for?: string;
}

export class MediaTooLargeError extends WaqError {
  override readonly name = 'MediaTooLargeError';
  readonly code = 'media_too_large';
  readonly retry = 'unrecoverable';
  constructor(readonly maxBytes: number) {
    super(`the file is larger than ${maxBytes} bytes (MEDIA_MAX_BYTES): send a smaller one, or raise the cap`);
  }
}

/** A send's file is not in the media store: never uploaded, or gone (its TTL ran out). */
export class MediaNotFoundError extends WaqError {
  override readonly name = 'MediaNotFoundError';
  readonly code = 'media_not_found';
  readonly retry = 'unrecoverable';
  constructor(readonly mediaId: string) {
    super(`the file ${mediaId} is not in the media store (never uploaded, or kept past MEDIA_RETENTION_S): upload it again and send a new message`);
  }
}

export class MediaEmptyError extends WaqError {
  override readonly name = 'MediaEmptyError';
  readonly code = 'media_empty';
  readonly retry = 'unrecoverable';
  constructor() {
    super('the file is empty: WhatsApp does not send empty files');
  }
}

export interface MediaPutOptions {
  /** How long the file is kept (every key expires then). */
  readonly ttlSeconds: number;
  /** MEDIA_MAX_BYTES: a larger file is refused as soon as it grows past it. */
  readonly maxBytes: number;
  /** The type the sender says it is (checked against the bytes). */
  readonly declaredType?: string | undefined;
  readonly filename?: string | undefined;
}

export interface MediaStoreOptions {
  /** @defaultValue STORE_CHUNK_BYTES */
  readonly chunkBytes?: number;
  readonly now?: () => Date;
}

/** A byte range, both ends included, as HTTP `Range` gives it. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export class MediaStore {
  private readonly chunkBytes: number;
  private readonly now: () => Date;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: SessionKeys,
    options: MediaStoreOptions = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? STORE_CHUNK_BYTES;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Stores a file as it arrives. @throws MediaTooLargeError, MediaEmptyError, MediaTypeMismatchError, or
   * the source's own error; in every case nothing of the file is left.
   */
  async put(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: MediaPutOptions): Promise<StoredMedia> {
    const id = newMediaId();
    const manifest = this.keys.media(id);
    const createdAt = this.now();
    const expiresAt = new Date(createdAt.getTime() + options.ttlSeconds * 1_000);
    const hash = createHash('sha256');
    let chunks = 0;
    let size = 0;
    // One chunk buffer, filled and written again and again: a file goes through without a copy of it
    // piling up as garbage (a SET has been written out once its reply is in, so the buffer is free).
    const chunk = Buffer.allocUnsafe(this.chunkBytes);
    let filled = 0;
    let mimetype: string | undefined;
    // The type from the first bytes, checked once, before the first chunk is written.
    const sniff = async (): Promise<string> => (mimetype ??= await detectMediaType(chunk.subarray(0, Math.min(filled, MEDIA_SNIFF_BYTES)), options.declaredType));
    const writeChunk = async (): Promise<void> => {
      await sniff();
      await this.redis.set(this.keys.mediaChunk(id, chunks), chunk.subarray(0, filled), 'EX', options.ttlSeconds);
      chunks += 1;
      filled = 0;
    };
    try {
      await this.redis.multi().hset(manifest, { state: 'writing', createdAt: createdAt.toISOString() }).expire(manifest, options.ttlSeconds).exec();
      for await (const piece of source) {
        size += piece.byteLength;
        if (size > options.maxBytes) throw new MediaTooLargeError(options.maxBytes);
        hash.update(piece);
        let offset = 0;
        while (offset < piece.byteLength) {
          const taken = Math.min(piece.byteLength - offset, this.chunkBytes - filled);
          chunk.set(piece.subarray(offset, offset + taken), filled);
          filled += taken;
          offset += taken;
          if (filled === this.chunkBytes) await writeChunk();
        }
      }
      if (size === 0) throw new MediaEmptyError();
      if (filled > 0) await writeChunk();
      const type = await sniff();
      const media: StoredMedia = { id, mimetype: type, size, sha256: hash.digest('hex'), ...(options.filename === undefined ? {} : { filename: options.filename }), createdAt, expiresAt };
      await this.redis
        .multi()
        .hset(manifest, { state: 'complete', mimetype: type, size, sha256: media.sha256, chunks, ...(media.filename === undefined ? {} : { filename: media.filename }), expiresAt: expiresAt.toISOString() })
        .expire(manifest, options.ttlSeconds)
        .exec();
      return media;
    } catch (error) {
      await this.removeKeys(id, chunks).catch(() => undefined);
      throw error;
    }
  }

  /** A complete file's description, or null (unknown, expired, or still being written). */
  async get(id: string): Promise<StoredMedia | null> {
    if (!MEDIA_ID_PATTERN.test(id)) return null;
    const fields = await this.redis.hgetall(this.keys.media(id));
    if (fields['state'] !== 'complete') return null;
    return {
      id,
      mimetype: fields['mimetype'] ?? 'application/octet-stream',
      size: Number(fields['size']),
      sha256: fields['sha256'] ?? '',
      ...(fields['filename'] === undefined ? {} : { filename: fields['filename'] }),
      createdAt: new Date(fields['createdAt'] ?? 0),
      expiresAt: new Date(fields['expiresAt'] ?? 0),
      ...(fields['for'] === undefined ? {} : { for: fields['for'] }),
    };
  }

  /** Marks a complete file as stored for one message only: {@link removeIfFor} removes it once that message is sent. */
  async storedFor(mediaId: string, messageId: string): Promise<void> {
    await MARK_FOR.run(this.redis, [this.keys.media(mediaId)], [messageId]);
  }

  /** Removes the file if it was stored for this message alone (a file shared by many sends stays until its TTL). */
  async removeIfFor(mediaId: string, messageId: string): Promise<boolean> {
    const media = await this.get(mediaId);
    if (media?.for !== messageId) return false;
    await this.remove(media);
    return true;
  }

  /**
   * The bytes of a complete file, chunk by chunk (a `range` reads only the chunks it covers). Ends early
   * with an error when a chunk is gone (the file expired meanwhile).
   */
  async *read(media: StoredMedia, range: ByteRange = { start: 0, end: media.size - 1 }): AsyncGenerator<Buffer> {
    const first = Math.floor(range.start / this.chunkBytes);
    const last = Math.floor(range.end / this.chunkBytes);
    for (let index = first; index <= last; index += 1) {
      const chunk = await this.redis.getBuffer(this.keys.mediaChunk(media.id, index));
      if (chunk === null) throw new Error(`media ${media.id} expired while it was being read (chunk ${index} is gone)`);
      const offset = index * this.chunkBytes;
      yield chunk.subarray(Math.max(0, range.start - offset), Math.min(chunk.length, range.end - offset + 1));
    }
  }

  /** The whole file in memory (what a WhatsApp send needs: the library takes base64). */
  async readAll(media: StoredMedia): Promise<Buffer> {
    // Filled in place: one copy of the file in memory, not its chunks and then their concatenation.
    const bytes = Buffer.allocUnsafe(media.size);
    let offset = 0;
    for await (const part of this.read(media)) offset += part.copy(bytes, offset);
    if (offset !== media.size) throw new Error(`media ${media.id} is ${offset} bytes in the store, not the ${media.size} its manifest says`);
    return bytes;
  }

  async remove(media: StoredMedia): Promise<void> {
    await this.removeKeys(media.id, this.chunkCount(media));
  }

  private chunkCount(media: StoredMedia): number {
    return Math.ceil(media.size / this.chunkBytes);
  }

  private async removeKeys(id: string, chunks: number): Promise<void> {
    await this.redis.del(this.keys.media(id), ...Array.from({ length: chunks }, (_, index) => this.keys.mediaChunk(id, index)));
  }
}
