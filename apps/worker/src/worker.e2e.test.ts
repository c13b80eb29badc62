/**
 * The worker's promises on the real stack: worker processes running whatsapp-web.js in real Chromium
 * against the offline WhatsApp Web simulator, real Redis. The steps share one linked session and run
 * in order, as an operator would live through them.
 */
import { rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createProducer, decodeEvent, sessionKeys, SessionRegistry, type Producer, type SessionEvent } from '@waq/shared';
import { browserProcesses as browserProcessesOn, createRedisFixture, freePort, killSpawned, sandboxWorkerEnv, spawnTs, type RedisFixture, type SpawnedProcess } from '@waq/test-utils';
import { startPhoneServer, type PhoneServer } from '@waq/wa-sim';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

let fixture: RedisFixture;
let phone: PhoneServer;
let producer: Producer;
let root: string;
let profileDir: string;
const LEASE_TTL_MS = 4_000;

beforeAll(async () => {
  fixture = await createRedisFixture();
  phone = await startPhoneServer({ ackDelayMs: 50 });
  await new SessionRegistry(fixture.redis, fixture.prefix).seed('default');
  producer = createProducer({ redis: fixture.url, prefix: fixture.prefix });
  root = await mkdtemp(path.join(tmpdir(), 'waq-worker-e2e-'));
  profileDir = path.join(root, 'auth', 'sandbox', 'session-default');
});

afterAll(async () => {
  await killSpawned();
  for (const pid of await browserProcesses()) process.kill(pid, 'SIGKILL');
  await producer.close();
  await phone.close();
  await fixture.cleanup();
  await rm(root, { recursive: true, force: true });
});

async function startWorker(name: string, env: Record<string, string> = {}): Promise<SpawnedProcess> {
  return spawnTs(name, 'apps/worker/src/main.ts', [], {
    env: {
      ...sandboxWorkerEnv({ redisUrl: fixture.url, prefix: fixture.prefix, simUrl: phone.url, root, workerPort: await freePort(), leaseTtlMs: LEASE_TTL_MS }),
      ...env,
    },
  });
}

/** The browser processes on the session profile (helpers, renderers and Debian's sh wrapper excluded). */
function browserProcesses(): Promise<number[]> {
  return browserProcessesOn(profileDir);
}

async function events(): Promise<SessionEvent[]> {
  const keys = sessionKeys({ prefix: fixture.prefix, sessionId: 'default' });
  return (await fixture.redis.xrange(keys.events, '-', '+')).map(([id, fields]) => decodeEvent(id, fields)?.event).filter((e): e is SessionEvent => e !== undefined);
}

async function qrCount(): Promise<number> {
  return (await events()).filter((e) => e.type === 'qr').length;
}

async function waitForStatus(status: string, timeout = 30_000): Promise<number> {
  const started = Date.now();
  await vi.waitFor(async () => expect((await producer.getState()).status).toBe(status), { timeout, interval: 50 });
  return Date.now() - started;
}

function bodiesTo(wid: string): string[] {
  return phone.phone.messages(wid.replace('@c.us', '')).map((m) => m.body);
}

const TO = '+49 151 11112222';
const TO_WID = '4915111112222@c.us';
let worker: SpawnedProcess;

describe('worker on the real stack (whatsapp-web.js + Chromium + simulator)', () => {
  it('stays STOPPED without a saved session, then links a phone: connect → QR → scan → READY → send', async () => {
    worker = await startWorker('worker-1');
    await waitForStatus('STOPPED');
    expect(await browserProcesses()).toEqual([]);

    await producer.connect('e2e');
    await waitForStatus('QR');
    const state = await producer.getState();
    expect(state.qr?.value).toBeTruthy();
    phone.phone.scan();
    await waitForStatus('READY');

    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await producer.send({ to: TO, text: `hello ${i}` })).id);
    for (const id of ids) expect((await producer.waitForMessage(id, { timeoutMs: 20_000 })).status).toBe('sent');
    expect(bodiesTo(TO_WID)).toEqual(['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4']);
    await vi.waitFor(async () => expect((await producer.getMessage(ids[0] ?? ''))?.ack).toBe('read'), { timeout: 10_000 });
  });

  it('keeps the session across a graceful restart: SIGTERM exits 143, the next start is READY with no QR', async () => {
    const qrBefore = await qrCount();
    expect(await worker.stop()).toEqual({ code: 143, signal: null });
    expect((await producer.getState()).status).toBe('WORKER_OFFLINE');
    expect(await browserProcesses()).toEqual([]);

    worker = await startWorker('worker-2');
    const ms = await waitForStatus('READY');
    expect(await qrCount()).toBe(qrBefore);
    console.info(`restart → READY without QR: ${ms} ms`);
  });

  it('recovers from kill -9 of Chromium: READY again, nothing lost or doubled', async () => {
    const [browser] = await browserProcesses();
    expect(browser).toBeDefined();
    const before = bodiesTo(TO_WID).length;
    const { id } = await producer.send({ to: TO, text: 'before the crash' });
    await producer.waitForMessage(id, { timeoutMs: 20_000 });
    const killedAt = Date.now();
    process.kill(browser as number, 'SIGKILL');
    await vi.waitFor(async () => expect((await events()).some((e) => e.type === 'state' && e.status === 'DISCONNECTED')).toBe(true), { timeout: 20_000 });
    await waitForStatus('READY');
    console.info(`kill -9 Chromium → READY: ${Date.now() - killedAt} ms`);
    const after = await producer.send({ to: TO, text: 'after the crash' });
    await producer.waitForMessage(after.id, { timeoutMs: 20_000 });
    expect(bodiesTo(TO_WID).slice(before)).toEqual(['before the crash', 'after the crash']);
    expect(await browserProcesses()).toHaveLength(1);
  });

  it('starts cleanly after kill -9 of the worker left its Chromium orphaned on the profile', async () => {
    const [orphan] = await browserProcesses();
    worker.child.kill('SIGKILL');
    await worker.exited;
    expect(await browserProcesses()).toEqual([orphan]);

    // The lease of the killed worker must lapse first (it cannot release it).
    worker = await startWorker('worker-3');
    await worker.waitForLine(/orphan Chromium from an earlier run holds the session profile: killing it/, LEASE_TTL_MS * 3);
    await waitForStatus('READY');
    expect(worker.lines.join('\n')).not.toMatch(/already running/i);
    const browsers = await browserProcesses();
    expect(browsers).toHaveLength(1);
    expect(browsers).not.toContain(orphan);
  });

  it('never sends twice when the worker is killed mid-stream, and loses nothing', async () => {
    const before = bodiesTo(TO_WID).length;
    const texts = Array.from({ length: 40 }, (_v, i) => `stream ${i}`);
    const ids: string[] = [];
    for (const text of texts) ids.push((await producer.send({ to: TO, text })).id);
    await vi.waitFor(() => expect(bodiesTo(TO_WID).length - before).toBeGreaterThanOrEqual(8), { timeout: 20_000, interval: 5 });
    worker.child.kill('SIGKILL');
    await worker.exited;
    for (const pid of await browserProcesses()) process.kill(pid, 'SIGKILL');

    worker = await startWorker('worker-4');
    for (const id of ids) expect((await producer.waitForMessage(id, { timeoutMs: 60_000 })).status).toBe('sent');
    expect(bodiesTo(TO_WID).slice(before)).toEqual(texts);
  });

  it('hands over to a standby within the lease TTL when the owner is killed, never running two Chromiums', async () => {
    const standby = await startWorker('worker-standby');
    await standby.waitForLine(/joined the worker pool/);
    const samples: number[] = [];
    const sampler = setInterval(() => void browserProcesses().then((b) => samples.push(b.length)), 100);
    try {
      worker.child.kill('SIGKILL');
      const killedAt = Date.now();
      await standby.waitForLine(/this worker now owns the session/, LEASE_TTL_MS * 3);
      const tookOverMs = Date.now() - killedAt;
      await waitForStatus('READY');
      console.info(`kill -9 owner → standby owns: ${tookOverMs} ms, READY: ${Date.now() - killedAt} ms (lease TTL ${LEASE_TTL_MS} ms)`);
      expect(tookOverMs).toBeLessThan(LEASE_TTL_MS * 2);
    } finally {
      clearInterval(sampler);
    }
    expect(Math.max(...samples)).toBeLessThanOrEqual(1);
    worker = standby;
    const { id } = await producer.send({ to: TO, text: 'after the handover' });
    expect((await producer.waitForMessage(id, { timeoutMs: 20_000 })).status).toBe('sent');
  });

  it('logs out: LOGGED_OUT, profile removed, sends held; the next connect shows a fresh QR and delivers them', async () => {
    await producer.logout('e2e');
    await waitForStatus('LOGGED_OUT');
    expect(phone.phone.snapshot().linked).toBe(false);
    await vi.waitFor(async () => expect(await browserProcesses()).toEqual([]), { timeout: 15_000 });
    const held = await producer.send({ to: TO, text: 'held while logged out' });
    expect((await producer.getMessage(held.id))?.status).toBe('held');

    const qrBefore = await qrCount();
    await producer.connect('e2e');
    await waitForStatus('QR');
    expect(await qrCount()).toBeGreaterThan(qrBefore);
    phone.phone.scan();
    expect((await producer.waitForMessage(held.id, { timeoutMs: 30_000 })).status).toBe('sent');
    expect(bodiesTo(TO_WID).at(-1)).toBe('held while logged out');
  });

  it('goes LOGGED_OUT when the phone unlinks the device', async () => {
    await waitForStatus('READY');
    phone.phone.logout();
    await waitForStatus('LOGGED_OUT');
    expect((await producer.getState()).lastError).toBeUndefined();
    await vi.waitFor(async () => expect(await browserProcesses()).toEqual([]), { timeout: 15_000 });
    expect(await worker.stop()).toEqual({ code: 143, signal: null });
  });
});
