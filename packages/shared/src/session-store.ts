/**
 * The session store (SESSION_STORE=redis): backups of a session's profile in Redis, so that a worker on
 * any host can take the session over without a new QR.
 *
 * Keys (every one in the session's hash tag, so every script below runs in one slot on Redis Cluster):
 *
 *   <p>:{<s>}:store              hash    current, previous (generations; absent = none), next (the last one begun)
 *   <p>:{<s>}:store:gens         set     every generation that has keys (written, being written, or cut off)
 *   <p>:{<s>}:store:<g>          hash    manifest: state writing|complete, worker, written (chunks so far),
 *                                        then chunks, bytes, rawBytes, files, sha256, startedAt, completedAt
 *   <p>:{<s>}:store:<g>:<i>      string  chunk i of the compressed archive (at most `chunkBytes`)
 *
 * A backup is written as a new generation, chunk by chunk, and only its commit makes it current, once
 * its size and SHA-256 are recorded; a backup cut off half-way is never read and is deleted by the next
 * commit (which keeps the current generation and the one before it, the fallback of a restore).
 *
 * Fencing: every write is a script that first checks that the session lease holds the writer's worker
 * id; a commit also needs a generation newer than the current one. A worker that lost the lease
 * (paused past its TTL, cut off from Redis) can neither add a chunk nor make its backup current, so it
 * can never overwrite the backup of the worker that owns the session now.
 */
import { createHash } from 'node:crypto';

import { WaqError } from './errors.js';
import type { SessionKeys } from './keys.js';
import { RedisScript } from './redis-script.js';
import type { RedisClient } from './redis.js';

/**
 * The default chunk size: small enough to never block Redis on one value, large enough to need few round
 * trips. 1 MiB less 64 B: jemalloc (Redis's allocator) has size classes of 1 MiB and 1.25 MiB, and a
 * string of exactly 1 MiB plus its header takes 1.25 MiB (docs/benchmarks.md, the store case, measures both).
 */
export const STORE_CHUNK_BYTES = 1024 * 1024 - 64;

export interface BackupManifest {
  readonly generation: number;
  /** The worker that wrote it. */
  readonly worker: string;
  readonly chunks: number;
  /** Compressed size, as stored. */
  readonly bytes: number;
  /** Size of the profile files it holds. */
  readonly rawBytes: number;
  readonly files: number;
  /** SHA-256 of the stored bytes (all chunks in order), hex. */
  readonly sha256: string;
  readonly startedAt: Date;
  readonly completedAt: Date;
}

export interface StoreState {
  /** The newest complete backup, or null when there is none. */
  readonly current: BackupManifest | null;
  /** The one before it (a restore's fallback), or null. */
  readonly previous: BackupManifest | null;
}

/** What an archive tells the commit about itself once it has been read to the end. */
export interface ArchiveSummary {
  readonly rawBytes: number;
  readonly files: number;
}

/** Why a write was refused: this worker does not hold the lease, or a newer backup exists. */
export type FencedReason = 'lease' | 'superseded';

/** A backup write was refused because this worker no longer owns the session (or a newer one exists). */
export class BackupFencedError extends WaqError {
  override readonly name = 'BackupFencedError';
  readonly code = 'backup_fenced';
  readonly retry = 'held';
  constructor(
    readonly sessionId: string,
    readonly reason: FencedReason,
  ) {
    super(
      reason === 'lease'
        ? `the backup of session ${sessionId} was not stored: this worker no longer owns the session (the owner's backups are kept)`
        : `the backup of session ${sessionId} was not stored: a newer backup exists`,
    );
  }
}

/** A stored backup does not match its manifest (cut off, changed, or its chunks gone). */
export class BackupCorruptError extends WaqError {
  override readonly name = 'BackupCorruptError';
  readonly code = 'backup_corrupt';
  readonly retry = 'retryable';
  constructor(
    readonly sessionId: string,
    readonly generation: number,
    detail: string,
  ) {
    super(`backup generation ${generation} of session ${sessionId} is unusable: ${detail}`);
  }
}

const LEASE_LOST = -1;
const NOT_WRITING = -2;
const OUT_OF_ORDER = -3;
const SUPERSEDED = -4;

/** KEYS: lease, store, gens. ARGV: worker, now (ms), manifest key base. → the new generation, or -1. */
const BEGIN = new RedisScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return ${LEASE_LOST} end
local g = redis.call('HINCRBY', KEYS[2], 'next', 1)
redis.call('SADD', KEYS[3], g)
redis.call('HSET', ARGV[3] .. ':' .. g, 'state', 'writing', 'worker', ARGV[1], 'startedAt', ARGV[2], 'written', 0)
return g`);

/** KEYS: lease, manifest, chunk. ARGV: worker, index, bytes. → 1, or a refusal. */
const PUT = new RedisScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return ${LEASE_LOST} end
if redis.call('HGET', KEYS[2], 'state') ~= 'writing' or redis.call('HGET', KEYS[2], 'worker') ~= ARGV[1] then return ${NOT_WRITING} end
if tonumber(redis.call('HGET', KEYS[2], 'written')) ~= tonumber(ARGV[2]) then return ${OUT_OF_ORDER} end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[2], 'written', 1)
return 1`);

/**
 * KEYS: lease, store, gens, manifest. ARGV: worker, generation, chunks, bytes, rawBytes, files, sha256,
 * now (ms), manifest key base. Makes the generation current and deletes every other one but the
 * previous current. → 1, or a refusal.
 */
const COMMIT = new RedisScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return ${LEASE_LOST} end
if redis.call('HGET', KEYS[4], 'state') ~= 'writing' or redis.call('HGET', KEYS[4], 'worker') ~= ARGV[1] then return ${NOT_WRITING} end
if tonumber(redis.call('HGET', KEYS[4], 'written')) ~= tonumber(ARGV[3]) then return ${OUT_OF_ORDER} end
local g = tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[2], 'current') or '0')
if g <= current then return ${SUPERSEDED} end
redis.call('HSET', KEYS[4], 'state', 'complete', 'chunks', ARGV[3], 'bytes', ARGV[4], 'rawBytes', ARGV[5], 'files', ARGV[6], 'sha256', ARGV[7], 'completedAt', ARGV[8])
redis.call('HSET', KEYS[2], 'current', g)
if current > 0 then redis.call('HSET', KEYS[2], 'previous', current) else redis.call('HDEL', KEYS[2], 'previous') end
for _, old in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local n = tonumber(old)
  if n ~= g and n ~= current then
    local m = ARGV[9] .. ':' .. old
    local written = tonumber(redis.call('HGET', m, 'written') or '0')
    for i = 0, written - 1 do redis.call('UNLINK', m .. ':' .. i) end
    redis.call('UNLINK', m)
    redis.call('SREM', KEYS[3], old)
  end
end
return 1`);

/** KEYS: lease, store, gens. ARGV: worker, manifest key base. Deletes every backup. → 1, or -1. */
const CLEAR = new RedisScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return ${LEASE_LOST} end
for _, old in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local m = ARGV[2] .. ':' .. old
  local written = tonumber(redis.call('HGET', m, 'written') or '0')
  for i = 0, written - 1 do redis.call('UNLINK', m .. ':' .. i) end
  redis.call('UNLINK', m)
end
redis.call('UNLINK', KEYS[2], KEYS[3])
return 1`);

export interface SessionStoreOptions {
  /** @defaultValue STORE_CHUNK_BYTES */
  readonly chunkBytes?: number;
}

export class SessionStore {
  private readonly chunkBytes: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: SessionKeys,
    readonly sessionId: string,
    options: SessionStoreOptions = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? STORE_CHUNK_BYTES;
  }

  /** The current and previous backups (null when none). */
  async state(): Promise<StoreState> {
    const [current, previous] = await this.redis.hmget(this.keys.store, 'current', 'previous');
    const [a, b] = await Promise.all([current, previous].map((g) => (g === null ? null : this.manifest(Number(g)))));
    return { current: a ?? null, previous: b ?? null };
  }

  /** A complete generation's manifest, or null (unknown, deleted, or still being written). */
  async manifest(generation: number): Promise<BackupManifest | null> {
    const raw = await this.redis.hgetall(this.keys.storeGeneration(generation));
    if (raw['state'] !== 'complete') return null;
    return {
      generation,
      worker: raw['worker'] ?? '',
      chunks: Number(raw['chunks']),
      bytes: Number(raw['bytes']),
      rawBytes: Number(raw['rawBytes']),
      files: Number(raw['files']),
      sha256: raw['sha256'] ?? '',
      startedAt: new Date(Number(raw['startedAt'])),
      completedAt: new Date(Number(raw['completedAt'])),
    };
  }

  /**
   * Stores `archive` as a new generation and makes it current, fenced by the lease: `workerId` must
   * hold it for every chunk and for the commit. `summary` is read once the archive has ended.
   * @throws BackupFencedError when the lease is not held (or was lost meanwhile) or a newer backup was committed
   */
  async write(workerId: string, archive: AsyncIterable<Buffer>, summary: () => ArchiveSummary): Promise<BackupManifest> {
    const base = this.keys.store;
    const startedAt = Date.now();
    const generation = Number(await BEGIN.run(this.redis, [this.keys.lease, base, this.keys.storeGenerations], [workerId, startedAt, base]));
    if (generation === LEASE_LOST) throw new BackupFencedError(this.sessionId, 'lease');
    const manifestKey = this.keys.storeGeneration(generation);
    const hash = createHash('sha256');
    let chunks = 0;
    let bytes = 0;
    const put = async (chunk: Buffer): Promise<void> => {
      hash.update(chunk);
      bytes += chunk.length;
      const answer = Number(await PUT.run(this.redis, [this.keys.lease, manifestKey, this.keys.storeChunk(generation, chunks)], [workerId, chunks, chunk]));
      if (answer !== 1) throw new BackupFencedError(this.sessionId, answer === LEASE_LOST ? 'lease' : 'superseded');
      chunks += 1;
    };
    for await (const chunk of rechunk(archive, this.chunkBytes)) await put(chunk);
    const { rawBytes, files } = summary();
    const sha256 = hash.digest('hex');
    const completedAt = Date.now();
    const answer = Number(
      await COMMIT.run(
        this.redis,
        [this.keys.lease, base, this.keys.storeGenerations, manifestKey],
        [workerId, generation, chunks, bytes, rawBytes, files, sha256, completedAt, base],
      ),
    );
    if (answer !== 1) throw new BackupFencedError(this.sessionId, answer === LEASE_LOST ? 'lease' : 'superseded');
    return { generation, worker: workerId, chunks, bytes, rawBytes, files, sha256, startedAt: new Date(startedAt), completedAt: new Date(completedAt) };
  }

  /**
   * The stored bytes of `manifest`, chunk by chunk. The last chunk is yielded only after the whole was
   * checked against the manifest's size and SHA-256, so a consumer that reaches the end read a good
   * backup.
   * @throws BackupCorruptError when a chunk is missing or the bytes do not match
   */
  async *read(manifest: BackupManifest): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    let bytes = 0;
    let held: Buffer | undefined;
    for (let i = 0; i < manifest.chunks; i += 1) {
      const chunk = await this.redis.getBuffer(this.keys.storeChunk(manifest.generation, i));
      if (chunk === null) throw new BackupCorruptError(this.sessionId, manifest.generation, `chunk ${i + 1} of ${manifest.chunks} is missing`);
      hash.update(chunk);
      bytes += chunk.length;
      if (held !== undefined) yield held;
      held = chunk;
    }
    if (bytes !== manifest.bytes) throw new BackupCorruptError(this.sessionId, manifest.generation, `${bytes} bytes stored, ${manifest.bytes} recorded`);
    if (hash.digest('hex') !== manifest.sha256) throw new BackupCorruptError(this.sessionId, manifest.generation, 'its checksum does not match');
    if (held !== undefined) yield held;
  }

  /**
   * Deletes every backup of the session (a logout, a deletion), fenced like a write.
   * @throws BackupFencedError when `workerId` does not hold the lease
   */
  async clear(workerId: string): Promise<void> {
    const answer = Number(await CLEAR.run(this.redis, [this.keys.lease, this.keys.store, this.keys.storeGenerations], [workerId, this.keys.store]));
    if (answer !== 1) throw new BackupFencedError(this.sessionId, 'lease');
  }
}

/** Re-cuts a byte stream into pieces of exactly `size` bytes (the last one shorter). */
export async function* rechunk(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const piece of source) {
    let rest = piece;
    while (length + rest.length >= size) {
      const take = size - length;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts);
      rest = rest.subarray(take);
      parts = [];
      length = 0;
    }
    if (rest.length > 0) {
      parts.push(rest);
      length += rest.length;
    }
  }
  if (length > 0) yield Buffer.concat(parts);
}
