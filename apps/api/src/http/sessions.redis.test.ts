/**
 * The session registry and the per-session routes over HTTP, on real Redis. No worker runs: what a
 * worker does (publishing a state, finishing a deletion) is done by the test where it matters.
 */
import { registryKeys, SESSION_DELETED, SessionRegistry, sessionKeys, SessionStore, WorkerRegistry, type DeletionReport } from '@waq/shared';
import { keysUnder } from '@waq/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { startTestApi, startTestApiForTest, TEST_WORKER_ID, type TestApi } from '../testing/test-api.js';

let t: TestApi;
beforeEach(async () => {
  t = await startTestApi();
});
afterEach(async () => {
  await t.close();
});

const JSON_HEADERS = { 'Content-Type': 'application/json' };

function call(method: string, path: string, body?: unknown): Promise<Response> {
  return t.fetch(path, { method, ...(body === undefined ? {} : { headers: JSON_HEADERS, body: JSON.stringify(body) }) });
}

async function createSession(id: string, extra: Record<string, unknown> = {}): Promise<Response> {
  const response = await call('POST', '/v1/sessions', { id, ...extra });
  expect(response.status).toBe(201);
  return response;
}

interface SessionBody {
  id: string;
  desired: string;
  settings: Record<string, number>;
  state: { status: string };
  owner: string | null;
}

describe('session backups in the session view', () => {
  async function* bytes(n: number): AsyncGenerator<Buffer> {
    yield Buffer.alloc(n, 1);
  }

  it('shows the newest good backup with its age, flags it stale past SESSION_BACKUP_MAX_AGE_MS while READY, and null with a local store', async () => {
    const api = await startTestApiForTest({ env: { SESSION_STORE: 'redis', SESSION_BACKUP_MAX_AGE_MS: '60000' } });
    const view = async (): Promise<{ backup: unknown }> => (await (await api.fetch('/v1/sessions/default')).json()) as { backup: unknown };
    expect((await view()).backup).toBeNull();
    await api.publishState('READY');
    const store = new SessionStore(api.fixture.redis, api.keys, 'default');
    const written = await store.write(TEST_WORKER_ID, bytes(2_000), () => ({ rawBytes: 5_000, files: 3 }));
    expect((await view()).backup).toEqual({ generation: 1, bytes: 2_000, completedAt: written.completedAt.toISOString(), ageSeconds: 0, stale: false });
    // Ten minutes later, as far as the manifest knows.
    await api.fixture.redis.hset(api.keys.storeGeneration(1), 'completedAt', String(Date.now() - 600_000));
    expect((await view()).backup).toMatchObject({ generation: 1, ageSeconds: 600, stale: true });
    await api.publishState('STOPPED');
    expect((await view()).backup).toMatchObject({ stale: false });
    // SESSION_STORE=local (the default): the view does not read the store, even when it holds a backup.
    await t.publishState('READY');
    await new SessionStore(t.fixture.redis, t.keys, 'default').write(TEST_WORKER_ID, bytes(100), () => ({ rawBytes: 100, files: 1 }));
    expect(((await (await t.fetch('/v1/sessions/default')).json()) as { backup: unknown }).backup).toBeNull();
  });
});

describe('the session registry', () => {
  it('lists the configured SESSION_ID session without anyone creating it (the API seeds it)', async () => {
    const list = (await (await call('GET', '/v1/sessions')).json()) as { sessions: SessionBody[]; unreadable: unknown[] };
    expect(list).toMatchObject({ sessions: [{ id: 'default', desired: 'running', settings: {}, state: { status: 'WORKER_OFFLINE' }, owner: null }], unreadable: [] });
  });

  it('creates a session (201, Location), refuses the same id again (409) and ids that are not safe (422)', async () => {
    const created = await createSession('sales', { settings: { sendIntervalMs: 1_500 } });
    expect(created.headers.get('location')).toBe('/v1/sessions/sales');
    expect(await created.json()).toMatchObject({ id: 'sales', desired: 'running', settings: { sendIntervalMs: 1_500 }, state: { status: 'WORKER_OFFLINE' }, owner: null });
    expect(await (await call('POST', '/v1/sessions', { id: 'sales' })).json()).toMatchObject({ error: { code: 'session_exists', details: [{ path: 'id' }] } });
    for (const id of ['Sales', 'a b', 'x'.repeat(65), '../etc', 'a:b', '', 7]) {
      const refused = await call('POST', '/v1/sessions', { id });
      expect(refused.status, JSON.stringify(id)).toBe(422);
      expect(await refused.json()).toMatchObject({ error: { code: 'invalid_payload', details: [{ path: 'id' }] } });
    }
    expect((await call('POST', '/v1/sessions', { id: 'ok', extra: 1 })).status).toBe(422);
    expect((await call('POST', '/v1/sessions', { id: 'ok', settings: { sendIntervalMs: -1 } })).status).toBe(422);
    expect((await t.fetch('/v1/sessions', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'sales' })).status).toBe(415);
    expect(((await (await call('GET', '/v1/sessions')).json()) as { sessions: SessionBody[] }).sessions.map((s) => s.id)).toEqual(['default', 'sales']);
  });

  it('reads one session with its reported state and owner, and 404 for an unknown id', async () => {
    await createSession('sales');
    await t.publishState('READY', {}, { sessionId: 'sales' });
    expect(await (await call('GET', '/v1/sessions/sales')).json()).toMatchObject({ id: 'sales', state: { status: 'READY', sessionId: 'sales' }, owner: TEST_WORKER_ID, waitingSends: 0 });
    await call('POST', '/v1/sessions/sales/messages', { to: '+49 151 23456789', text: 'one' });
    expect(await (await call('GET', '/v1/sessions/sales')).json()).toMatchObject({ waitingSends: 1 });
    for (const id of ['nope', 'UPPER', 'a%20b', 'x'.repeat(65)]) {
      const missing = await call('GET', `/v1/sessions/${id}`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ error: { code: 'session_not_found', message: expect.stringContaining('POST /v1/sessions') } });
    }
  });

  it('changes settings with PATCH (null removes one), and start/stop set the desired state', async () => {
    await createSession('sales', { settings: { sendIntervalMs: 1_000, sendJitterMs: 200 } });
    const patched = await call('PATCH', '/v1/sessions/sales', { settings: { sendIntervalMs: 3_000, sendJitterMs: null } });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as SessionBody).settings).toEqual({ sendIntervalMs: 3_000 });
    expect(await (await call('PATCH', '/v1/sessions/sales', { settings: { sendIntervalMs: 'fast' } })).json()).toMatchObject({ error: { code: 'invalid_payload', details: [{ path: 'settings.sendIntervalMs' }] } });
    expect((await call('PATCH', '/v1/sessions/sales', { desired: 'stopped' })).status).toBe(422);
    expect((await call('PATCH', '/v1/sessions/nope', { settings: {} })).status).toBe(404);

    expect(((await (await call('POST', '/v1/sessions/sales/stop')).json()) as SessionBody).desired).toBe('stopped');
    expect((await new SessionRegistry(t.fixture.redis, t.prefix).get('sales'))?.desired).toBe('stopped');
    expect(((await (await call('POST', '/v1/sessions/sales/start')).json()) as SessionBody).desired).toBe('running');
    expect((await call('POST', '/v1/sessions/nope/start')).status).toBe(404);
  });
});

describe('per-session routes', () => {
  it('sends from the session named in the path; the SESSION_ID routes are aliases of /v1/sessions/default', async () => {
    await createSession('sales');
    await t.publishState('READY', {}, { sessionId: 'sales' });
    const sent = await call('POST', '/v1/sessions/sales/messages', { to: '+49 151 23456789', text: 'from sales', idempotencyKey: 'order-1' });
    expect(sent.status).toBe(202);
    expect(sent.headers.get('location')).toBe('/v1/sessions/sales/messages/order-1');
    expect(await sent.json()).toEqual({ id: 'order-1', status: 'queued', duplicate: false });
    expect(await t.api.producer.session('sales').queues.outbox.getJob('order-1')).toMatchObject({ data: { text: 'from sales' } });

    // Idempotency keys are per session: the same key in the default session is another message.
    const other = await call('POST', '/v1/messages', { to: '+49 151 23456789', text: 'from default', idempotencyKey: 'order-1' });
    expect(other.status).toBe(202);
    expect(other.headers.get('location')).toBe('/v1/messages/order-1');
    expect(await other.json()).toMatchObject({ id: 'order-1', status: 'held', duplicate: false });

    const viaAlias = await (await call('GET', '/v1/messages/order-1')).json();
    expect(await (await call('GET', '/v1/sessions/default/messages/order-1')).json()).toEqual(viaAlias);
    expect(await (await call('GET', '/v1/sessions/sales/messages/order-1')).json()).toMatchObject({ id: 'order-1', status: 'queued' });
    const state = (await (await call('GET', '/v1/session')).json()) as { sessionId: string; status: string };
    expect(state).toMatchObject({ sessionId: 'default', status: 'WORKER_OFFLINE' });
    expect(await (await call('GET', '/v1/sessions/default')).json()).toMatchObject({ state: { sessionId: 'default', status: state.status } });
  });

  it('refuses a send to a session that does not exist (404) and stores nothing', async () => {
    const refused = await call('POST', '/v1/sessions/nope/messages', { to: '+49 151 23456789', text: 'x', idempotencyKey: 'k-1' });
    expect(refused.status).toBe(404);
    expect(await refused.json()).toMatchObject({ error: { code: 'session_not_found' } });
    for (const path of ['/v1/sessions/nope/connect', '/v1/sessions/nope/logout', '/v1/sessions/nope/restart']) expect((await call('POST', path)).status).toBe(404);
    for (const path of ['/v1/sessions/nope/qr', '/v1/sessions/nope/events', '/v1/sessions/nope/messages']) expect((await call('GET', path)).status).toBe(404);
    expect((await keysUnder(t.fixture.redis, t.prefix)).filter((key) => key.includes('nope'))).toEqual([]);
    expect(await new SessionRegistry(t.fixture.redis, t.prefix).get('nope')).toBeNull();
  });

  it('queues connect, logout and restart for the named session only, and names it in QR hints', async () => {
    await createSession('sales');
    for (const name of ['connect', 'logout', 'restart']) expect((await call('POST', `/v1/sessions/sales/${name}`)).status).toBe(202);
    expect((await t.api.producer.session('sales').queues.control.getJobs(['waiting'])).map((job) => job.name).sort()).toEqual(['connect', 'logout', 'restart']);
    expect(await t.api.producer.queues.control.getJobCountByTypes('waiting')).toBe(0);
    expect(await (await call('GET', '/v1/sessions/sales/qr')).json()).toMatchObject({ error: { code: 'not_started', message: expect.stringContaining('POST /v1/sessions/sales/connect') } });
  });

  it('lists messages newest first with a status filter and a cursor, and refuses bad queries', async () => {
    await createSession('sales');
    const ids: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      const response = await call('POST', '/v1/sessions/sales/messages', { to: '+49 151 23456789', text: `m${i}`, idempotencyKey: `m-${i}` });
      ids.push(((await response.json()) as { id: string }).id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = (await (await call('GET', `/v1/sessions/sales/messages?limit=3${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)).json()) as { messages: { id: string; status: string }[]; nextCursor?: string };
      seen.push(...page.messages.map((m) => m.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== undefined && pages < 10);
    expect(seen).toEqual([...ids].reverse());
    expect(pages).toBe(3);
    const asc = (await (await call('GET', '/v1/sessions/sales/messages?order=asc&status=held,failed')).json()) as { messages: { id: string; status: string }[] };
    expect(asc.messages.map((m) => m.id)).toEqual(ids);
    expect(asc.messages.every((m) => m.status === 'held')).toBe(true);
    expect((await (await call('GET', '/v1/sessions/sales/messages?status=sent')).json()) as unknown).toEqual({ messages: [] });
    for (const query of ['status=lost', 'limit=0', 'limit=201', 'limit=x', 'order=up', 'cursor=not-a-cursor']) {
      const bad = await call('GET', `/v1/sessions/sales/messages?${query}`);
      expect(bad.status, query).toBe(422);
    }
  });
});

describe('DELETE /v1/sessions/:session', () => {
  it('refuses sends at once, waits for the worker, and answers its report of the sends it failed', async () => {
    await createSession('sales');
    await call('POST', '/v1/sessions/sales/messages', { to: '+49 151 23456789', text: 'held', idempotencyKey: 'held-1' });
    const registry = new SessionRegistry(t.fixture.redis, t.prefix);
    const deleting = call('DELETE', '/v1/sessions/sales');
    // The stand-in worker: once the session is marked deleted, it writes its report and removes the entry.
    await vi.waitFor(async () => expect((await registry.get('sales'))?.desired).toBe('deleted'), { timeout: 10_000, interval: 50 });
    expect(await (await call('POST', '/v1/sessions/sales/messages', { to: '+49 151 23456789', text: 'late' })).json()).toMatchObject({ error: { code: 'session_not_found' } });
    expect((await call('POST', '/v1/sessions/sales/start')).status).toBe(409);
    const report: DeletionReport = { sessionId: 'sales', deletedAt: new Date().toISOString(), failedSends: [{ id: 'held-1', to: '4915123456789@c.us', code: SESSION_DELETED }], loggedOut: false };
    await t.fixture.redis.set(registryKeys(t.prefix).deleted('sales'), JSON.stringify(report));
    await registry.remove('sales');
    const answer = await deleting;
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ deleted: true, report });
    // Gone for readers; a repeat answers the report again.
    expect((await call('GET', '/v1/sessions/sales')).status).toBe(404);
    expect(await (await call('DELETE', '/v1/sessions/sales')).json()).toEqual({ deleted: true, report });
    // The id can be used again, and its old report does not stand in for the new session's.
    await createSession('sales');
    expect(await t.fixture.redis.exists(registryKeys(t.prefix).deleted('sales'))).toBe(0);
  });

  it('answers 202 without waiting (wait=false) and 404 for a session that never was', async () => {
    await createSession('sales');
    const answer = await call('DELETE', '/v1/sessions/sales?wait=false');
    expect(answer.status).toBe(202);
    expect(await answer.json()).toEqual({ deleted: false, report: null });
    expect(await t.fixture.redis.exists(sessionKeys({ prefix: t.prefix, sessionId: 'sales' }).registered)).toBe(0);
    expect((await call('DELETE', '/v1/sessions/never')).status).toBe(404);
    expect((await call('DELETE', '/v1/sessions/sales?wait=maybe')).status).toBe(422);
  });
});

describe('the worker pool', () => {
  it('lists the workers and asks one to drain; 404 for an unknown worker', async () => {
    const workers = new WorkerRegistry(t.fixture.redis, t.prefix);
    const now = new Date().toISOString();
    await workers.heartbeat({ id: 'w-1', host: 'host-a', pid: 42, capacity: 10, sessions: ['default'], startedAt: now, heartbeatAt: now, heartbeatEveryMs: 5_000 });
    expect(await (await call('GET', '/v1/workers')).json()).toEqual({
      workers: [{ id: 'w-1', host: 'host-a', pid: 42, capacity: 10, sessions: ['default'], startedAt: now, heartbeatAt: now, heartbeatEveryMs: 5_000, draining: false, alive: true }],
    });
    const drain = await call('POST', '/v1/workers/w-1/drain');
    expect(drain.status).toBe(202);
    expect(await drain.json()).toMatchObject({ worker: { id: 'w-1', draining: true } });
    expect(await workers.drainRequested('w-1')).toBe(true);
    expect(await (await call('POST', '/v1/workers/w-2/drain')).json()).toMatchObject({ error: { code: 'worker_not_found' } });
  });
});
