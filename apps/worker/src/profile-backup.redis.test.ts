import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { SessionStore, sessionKeys, type SessionKeys } from '@waq/shared';
import { createRedisFixture, keysUnder, type RedisFixture } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ProfileBackup } from './profile-backup.js';
import { SessionProfile } from './profile.js';
import { silentLogger } from './testing/owner-harness.js';

const A = 'host-a:1:aaaa';
const B = 'host-b:2:bbbb';

let fixture: RedisFixture;
let keys: SessionKeys;
let root: string;
beforeEach(async () => {
  fixture = await createRedisFixture();
  keys = sessionKeys({ prefix: fixture.prefix, sessionId: 'sales' });
  root = await mkdtemp(path.join(tmpdir(), 'waq-backup-'));
});
afterEach(async () => {
  await fixture.cleanup();
  await rm(root, { recursive: true, force: true });
});

/** One "host": its own SESSION_DIR, and the backup of session `sales` on it, owned by `worker`. */
function host(name: string, worker: string, chunkBytes = 64 * 1024): { profile: SessionProfile; backup: ProfileBackup; store: SessionStore } {
  const profile = new SessionProfile(path.join(root, name), 'sales', silentLogger);
  const store = new SessionStore(fixture.redis, keys, 'sales', { chunkBytes });
  const backup = new ProfileBackup({ store, profile, workerId: worker, logger: silentLogger, intervalMs: 60_000, firstDelayMs: 0, warnBytes: 1024 * 1024 });
  return { profile, backup, store };
}

/** A profile as Chromium leaves it: the two databases, caches the backup leaves out, and waq's marker. */
async function fakeProfile(profile: SessionProfile, token: string): Promise<void> {
  await mkdir(path.join(profile.dir, 'Default', 'IndexedDB', 'https_web.whatsapp.com_0.indexeddb.leveldb'), { recursive: true });
  await writeFile(path.join(profile.dir, 'Default', 'IndexedDB', 'https_web.whatsapp.com_0.indexeddb.leveldb', '000003.log'), `keys of ${token}\n`.repeat(500));
  await mkdir(path.join(profile.dir, 'Default', 'Local Storage', 'leveldb'), { recursive: true });
  await writeFile(path.join(profile.dir, 'Default', 'Local Storage', 'leveldb', 'CURRENT'), 'MANIFEST-000001\n');
  await mkdir(path.join(profile.dir, 'Default', 'Cache'), { recursive: true });
  await writeFile(path.join(profile.dir, 'Default', 'Cache', 'data_1'), Buffer.alloc(100_000, 7));
  await profile.markSaved();
}

const token = (profile: SessionProfile): Promise<string> =>
  readFile(path.join(profile.dir, 'Default', 'IndexedDB', 'https_web.whatsapp.com_0.indexeddb.leveldb', '000003.log'), 'utf8').then((text) => text.split('\n')[0]!);

const own = (worker: string): Promise<unknown> => fixture.redis.set(keys.lease, worker, 'PX', 60_000);

describe('ProfileBackup', () => {
  it('backs a profile up on one host and restores it on another that has nothing: databases and marker, no caches', async () => {
    const a = host('a', A);
    await fakeProfile(a.profile, 'v1');
    await own(A);
    const manifest = await a.backup.backup('periodic');
    expect(manifest).toMatchObject({ generation: 1, worker: A, files: 3 });
    expect(manifest!.bytes).toBeLessThan(manifest!.rawBytes);
    expect(await a.backup.localGeneration()).toBe(1);

    await own(B);
    const b = host('b', B);
    expect(await b.profile.hasSavedSession()).toBe(false);
    expect(await b.backup.restore()).toEqual({ kind: 'restored', generation: 1, fallback: false });
    expect(await b.profile.hasSavedSession()).toBe(true);
    expect(await token(b.profile)).toBe('keys of v1');
    await expect(readFile(path.join(b.profile.dir, 'Default', 'Cache', 'data_1'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await b.backup.localGeneration()).toBe(1);
  });

  it('keeps a local profile as new as the store, and replaces an older one', async () => {
    const a = host('a', A);
    await fakeProfile(a.profile, 'v1');
    await own(A);
    await a.backup.backup('periodic');
    expect(await a.backup.restore()).toEqual({ kind: 'local', generation: 1 });

    // The session moves to B, runs there and is backed up twice; A's copy on disk is now behind.
    await own(B);
    const b = host('b', B);
    await b.backup.restore();
    await fakeProfile(b.profile, 'v3');
    await b.backup.backup('periodic');
    await b.backup.backup('periodic');
    await own(A);
    expect(await a.backup.restore()).toEqual({ kind: 'restored', generation: 3, fallback: false });
    expect(await token(a.profile)).toBe('keys of v3');
  });

  it('falls back to the previous generation when the newest fails its checksum, and says so', async () => {
    const a = host('a', A, 1_000);
    await own(A);
    await fakeProfile(a.profile, 'v1');
    await a.backup.backup('periodic');
    await fakeProfile(a.profile, 'v2');
    await a.backup.backup('periodic');
    await fixture.redis.setrange(keys.storeChunk(2, 0), 20, 'garbage');

    await own(B);
    const b = host('b', B, 1_000);
    expect(await b.backup.restore()).toEqual({ kind: 'restored', generation: 1, fallback: true });
    expect(await token(b.profile)).toBe('keys of v1');
  });

  it('restores nothing when the store is empty: a local profile is used, no profile means a QR', async () => {
    const a = host('a', A);
    await own(A);
    expect(await a.backup.restore()).toEqual({ kind: 'none' });
    await fakeProfile(a.profile, 'v1');
    expect(await a.backup.restore()).toEqual({ kind: 'local', generation: 0 });
  });

  it('a worker that lost the lease stores nothing, and its local generation stays what it was', async () => {
    const a = host('a', A);
    await fakeProfile(a.profile, 'v1');
    await own(A);
    await a.backup.backup('periodic');
    await own(B);
    expect(await a.backup.backup('periodic')).toBeNull();
    expect((await a.store.state()).current?.generation).toBe(1);
    expect(await a.backup.localGeneration()).toBe(1);
  });

  it('leaves no staging copy behind, and clears the backups of a logged-out session', async () => {
    const a = host('a', A);
    await fakeProfile(a.profile, 'v1');
    await own(A);
    await a.backup.backup('periodic');
    await a.backup.restore();
    expect(await readdir(path.join(root, 'a'))).toEqual(['session-sales']);
    await a.backup.clear();
    expect(await a.store.state()).toEqual({ current: null, previous: null });
    expect([...(await keysUnder(fixture.redis, keys.store)), ...((await fixture.redis.exists(keys.store)) === 1 ? [keys.store] : [])]).toEqual([]);
  });
});
