/**
 * Reliability scenario 12 (issue 15): sessions are data, workers are a pool, on the real stack (API and
 * worker processes of the production build, whatsapp-web.js + Chromium, the simulator with one
 * simulated account per session).
 *
 * - 12a. upgrade: the `default` session of a waq 0.1 installation (profile on disk, a send queued, no
 *   registry in Redis) restores without a QR code and sends what was queued.
 * - 12b. two workers of capacity 4 run 6 sessions, 50 sends each through the API; a third worker
 *   joining takes nothing; kill -9 of a worker mid-stream → its sessions run elsewhere; nothing lost or
 *   doubled, order kept per session, never two Chromiums on one profile.
 * - 12c. drain: a worker hands its sessions over one at a time while sends go on.
 * - 12d. delete: a stopped session with 20 held sends: every one reported `session_deleted`, its keys,
 *   profile and Chromium gone; a READY one is logged out first.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';

import { QUEUE_NAMES, readRecentEvents, registryKeys, SessionRegistry, sessionKeys } from '@waq/shared';
import { browserProcesses, type SpawnedProcess } from '@waq/test-utils';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { report, seconds } from './scale.js';
import { Stack, texts, type ApiProcess } from './stack.js';

const TO = '+49 151 30000011';
const SESSIONS = ['pool-1', 'pool-2', 'pool-3', 'pool-4', 'pool-5', 'pool-6'] as const;
const CAPACITY = 4;
const SENDS = 50;
const JSON_HEADERS = { 'Content-Type': 'application/json' };

let stack: Stack;
let api: ApiProcess;

interface SessionView {
  id: string;
  desired: string;
  owner: string | null;
  state: { status: string; since: string; qr?: { value: string } };
}

interface WorkerView {
  id: string;
  pid: number;
  sessions: string[];
  heartbeatAt: string;
  draining: boolean;
  alive: boolean;
}

async function sessions(): Promise<Map<string, SessionView>> {
  const body = (await (await api.fetch('/v1/sessions')).json()) as { sessions: SessionView[] };
  return new Map(body.sessions.map((s) => [s.id, s]));
}

async function workers(): Promise<WorkerView[]> {
  return ((await (await api.fetch('/v1/workers')).json()) as { workers: WorkerView[] }).workers;
}

async function workerOf(proc: SpawnedProcess): Promise<WorkerView> {
  let found: WorkerView | undefined;
  await vi.waitFor(async () => {
    found = (await workers()).find((w) => w.pid === proc.pid);
    expect(found).toBeDefined();
  }, { timeout: 30_000, interval: 200 });
  return found as WorkerView;
}

/** QR codes session `id` showed since `since` (ms epoch), from its event stream (every state change is in it). */
async function qrShownSince(id: string, since: number): Promise<number> {
  const { events } = await readRecentEvents(stack.redis, sessionKeys({ prefix: stack.prefix, sessionId: id }).events, 1_000);
  return events.filter(({ id: eventId, event }) => Number(eventId.split('-')[0]) >= since && (event.type === 'qr' || (event.type === 'state' && event.status === 'QR'))).length;
}

const profileDir = (id: string): string => path.join(stack.root, 'auth', 'sandbox', `session-${id}`);

/** Every session in `ids` READY, owned by a live worker, each READY published after `since`. */
async function allReady(ids: readonly string[], since = 0, timeout = 120_000): Promise<Map<string, SessionView>> {
  let view = new Map<string, SessionView>();
  await vi.waitFor(async () => {
    view = await sessions();
    const notReady = ids.filter((id) => {
      const s = view.get(id);
      return s === undefined || s.state.status !== 'READY' || s.owner === null || Date.parse(s.state.since) < since;
    });
    expect(notReady).toEqual([]);
  }, { timeout, interval: 200 });
  return view;
}

/** What account `id`'s phone received of `bodies`, as Stack.tally does for the default account. */
function tally(id: string, bodies: readonly string[]): { delivered: number; lost: number; duplicated: number; inOrder: boolean } {
  const wanted = new Set(bodies);
  const received = stack.phone.account(id).messages(TO.replace(/\D/g, '')).map((m) => m.body).filter((b) => wanted.has(b));
  const first = [...new Set(received)];
  return { delivered: first.length, lost: bodies.length - first.length, duplicated: received.length - first.length, inOrder: first.every((b, i) => b === bodies[i]) };
}

async function send(id: string, bodies: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const text of bodies) {
    const response = await api.fetch(`/v1/sessions/${id}/messages`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ to: TO, text }) });
    expect(response.status).toBe(202);
    ids.push(((await response.json()) as { id: string }).id);
  }
  return ids;
}

async function outboxDone(id: string, timeout = 180_000): Promise<void> {
  const outbox = stack.producer.session(id).queues.outbox;
  await vi.waitFor(async () => {
    const counts = await outbox.getJobCounts('active', 'wait', 'paused', 'delayed', 'prioritized');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
  }, { timeout, interval: 250 });
}

/** Samples, every 100 ms until stopped, the Chromium count on every session's profile; keeps the most. */
function sampleBrowsers(ids: readonly string[]): { stop(): Promise<{ most: number; samples: number }> } {
  let running = true;
  let most = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      const counts = await Promise.all(ids.map((id) => browserProcesses(profileDir(id))));
      most = Math.max(most, ...counts.map((pids) => pids.length));
      samples += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { most, samples };
    },
  };
}

beforeAll(async () => {
  stack = await Stack.create();
  api = await stack.startApi('api');
});

afterAll(async () => {
  await stack?.close();
});

describe('the worker pool on the real stack', () => {
  it('12a. upgrade from one session: the default session restores without a QR code and sends what was queued', async () => {
    const first = await stack.startWorker('worker-0.1');
    await first.waitForLine(/joined the worker pool/);
    await stack.pair();
    const qrsBefore = stack.qrValues.size;
    first.child.kill('SIGTERM');
    await first.exited;

    // Redis as waq 0.1 left it: no registry, no marker; a send queued by a 0.1 producer (plain BullMQ).
    const registryKeysOf = registryKeys(stack.prefix);
    await stack.redis.del(registryKeysOf.sessions, registryKeysOf.seeded, stack.keys.registered);
    const queued = texts('s11a', 1).join('');
    const outbox = new Queue(QUEUE_NAMES.outbox, { connection: stack.redis, prefix: stack.keys.bullPrefix });
    await outbox.add('send', { to: TO, text: queued }, { jobId: 'upgrade-1', attempts: 5 });
    await outbox.close();

    const started = Date.now();
    const upgraded = await stack.startWorker('worker-upgraded');
    await stack.waitForReadyAfter(started, 60_000);
    await vi.waitFor(() => expect(stack.bodiesTo(TO)).toContain(queued), { timeout: 60_000, interval: 100 });
    // No QR code since the upgraded worker started: the saved session was restored.
    const qrsSince = await qrShownSince('default', started);
    report({
      scenario: '12a. upgrade from waq 0.1 (one session)',
      load: '1 send queued by a 0.1 producer',
      faults: 'registry absent (as 0.1 left Redis)',
      lost: stack.bodiesTo(TO).includes(queued) ? 0 : 1,
      duplicated: stack.bodiesTo(TO).filter((b) => b === queued).length - 1,
      recovery: `start → READY ${seconds(Date.now() - started)}, QR codes shown: ${qrsSince}`,
    });
    expect(qrsSince).toBe(0);
    expect(await new SessionRegistry(stack.redis, stack.prefix).get('default')).toMatchObject({ desired: 'running' });
    expect(stack.qrValues.size).toBe(qrsBefore);
    expect(upgraded.lines.some((line) => /saved session found/.test(line))).toBe(true);
    // The default session is not part of the pool scenario below.
    expect((await api.fetch('/v1/sessions/default/stop', { method: 'POST' })).status).toBe(200);
    upgraded.child.kill('SIGTERM');
    await upgraded.exited;
  }, 300_000);

  it('12b–d. 6 sessions on workers of capacity 4: a joiner takes nothing, kill -9 moves sessions, drain hands over one at a time, delete reports held sends', async () => {
    const env = { WORKER_MAX_SESSIONS: String(CAPACITY) };
    const a = await stack.startWorker('worker-a', env);
    const b = await stack.startWorker('worker-b', env);
    await Promise.all([a.waitForLine(/joined the worker pool/), b.waitForLine(/joined the worker pool/)]);
    for (const id of SESSIONS) expect((await api.fetch('/v1/sessions', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ id }) })).status).toBe(201);
    const browsers = sampleBrowsers(SESSIONS);

    // Pair every session: each shows its own QR code, scanned by its own simulated phone.
    const pairStarted = Date.now();
    await Promise.all(SESSIONS.map(async (id) => {
      await vi.waitFor(async () => {
        await api.fetch(`/v1/sessions/${id}/connect?wait=true`, { method: 'POST' });
        const state = (await sessions()).get(id)?.state;
        expect(state?.status).toBe('QR');
        stack.rememberQr(state?.qr?.value);
      }, { timeout: 120_000, interval: 500 });
      stack.phone.account(id).scan();
    }));
    let view = await allReady(SESSIONS);
    const pairedMs = Date.now() - pairStarted;
    const [wa, wb] = [await workerOf(a), await workerOf(b)];
    const ownersBefore = new Map(SESSIONS.map((id) => [id, view.get(id)?.owner]));
    expect(new Set(ownersBefore.values())).toEqual(new Set([wa.id, wb.id]));
    for (const w of await workers()) expect(w.sessions.length).toBeLessThanOrEqual(CAPACITY);
    expect(new Set(SESSIONS.map((id) => stack.phone.account(id).me)).size).toBe(SESSIONS.length);

    // 11b. A third worker joins: it takes nothing from live members.
    const c = await stack.startWorker('worker-c', env);
    await c.waitForLine(/joined the worker pool/);
    const joinedAt = Date.now();
    const wc = await workerOf(c);
    await vi.waitFor(async () => {
      const record = (await workers()).find((w) => w.id === wc.id);
      expect(Date.parse(record?.heartbeatAt ?? '0')).toBeGreaterThan(joinedAt + 3_000);
    }, { timeout: 30_000, interval: 250 });
    view = await sessions();
    const moved = SESSIONS.filter((id) => view.get(id)?.owner !== ownersBefore.get(id));
    const joinerTook = (await workers()).find((w) => w.id === wc.id)?.sessions ?? [];
    expect(moved).toEqual([]);
    expect(joinerTook).toEqual([]);

    // 50 sends per session, through the API; kill -9 of worker A half-way.
    const bodies = new Map(SESSIONS.map((id) => [id, texts(`s11-${id}`, SENDS)]));
    const sending = Promise.all(SESSIONS.map((id) => send(id, bodies.get(id) ?? [])));
    const onA = SESSIONS.filter((id) => ownersBefore.get(id) === wa.id);
    await vi.waitFor(() => {
      const delivered = SESSIONS.reduce((sum, id) => sum + tally(id, bodies.get(id) ?? []).delivered, 0);
      expect(delivered).toBeGreaterThanOrEqual((SESSIONS.length * SENDS) / 3);
    }, { timeout: 120_000, interval: 20 });
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    view = await allReady(onA, killedAt, 120_000);
    const movedMs = Date.now() - killedAt;
    await sending;
    await Promise.all(SESSIONS.map((id) => outboxDone(id)));
    const afterKill = SESSIONS.map((id) => tally(id, bodies.get(id) ?? []));
    for (const id of onA) expect([wb.id, wc.id]).toContain(view.get(id)?.owner);
    const qrsAfterKill = (await Promise.all(onA.map((id) => qrShownSince(id, killedAt)))).reduce((a, b) => a + b, 0);
    expect(qrsAfterKill).toBe(0);
    report({
      scenario: '12b. pool: 6 sessions, 2 + 1 workers of capacity 4, kill -9 one',
      load: `${SESSIONS.length} sessions × ${SENDS} sends through the API (paired in ${seconds(pairedMs)})`,
      faults: `a third worker joins (it took ${joinerTook.length}, ${moved.length} moved); kill -9 of a worker owning ${onA.length} sessions mid-stream`,
      lost: afterKill.reduce((n, t) => n + t.lost, 0),
      duplicated: afterKill.reduce((n, t) => n + t.duplicated, 0),
      recovery: `kill → its ${onA.length} sessions READY elsewhere ${seconds(movedMs)}, QR codes shown: ${qrsAfterKill}`,
      notes: `order kept in every session: ${afterKill.every((t) => t.inOrder)}`,
    });
    expect(afterKill.filter((t) => t.lost > 0 || t.duplicated > 0 || !t.inOrder)).toEqual([]);

    // 11c. Drain B while sends go on: its sessions move one at a time (a fresh worker A2 gives room).
    const a2 = await stack.startWorker('worker-a2', env);
    await a2.waitForLine(/joined the worker pool/);
    const onB = SESSIONS.filter((id) => view.get(id)?.owner === wb.id);
    let mostDown = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const now = await sessions();
        mostDown = Math.max(mostDown, SESSIONS.filter((id) => now.get(id)?.state.status !== 'READY').length);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const drainStarted = Date.now();
    expect((await api.fetch(`/v1/workers/${wb.id}/drain`, { method: 'POST' })).status).toBe(202);
    const more = new Map(SESSIONS.map((id) => [id, texts(`s11c-${id}`, 10)]));
    await Promise.all(SESSIONS.map((id) => send(id, more.get(id) ?? [])));
    await vi.waitFor(async () => expect((await workers()).find((w) => w.id === wb.id)?.sessions).toEqual([]), { timeout: 180_000, interval: 250 });
    view = await allReady(SESSIONS);
    const drainedMs = Date.now() - drainStarted;
    watching = false;
    await watcher;
    await Promise.all(SESSIONS.map((id) => outboxDone(id)));
    const afterDrain = SESSIONS.map((id) => tally(id, [...(bodies.get(id) ?? []), ...(more.get(id) ?? [])]));
    report({
      scenario: '12c. pool: drain a worker',
      load: `${SESSIONS.length} × 10 more sends during the drain`,
      faults: `POST /v1/workers/<id>/drain of a worker owning ${onB.length} sessions`,
      lost: afterDrain.reduce((n, t) => n + t.lost, 0),
      duplicated: afterDrain.reduce((n, t) => n + t.duplicated, 0),
      recovery: `drain request → all sessions READY elsewhere ${seconds(drainedMs)}`,
      notes: `most sessions not READY at once: ${mostDown}; order kept: ${afterDrain.every((t) => t.inOrder)}`,
    });
    expect(afterDrain.filter((t) => t.lost > 0 || t.duplicated > 0 || !t.inOrder)).toEqual([]);
    expect(mostDown).toBeLessThanOrEqual(1);
    for (const id of SESSIONS) expect(view.get(id)?.owner).not.toBe(wb.id);

    // 11d. Delete: a stopped session with 20 held sends, and a READY one (logged out first).
    const [stopped, ready] = ['pool-6', 'pool-5'] as const;
    expect((await api.fetch(`/v1/sessions/${stopped}/stop`, { method: 'POST' })).status).toBe(200);
    await vi.waitFor(async () => expect((await sessions()).get(stopped)?.owner).toBeNull(), { timeout: 60_000, interval: 200 });
    await vi.waitFor(async () => expect(await browserProcesses(profileDir(stopped))).toEqual([]), { timeout: 30_000, interval: 200 });
    const held = await send(stopped, texts(`s11d-${stopped}`, 20));
    const deletedStopped = await api.fetch(`/v1/sessions/${stopped}`, { method: 'DELETE' });
    expect(deletedStopped.status).toBe(200);
    const stoppedReport = ((await deletedStopped.json()) as { report: { failedSends: { id: string; code: string }[]; loggedOut: boolean } }).report;
    const deletedReady = await api.fetch(`/v1/sessions/${ready}`, { method: 'DELETE' });
    expect(deletedReady.status).toBe(200);
    const readyReport = ((await deletedReady.json()) as { report: { loggedOut: boolean } }).report;
    const leftKeys = [...(await stack.redis.keys(`${stack.prefix}:{${stopped}}*`)), ...(await stack.redis.keys(`${stack.prefix}:{${ready}}*`))];
    const profilesLeft = (await Promise.all([stopped, ready].map((id) => access(profileDir(id)).then(() => id, () => null)))).filter((id) => id !== null);
    const chromiumLeft = (await Promise.all([stopped, ready].map((id) => browserProcesses(profileDir(id))))).flat();
    const { most, samples } = await browsers.stop();
    report({
      scenario: '12d. pool: delete sessions',
      load: `a stopped session with ${held.length} held sends, a READY one`,
      faults: 'DELETE /v1/sessions/<id>',
      lost: held.length - stoppedReport.failedSends.length,
      duplicated: '-',
      recovery: `reported failed (session_deleted): ${stoppedReport.failedSends.length}/${held.length}; keys left: ${leftKeys.length}; profiles left: ${profilesLeft.length}; Chromium left: ${chromiumLeft.length}`,
      notes: `READY one logged out: ${readyReport.loggedOut}; most Chromium on one profile during 12b–d: ${most} (${samples} samples)`,
    });
    expect(stoppedReport.failedSends.map((s) => s.id).sort()).toEqual([...held].sort());
    expect(new Set(stoppedReport.failedSends.map((s) => s.code))).toEqual(new Set(['session_deleted']));
    // Who logged out and who deleted, should the report say otherwise.
    const deletionLines = stack.processes.flatMap((p) => p.lines.filter((line) => line.includes(ready) && /logging out|logout failed|session deleted|session deletion/.test(line)).map((line) => `${p.name}: ${line.slice(0, 300)}`));
    expect(readyReport.loggedOut, deletionLines.join('\n')).toBe(true);
    expect(leftKeys).toEqual([]);
    expect(profilesLeft).toEqual([]);
    expect(chromiumLeft).toEqual([]);
    expect((await api.fetch(`/v1/sessions/${stopped}`)).status).toBe(404);
    expect((await api.fetch(`/v1/sessions/${stopped}/messages`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ to: TO, text: 'late' }) })).status).toBe(404);
    expect(most).toBe(1);
  }, 900_000);

  it('10. (logs) no phone number, message body, QR value or key in clear in any process output', () => {
    const numbers = [TO, ...SESSIONS.map((id) => stack.phone.account(id).me)];
    const leaks = stack.leaks(numbers);
    report({ scenario: '10. log check: pool', load: `${stack.logLines().length} log lines, ${stack.processes.length} processes`, faults: '-', lost: '-', duplicated: '-', recovery: '-', notes: `leaks: ${leaks.length}` });
    expect(leaks).toEqual([]);
  });
});
