import { describe, expect, it } from 'vitest';

import { decodeState, reportState, sessionStateSchema, type SessionState } from './state.js';

const now = new Date('2026-01-02T03:04:05.000Z');
const ready: SessionState = {
  sessionId: 'default',
  status: 'READY',
  since: '2026-01-02T03:00:00.000Z',
  me: { wid: '4915123456789@c.us', pushname: 'Ada' },
  owner: { workerId: 'w1', heartbeatAt: '2026-01-02T03:04:00.000Z' },
};

describe('reportState', () => {
  it('reports the published state while a worker holds the lease', () => {
    expect(reportState('default', ready, { holder: 'w1' }, now)).toEqual(ready);
  });

  it('never reports READY for a dead worker', () => {
    const reported = reportState('default', ready, { holder: null }, now);
    expect(reported.status).toBe('WORKER_OFFLINE');
    expect(reported.lastPublishedStatus).toBe('READY');
    expect(reported.lastError?.code).toBe('worker_offline');
    expect(reported.me).toEqual(ready.me);
  });

  it('reports WORKER_OFFLINE when nothing was ever published', () => {
    expect(reportState('default', null, { holder: null }, now)).toMatchObject({ status: 'WORKER_OFFLINE', since: now.toISOString() });
  });

  it('reports STARTING for a live owner that has not published yet', () => {
    expect(reportState('default', null, { holder: 'w1' }, now)).toEqual({ sessionId: 'default', status: 'STARTING', since: now.toISOString() });
  });

  it('reports WORKER_OFFLINE for a holder known dead, although its lease has not expired', () => {
    const reported = reportState('default', ready, { holder: 'w1', alive: false }, now);
    expect(reported).toMatchObject({ status: 'WORKER_OFFLINE', lastPublishedStatus: 'READY', me: ready.me, lastError: { code: 'worker_offline' } });
    expect(reported.lastError?.message).toMatch(/is gone/);
  });

  it("reports STARTING, not the predecessor's READY, while a new owner has not published yet", () => {
    expect(reportState('default', ready, { holder: 'w2' }, now)).toEqual({ sessionId: 'default', status: 'STARTING', since: now.toISOString(), me: ready.me });
  });
});

describe('decodeState', () => {
  it('round-trips a valid state', () => {
    expect(decodeState(JSON.stringify(ready))).toEqual(ready);
  });

  it.each([null, '', '{', '{"status":"READY"}', JSON.stringify({ ...ready, status: 'ONLINE' })])('reads %j as nothing published', (raw) => {
    expect(decodeState(raw)).toBeNull();
  });

  it('requires a QR to carry its expiry', () => {
    expect(sessionStateSchema.safeParse({ ...ready, status: 'QR', qr: { value: '2@abc' } }).success).toBe(false);
  });
});
