import { createHash, randomBytes } from 'node:crypto';

import { createRedisFixture, keysUnder, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { sessionKeys } from './keys.js';
import { MediaEmptyError, MediaStore, MediaTooLargeError } from './media-store.js';
import { MediaTypeMismatchError } from './media-type.js';

const PDF_HEAD = Buffer.from('%PDF-1.7\n');
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** The file in pieces of `pieceBytes`, as a network stream delivers it. */
async function* pieces(bytes: Buffer, pieceBytes = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += pieceBytes) yield bytes.subarray(offset, offset + pieceBytes);
}

async function* breaksOff(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield* pieces(bytes);
  throw new Error('the upload was cut off');
}

describe('MediaStore', () => {
  let fixture: RedisFixture;
  let store: MediaStore;
  beforeEach(async () => {
    fixture = await createRedisFixture();
    store = new MediaStore(fixture.redis, sessionKeys({ prefix: fixture.prefix, sessionId: 'sales' }), { chunkBytes: 100_000 });
  });
  afterEach(() => fixture.cleanup());

  it('stores a file in chunks with its type from the bytes, size and sha256, every key with its TTL, and reads it back whole or by range', async () => {
    const file = Buffer.concat([PDF_HEAD, randomBytes(350_000)]);
    const media = await store.put(pieces(file), { ttlSeconds: 600, maxBytes: 1_000_000, filename: 'report.pdf' });
    expect(media).toMatchObject({ mimetype: 'application/pdf', size: file.length, sha256: sha256(file), filename: 'report.pdf' });
    expect(media.id).toMatch(/^md_[a-z2-7]{26}$/);
    expect(await store.get(media.id)).toEqual(media);

    const keys = await keysUnder(fixture.redis, fixture.prefix);
    expect(keys).toHaveLength(1 + 4);
    for (const key of keys) expect(await fixture.redis.ttl(key)).toBeGreaterThan(590);

    expect(sha256(await store.readAll(media))).toBe(sha256(file));
    const parts: Buffer[] = [];
    for await (const part of store.read(media, { start: 99_990, end: 200_010 })) parts.push(part);
    expect(Buffer.concat(parts)).toEqual(file.subarray(99_990, 200_011));

    await store.remove(media);
    expect(await keysUnder(fixture.redis, fixture.prefix)).toEqual([]);
    expect(await store.get(media.id)).toBeNull();
  });

  it('leaves nothing behind when a file is too large, lies about its type, is empty, or its source breaks off', async () => {
    const file = Buffer.concat([PDF_HEAD, randomBytes(350_000)]);
    await expect(store.put(pieces(file), { ttlSeconds: 600, maxBytes: 250_000 })).rejects.toBeInstanceOf(MediaTooLargeError);
    await expect(store.put(pieces(file), { ttlSeconds: 600, maxBytes: 1_000_000, declaredType: 'image/png' })).rejects.toBeInstanceOf(MediaTypeMismatchError);
    await expect(store.put(pieces(Buffer.alloc(0)), { ttlSeconds: 600, maxBytes: 1_000_000 })).rejects.toBeInstanceOf(MediaEmptyError);
    await expect(store.put(breaksOff(file), { ttlSeconds: 600, maxBytes: 1_000_000 })).rejects.toThrow('the upload was cut off');
    expect(await keysUnder(fixture.redis, fixture.prefix)).toEqual([]);
  });

  it('does not serve a file still being written, nor an id of another shape', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield Buffer.concat([PDF_HEAD, randomBytes(200_000)]);
      await gate;
    }
    const writing = store.put(slow(), { ttlSeconds: 600, maxBytes: 1_000_000 });
    let manifest: string | undefined;
    await vi.waitFor(async () => {
      [manifest] = (await keysUnder(fixture.redis, fixture.prefix)).filter((key) => /:media:md_[a-z2-7]+$/.test(key));
      expect(manifest).toBeDefined();
    });
    expect(await store.get(manifest!.split(':media:')[1]!)).toBeNull();
    release();
    expect(await store.get((await writing).id)).not.toBeNull();
    expect(await store.get('../../etc/passwd')).toBeNull();
  });
});
