/**
 * Reliability scenario 3 (issue 7): Redis restarts under a running gateway. A throwaway redis-server
 * with AOF (`appendfsync everysec`, as docker-compose.yml runs it) is stopped and started again
 * mid-stream. Every job the API accepted (202) before the restart is still there and is delivered once;
 * while Redis is down the API answers 503 at once (no 500, no hang); the worker reconnects by itself.
 *
 * The stop is a SIGTERM (what `docker compose restart`, systemd or a rolling update do): Redis writes and
 * fsyncs the AOF before it exits. A kill -9 of Redis (or of its host) with `everysec` can lose up to the
 * last second of writes; that trade-off is described in docs/reliability.md, not asserted here.
 */
import { startThrowawayRedis, type SpawnedProcess, type ThrowawayRedis } from '@waq/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { report, scale, seconds } from './scale.js';
import { LEASE_TTL_MS, Stack, texts, type ApiProcess } from './stack.js';

const TO = '+49 151 30000003';
let redisServer: ThrowawayRedis;
let stack: Stack;
let worker: SpawnedProcess;
let api: ApiProcess;

beforeAll(async () => {
  redisServer = await startThrowawayRedis();
  stack = await Stack.create({ redisUrl: redisServer.url });
  worker = await stack.startWorker('worker-1');
  api = await stack.startApi('api-1');
  await stack.waitForStatus('STOPPED');
  await stack.pair();
});

afterAll(async () => {
  await stack?.close();
  await redisServer?.close();
});

async function accept(text: string): Promise<string> {
  const res = await api.fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to: TO, text }) });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

interface Probe {
  readonly status: number;
  readonly ms: number;
}

/** While Redis is down: every API call that needs it must answer 503 quickly, never 500 or hang. */
async function probeWhileDown(): Promise<Probe[]> {
  const calls: (() => Promise<Response>)[] = [
    () => api.fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to: TO, text: 'wqbody s3 refused' }) }),
    () => api.fetch('/v1/session'),
    () => api.fetch('/v1/messages/some-id'),
    () => api.fetch('/v1/session/connect', { method: 'POST' }),
    () => fetch(`${api.url}/readyz`),
  ];
  const probes: Probe[] = [];
  for (const call of calls) {
    const started = Date.now();
    const res = await call();
    await res.arrayBuffer();
    probes.push({ status: res.status, ms: Date.now() - started });
    if (res.status === 503 && res.headers.get('retry-after') === null && !res.url.endsWith('/readyz')) throw new Error(`503 without Retry-After from ${res.url}`);
  }
  return probes;
}

describe('Redis restart under a running gateway', () => {
  it('3. Redis restart (AOF everysec, SIGTERM): no accepted job lost or doubled; 503 while down; the worker reconnects by itself', async () => {
    const count = scale(100, 500);
    // One outage shorter than the lease TTL; at full scale also one longer (the worker loses the lease
    // and must take it again, then restore the session without a QR).
    const outages = scale(1, 2);
    const downMs = [2_000, LEASE_TTL_MS + 2_000];
    const bodies = texts('s3', count);
    const ids: string[] = [];
    const probes: Probe[] = [];
    const recoveries: number[] = [];
    const perPhase = Math.ceil(count / (outages + 1));
    let next = 0;
    for (let o = 0; o <= outages; o += 1) {
      const batch = bodies.slice(next, next + perPhase);
      for (const text of batch) ids.push(await accept(text));
      next += batch.length;
      if (o === outages) break;
      // Mid-stream: part of what was accepted is out, the rest is waiting in Redis.
      await vi.waitFor(() => expect(stack.tally(TO, bodies).delivered).toBeGreaterThanOrEqual(next - Math.floor(perPhase / 2)), { timeout: 120_000, interval: 5 });
      await redisServer.stop('SIGTERM');
      const downAt = Date.now();
      probes.push(...(await probeWhileDown()));
      // The outage's length (the fault itself), not a wait for an event.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, (downMs[o] ?? 2_000) - (Date.now() - downAt))));
      const before = stack.bodiesTo(TO).length;
      await redisServer.start();
      const upAt = Date.now();
      await vi.waitFor(() => expect(stack.bodiesTo(TO).length).toBeGreaterThan(before), { timeout: 60_000, interval: 10 });
      recoveries.push(Date.now() - upAt);
      await stack.waitForStatus('READY', 60_000);
    }
    await stack.waitAllCompleted(ids, 180_000);
    const tally = stack.tally(TO, bodies);
    if (tally.duplicated > 0) console.error(stack.explainDuplicates(TO, bodies, ids));
    const worst = Math.max(...probes.map((p) => p.ms));
    const statuses = [...new Set(probes.map((p) => p.status))];
    report({
      scenario: '3. Redis restart (AOF everysec)',
      load: `${count} sends accepted through the API (202)`,
      faults: `${outages} × Redis SIGTERM + restart, down ${downMs.slice(0, outages).map(seconds).join(' / ')}`,
      lost: tally.lost,
      duplicated: tally.duplicated,
      recovery: `Redis up → next message on the phone ${recoveries.map(seconds).join(', ')}`,
      notes: `while down: ${probes.length} API calls → ${statuses.join('/')} in ≤ ${worst} ms; worker restarted: no (exit code ${worker.child.exitCode ?? 'none'})`,
    });
    expect(statuses).toEqual([503]);
    expect(worst).toBeLessThan(1_000);
    expect(tally).toMatchObject({ lost: 0, duplicated: 0 });
    expect(worker.child.exitCode).toBeNull();
    expect(api.proc.child.exitCode).toBeNull();
  }, 900_000);

  it('10. (logs) no phone number, message body, QR value or key in clear in any process output', () => {
    const leaks = stack.leaks([TO]);
    report({ scenario: '10. log check: Redis restart', load: `${stack.logLines().length} log lines, ${stack.processes.length} processes`, faults: '-', lost: '-', duplicated: '-', recovery: '-', notes: `leaks: ${leaks.length}` });
    expect(leaks).toEqual([]);
  });
});
