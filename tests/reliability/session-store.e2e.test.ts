/**
 * Reliability scenario 14 (issue 16): the session store. Two workers with separate SESSION_DIRs ("two
 * machines": nothing shared but Redis), SESSION_STORE=redis. The session is paired on worker A and
 * backed up; kill -9 of A mid-stream (its Chromium left running on A's disk, as on a machine that is
 * gone) → worker B, whose disk never held the session, restores it from Redis and is READY without a
 * QR; every accepted message arrives exactly once and in order. 14b: then B is killed in the middle of
 * writing a backup (its profile padded so a write takes a while) → a third machine restores the last
 * good generation, not the cut-off one, READY without a QR. 14c: the owner is paused (SIGSTOP) in the
 * middle of a backup write past its lease TTL, a fourth machine takes over and backs up, and the paused
 * one resumes: its write is refused, the new owner's backup stays current. 14d: a logout deletes the
 * session's backups. The cluster test layer runs this file again on a 3-master Redis Cluster.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import { SessionStore } from '@waq/shared';
import { freePort, isClusterUrl, keysUnder, killBrowsers, testRedisUrl, type SpawnedProcess } from '@waq/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { report, scale, seconds } from './scale.js';
import { LEASE_TTL_MS, Stack, texts } from './stack.js';

const TO = '+49 151 30000014';
/** The cluster test layer runs this file again on a Redis Cluster: the report says which run it was. */
const ON = isClusterUrl(testRedisUrl()) ? ' (Redis Cluster, 3 masters)' : '';
const SESSION = 'moving-14';
let stack: Stack;
let store: SessionStore;

/** A worker on a "machine" of its own: its own session directory and cache. */
async function startOn(host: string): Promise<SpawnedProcess> {
  return stack.startWorker(`worker-${host}`, {
    WORKER_PORT: String(await freePort()),
    SESSION_DIR: path.join(stack.root, host, 'auth'),
    WWEBJS_CACHE_DIR: path.join(stack.root, host, 'cache'),
  });
}

const profileOn = (host: string): string => path.join(stack.root, host, 'auth', 'sandbox', `session-${SESSION}`);

/**
 * Waits until a backup is being written and has 2 chunks or more; returns its generation. When none is
 * seen in time, the error says what the store and the owner's log showed (the backups are periodic).
 */
async function backupHalfWritten(owner: SpawnedProcess): Promise<number> {
  let generation = 0;
  const seen = new Set<string>();
  try {
    await vi.waitFor(
      async () => {
        const next = Number(await stack.redis.hget(stack.keys.store, 'next'));
        const [state, written] = await stack.redis.hmget(stack.keys.storeGeneration(next), 'state', 'written');
        seen.add(`generation ${next}: ${state ?? 'no manifest'}${written === null ? '' : `, ${written} chunks`}`);
        expect(state === 'writing' && Number(written) >= 2).toBe(true);
        generation = next;
      },
      { timeout: 60_000, interval: 5 },
    );
  } catch (error) {
    const log = owner.lines.filter((line) => /backup|READY|session [A-Z]/.test(line)).slice(-10);
    throw new Error(`no backup half-written within 60 s (${String(error)}); seen: ${[...seen].slice(-10).join(' | ')}; the owner's last backup and state lines:\n${log.join('\n')}`);
  }
  return generation;
}

/** 32 MB that does not compress in the owner's profile: its next periodic backup takes long enough to be caught half-way. */
const padProfile = (host: string): Promise<void> => writeFile(path.join(profileOn(host), 'Default', 'IndexedDB', 'waq-test-padding.bin'), randomBytes(32 * 1024 * 1024));

beforeAll(async () => {
  stack = await Stack.create({
    sessionId: SESSION,
    workerEnv: { SESSION_STORE: 'redis', SESSION_BACKUP_DELAY_MS: '200', SESSION_BACKUP_INTERVAL_MS: '2000' },
  });
  store = new SessionStore(stack.redis, stack.keys, SESSION);
});

afterAll(async () => {
  for (const host of ['host-a', 'host-b', 'host-c', 'host-d']) await killBrowsers(profileOn(host)).catch(() => undefined);
  await stack?.close();
});

describe('the session store on the real stack', () => {
  it('14. two machines: kill -9 of the owner → the other restores the session from Redis, READY without a QR, nothing lost or doubled', async () => {
    const a = await startOn('host-a');
    await a.waitForLine(/this worker now owns the session/);
    await stack.pair();
    await a.waitForLine(/session backup stored/, 30_000);
    const b = await startOn('host-b');
    await b.waitForLine(/joined the worker pool/);
    const qrBefore = await stack.qrEvents();

    const count = scale(60, 300);
    const bodies = texts('s14', count);
    const ids = await stack.sendAll(TO, bodies);
    await vi.waitFor(() => expect(stack.tally(TO, bodies).delivered).toBeGreaterThanOrEqual(Math.floor(count / 2)), { timeout: 120_000, interval: 5 });
    const generation = (await store.state()).current?.generation;
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await b.waitForLine(/restored the session profile from the store/, LEASE_TTL_MS * 3);
    const readyMs = await stack.waitForReadyAfter(killedAt, LEASE_TTL_MS * 3);
    await stack.waitAllCompleted(ids, 180_000);
    const tally = stack.tally(TO, bodies);
    if (tally.duplicated > 0) console.error(stack.explainDuplicates(TO, bodies, ids));
    report({
      scenario: `14. session store: two machines, kill -9 owner${ON}`,
      load: `${count} sends, 2 workers with separate SESSION_DIRs`,
      faults: `kill -9 owner mid-stream, its Chromium left running (backup generation ${generation} current)`,
      lost: tally.lost,
      duplicated: tally.duplicated,
      recovery: `kill → READY on the other machine ${seconds(readyMs)} (lease TTL ${seconds(LEASE_TTL_MS)}), QR codes shown: ${(await stack.qrEvents()) - qrBefore}`,
      notes: `order kept: ${tally.inOrder}${tally.firstOutOfOrder ? ` (${tally.firstOutOfOrder})` : ''}`,
    });
    expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
    expect(await stack.qrEvents()).toBe(qrBefore);
    expect(readyMs).toBeLessThan(LEASE_TTL_MS * 3);
  }, 900_000);

  it('14b. kill -9 of the owner in the middle of a backup write → the next machine restores the last good generation, READY without a QR', async () => {
    const b = stack.processes.find((p) => p.name === 'worker-host-b');
    expect(b).toBeDefined();
    const c = await startOn('host-c');
    await c.waitForLine(/joined the worker pool/);
    const qrBefore = await stack.qrEvents();
    await padProfile('host-b');
    const cut = await backupHalfWritten(b!);
    const killedAt = Date.now();
    b!.child.kill('SIGKILL');
    await b!.exited;
    // What was committed when B died (nothing commits until C has restored and is READY).
    const good = (await store.state()).current;
    expect(good).not.toBeNull();
    const restored = await c.waitForLine(/restored the session profile from the store/, LEASE_TTL_MS * 3);
    const readyMs = await stack.waitForReadyAfter(killedAt, LEASE_TTL_MS * 3);
    const generation = Number(/"generation":(\d+)/.exec(restored)?.[1]);
    const bodies = texts('s14b', scale(10, 50));
    const ids = await stack.sendAll(TO, bodies);
    await stack.waitAllCompleted(ids, 120_000);
    const tally = stack.tally(TO, bodies);
    report({
      scenario: `14b. session store: kill -9 during a backup write${ON}`,
      load: `a 32 MB backup being written (generation ${cut}, cut after 2+ chunks); ${bodies.length} sends after`,
      faults: 'kill -9 owner mid-write',
      lost: tally.lost,
      duplicated: tally.duplicated,
      recovery: `restored generation ${generation} (the last good one: ${good!.generation}); kill → READY ${seconds(readyMs)}, QR codes shown: ${(await stack.qrEvents()) - qrBefore}`,
    });
    expect(generation).toBe(good!.generation);
    expect(generation).toBeLessThan(cut);
    expect(await stack.qrEvents()).toBe(qrBefore);
    expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
  }, 900_000);

  it('14c. an owner paused past its lease in the middle of a backup write cannot overwrite the new owner\'s backup when it resumes', async () => {
    const c = stack.processes.find((p) => p.name === 'worker-host-c');
    expect(c).toBeDefined();
    const d = await startOn('host-d');
    await d.waitForLine(/joined the worker pool/);
    await padProfile('host-c');
    const paused = await backupHalfWritten(c!);
    const pausedAt = Date.now();
    c!.child.kill('SIGSTOP');
    try {
      await d.waitForLine(/restored the session profile from the store/, LEASE_TTL_MS * 4);
      const readyMs = await stack.waitForReadyAfter(pausedAt, LEASE_TTL_MS * 4);
      await d.waitForLine(/session backup stored/, 30_000);
      const fromD = (await store.state()).current;
      expect(fromD?.worker).toContain(`:${d.child.pid}:`);
      c!.child.kill('SIGCONT');
      await c!.waitForLine(/session backup refused: this worker no longer owns the session|session backup failed/, 30_000);
      const bodies = texts('s14c', scale(10, 50));
      const ids = await stack.sendAll(TO, bodies);
      await stack.waitAllCompleted(ids, 120_000);
      const tally = stack.tally(TO, bodies);
      const after = (await store.state()).current;
      report({
        scenario: `14c. session store: stale owner resumes mid-write${ON}`,
        load: `a 32 MB backup being written (generation ${paused}); ${bodies.length} sends after`,
        faults: `SIGSTOP of the owner mid-write, past the lease TTL, then SIGCONT`,
        lost: tally.lost,
        duplicated: tally.duplicated,
        recovery: `pause → READY on the next machine ${seconds(readyMs)}; the resumed worker's write refused; current backup written by the new owner (generation ${after?.generation})`,
        notes: `order kept: ${tally.inOrder}${tally.inOrder ? '' : ` (arrival: ${stack.arrivalRuns(TO, bodies)})`}`,
      });
      if (!tally.inOrder) console.error(['14c out of order; the workers said:', ...[c!, d].flatMap((w) => w.lines.filter((line) => /s14c|outbox|send|lease/i.test(line)).slice(-40))].join('\n'));
      expect(c!.lines.some((line) => /session backup refused: this worker no longer owns the session/.test(line))).toBe(true);
      expect(after?.worker).toContain(`:${d.child.pid}:`);
      expect(after!.generation).toBeGreaterThan(paused);
      expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
    } finally {
      c!.child.kill('SIGCONT');
    }
  }, 900_000);

  it('14d. logging the session out deletes its backups', async () => {
    expect((await store.state()).current).not.toBeNull();
    await stack.producer.logout('reliability');
    await stack.waitForStatus('LOGGED_OUT');
    // Every master's keys (a KEYS on a cluster client goes to one node, which passed at once once the
    // store's slot was elsewhere, before the deletion was done).
    await vi.waitFor(async () => expect([...(await keysUnder(stack.redis, stack.keys.store)), ...(await stack.redis.exists(stack.keys.store)) === 1 ? [stack.keys.store] : []]).toEqual([]), { timeout: 30_000, interval: 50 });
    expect(await store.state()).toEqual({ current: null, previous: null });
  }, 120_000);
});
