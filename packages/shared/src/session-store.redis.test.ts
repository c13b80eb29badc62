import { randomBytes } from 'node:crypto';

import { createRedisFixture, keysUnder, startThrowawayRedis, type RedisFixture } from '@waq/test-utils';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { sessionKeys, type SessionKeys } from './keys.js';
import { BackupCorruptError, BackupFencedError, rechunk, SessionStore, type BackupManifest } from './session-store.js';

const A = 'host-a:1:aaaa';
const B = 'host-b:2:bbbb';
const CHUNK = 1000;

let fixture: RedisFixture;
let keys: SessionKeys;
let store: SessionStore;
beforeEach(async () => {
  fixture = await createRedisFixture();
  keys = sessionKeys({ prefix: fixture.prefix, sessionId: 'sales' });
  store = new SessionStore(fixture.redis, keys, 'sales', { chunkBytes: CHUNK });
});
afterEach(async () => {
  await fixture.cleanup();
});

async function* pieces(data: Buffer, size = 333): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const summary = { rawBytes: 9_999, files: 7 };
const own = (worker: string): Promise<unknown> => fixture.redis.set(keys.lease, worker, 'PX', 60_000);

async function readAll(manifest: BackupManifest): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of store.read(manifest)) parts.push(chunk);
  return Buffer.concat(parts);
}

async function storeKeys(): Promise<string[]> {
  return (await keysUnder(fixture.redis, keys.store)).concat((await fixture.redis.exists(keys.store)) === 1 ? [keys.store] : []).sort();
}

describe('rechunk', () => {
  it('cuts any stream of pieces into exact chunks, the last one shorter', async () => {
    const data = randomBytes(2_500);
    const out: Buffer[] = [];
    for await (const chunk of rechunk(pieces(data, 777), 1_000)) out.push(chunk);
    expect(out.map((c) => c.length)).toEqual([1_000, 1_000, 500]);
    expect(Buffer.concat(out).equals(data)).toBe(true);
  });
});

describe('SessionStore', () => {
  it('stores a backup in chunks under a new generation and reads the same bytes back', async () => {
    await own(A);
    expect(await store.state()).toEqual({ current: null, previous: null });
    const data = randomBytes(2_500);
    const written = await store.write(A, pieces(data), () => summary);
    expect(written).toMatchObject({ generation: 1, worker: A, chunks: 3, bytes: 2_500, rawBytes: 9_999, files: 7 });
    expect((await store.state()).current).toEqual(written);
    expect((await readAll(written)).equals(data)).toBe(true);
    const chunkSizes = await Promise.all([0, 1, 2].map((i) => fixture.redis.strlen(keys.storeChunk(1, i))));
    expect(chunkSizes).toEqual([1_000, 1_000, 500]);
  });

  it('keeps the current and the previous generation, and deletes the older ones', async () => {
    await own(A);
    for (let i = 0; i < 4; i += 1) await store.write(A, pieces(randomBytes(1_500)), () => summary);
    const state = await store.state();
    expect([state.current?.generation, state.previous?.generation]).toEqual([4, 3]);
    expect(await storeKeys()).toEqual([keys.store, keys.storeGeneration(3), keys.storeChunk(3, 0), keys.storeChunk(3, 1), keys.storeGeneration(4), keys.storeChunk(4, 0), keys.storeChunk(4, 1), keys.storeGenerations].sort());
  });

  it('refuses a write from a worker that does not hold the lease, and leaves the backup alone', async () => {
    await own(A);
    const good = await store.write(A, pieces(randomBytes(1_200)), () => summary);
    await own(B);
    await expect(store.write(A, pieces(randomBytes(1_200)), () => summary)).rejects.toMatchObject({ name: 'BackupFencedError', reason: 'lease' });
    expect((await store.state()).current).toEqual(good);
  });

  it('a worker that loses the lease half-way cannot add another chunk, and its backup never becomes current', async () => {
    await own(A);
    const first = await store.write(A, pieces(randomBytes(1_200)), () => summary);
    // A stalls in the middle of a write (the SIGSTOP case) and B takes the session over meanwhile.
    async function* stalled(): AsyncGenerator<Buffer> {
      yield randomBytes(1_000);
      await own(B);
      yield randomBytes(1_000);
    }
    await expect(store.write(A, stalled(), () => summary)).rejects.toMatchObject({ name: 'BackupFencedError', reason: 'lease' });
    expect(await fixture.redis.exists(keys.storeChunk(2, 1))).toBe(0);
    expect((await store.state()).current).toEqual(first);
    const fromB = await store.write(B, pieces(randomBytes(1_200)), () => summary);
    expect(await store.state()).toEqual({ current: fromB, previous: first });
    expect(fromB).toMatchObject({ generation: 3, worker: B });
  });

  it('a write begun before a newer backup was committed can no longer be committed (superseded)', async () => {
    await own(A);
    // Two writes of one worker racing (never done by the worker, which backs up one at a time): the later commit wins.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* slow(): AsyncGenerator<Buffer> {
      yield randomBytes(500);
      await gate;
    }
    const older = store.write(A, slow(), () => summary);
    await expect.poll(() => fixture.redis.hget(keys.store, 'next')).toBe('1');
    const newer = await store.write(A, pieces(randomBytes(500)), () => summary);
    release();
    await expect(older).rejects.toMatchObject({ name: 'BackupFencedError', reason: 'superseded' });
    expect((await store.state()).current).toEqual(newer);
  });

  it('a write cut off half-way never becomes current and is cleaned up by the next commit', async () => {
    await own(A);
    const good = await store.write(A, pieces(randomBytes(1_500)), () => summary);
    async function* broken(): AsyncGenerator<Buffer> {
      yield randomBytes(2_000);
      throw new Error('the profile vanished');
    }
    await expect(store.write(A, broken(), () => summary)).rejects.toThrow('the profile vanished');
    expect((await store.state()).current).toEqual(good);
    expect(await fixture.redis.exists(keys.storeChunk(2, 1))).toBe(1);
    await store.write(A, pieces(randomBytes(500)), () => summary);
    expect(await fixture.redis.exists(keys.storeGeneration(2), keys.storeChunk(2, 0), keys.storeChunk(2, 1))).toBe(0);
  });

  it('reading a backup whose chunk changed or went missing fails before its last chunk', async () => {
    await own(A);
    const manifest = await store.write(A, pieces(randomBytes(2_500)), () => summary);
    // A byte that differs from the one there (a fixed 'X' left the chunk unchanged once in 256 runs).
    const byte = (await fixture.redis.getrangeBuffer(keys.storeChunk(1, 1), 10, 10))[0] ?? 0;
    await fixture.redis.setrange(keys.storeChunk(1, 1), 10, Buffer.from([byte ^ 0xff]));
    const seen: number[] = [];
    const reading = (async () => {
      for await (const chunk of store.read(manifest)) seen.push(chunk.length);
    })();
    await expect(reading).rejects.toBeInstanceOf(BackupCorruptError);
    await expect(reading).rejects.toThrow('backup generation 1 of session sales is unusable: its checksum does not match');
    expect(seen).toEqual([1_000, 1_000]);
    await fixture.redis.del(keys.storeChunk(1, 2));
    await expect(readAll(manifest)).rejects.toThrow('chunk 3 of 3 is missing');
  });

  it('clears every backup, fenced by the lease', async () => {
    await own(A);
    await store.write(A, pieces(randomBytes(1_500)), () => summary);
    await store.write(A, pieces(randomBytes(1_500)), () => summary);
    await expect(store.clear(B)).rejects.toBeInstanceOf(BackupFencedError);
    expect(await storeKeys()).not.toEqual([]);
    await store.clear(A);
    expect(await storeKeys()).toEqual([]);
    expect(await store.state()).toEqual({ current: null, previous: null });
  });

  it('survives a Redis restart with AOF: the backup reads back whole, and the next one commits after it', async () => {
    const server = await startThrowawayRedis({ appendfsync: 'always' });
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    try {
      const aofKeys = sessionKeys({ prefix: 'waq', sessionId: 'sales' });
      const aofStore = new SessionStore(redis, aofKeys, 'sales', { chunkBytes: CHUNK });
      await redis.set(aofKeys.lease, A);
      const data = randomBytes(3_500);
      const written = await aofStore.write(A, pieces(data), () => summary);
      await server.stop('SIGKILL');
      await server.start();
      const after = await aofStore.state();
      expect(after.current).toEqual(written);
      const parts: Buffer[] = [];
      for await (const chunk of aofStore.read(after.current!)) parts.push(chunk);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      expect((await aofStore.write(A, pieces(randomBytes(500)), () => summary)).generation).toBe(2);
    } finally {
      redis.disconnect();
      await server.close();
    }
  });
});
