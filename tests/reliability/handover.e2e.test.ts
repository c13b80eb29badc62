/**
 * Reliability scenario 4 (issue 7): two workers on one session. Exactly one owns it and runs Chromium;
 * kill -9 of the owner mid-stream → the standby takes the lease over from the dead owner (unrenewed for
 * half a TTL, its Redis connection gone) and is READY within the lease TTL; no send is lost or doubled
 * across the handover, and the order is kept.
 *
 * The workers run with the default LEASE_TTL_MS (15 s), not the suite's short one: "READY within the
 * TTL" is a claim about the production setting (half a TTL to detect + Chromium start and restore).
 */
import { readFile } from 'node:fs/promises';

import { freePort, type SpawnedProcess } from '@waq/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { report, scale, seconds } from './scale.js';
import { Stack, texts } from './stack.js';

const TO = '+49 151 30000004';
const LEASE_TTL_MS = 15_000;
let stack: Stack;

interface Worker {
  readonly proc: SpawnedProcess;
  readonly port: number;
}

async function start(name: string): Promise<Worker> {
  const port = await freePort();
  return { proc: await stack.startWorker(name, { WORKER_PORT: String(port), LEASE_TTL_MS: String(LEASE_TTL_MS) }), port };
}

async function role(worker: Worker): Promise<string> {
  const body = (await (await fetch(`http://127.0.0.1:${worker.port}/healthz`)).json()) as { sessions?: { id: string }[] };
  // A pool member with the session is its owner; one with room and without it stands by.
  return body.sessions === undefined ? 'unknown' : body.sessions.some((s) => s.id === stack.sessionId) ? 'owner' : 'standby';
}

/** pid, parent, state and program of each process (for a sample that saw two browsers). */
async function describePids(pids: readonly number[]): Promise<string> {
  const rows = await Promise.all(
    pids.map(async (pid) => {
      const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
      return `${pid} ppid=${/PPid:\s+(\d+)/.exec(status)?.[1]} state=${/State:\s+(\S+)/.exec(status)?.[1]} ${args[0]}`;
    }),
  );
  return `${new Date().toISOString()} ${rows.join(' | ')}`;
}

beforeAll(async () => {
  // A named session, not the configured one: the wave-1 guarantees hold per session.
  stack = await Stack.create({ sessionId: 'shop-4' });
});

afterAll(async () => {
  await stack?.close();
});

describe('two workers on one session', () => {
  it('4. one owner, one Chromium; kill -9 of the owner → the standby takes over, nothing lost or doubled, order kept', async () => {
    const count = scale(100, 500);
    const first = await start('worker-a');
    await first.proc.waitForLine(/this worker now owns the session/);
    const second = await start('worker-b');
    await second.proc.waitForLine(/joined the worker pool/);
    await stack.pair();
    await vi.waitFor(async () => expect([await role(first), await role(second)]).toEqual(['owner', 'standby']), { timeout: 10_000 });

    const samples: number[] = [];
    const overlaps: string[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pids = await stack.browsers();
        samples.push(pids.length);
        if (pids.length > 1) overlaps.push(await describePids(pids));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    try {
      const bodies = texts('s4', count);
      const ids = await stack.sendAll(TO, bodies);
      await vi.waitFor(() => expect(stack.tally(TO, bodies).delivered).toBeGreaterThanOrEqual(Math.floor(count / 2)), { timeout: 120_000, interval: 5 });
      const active = (await stack.producer.queues.outbox.getJobCounts('active')).active ?? 0;
      const killedAt = Date.now();
      first.proc.child.kill('SIGKILL');
      await second.proc.waitForLine(/this worker now owns the session/, LEASE_TTL_MS * 2);
      const ownedMs = Date.now() - killedAt;
      const readyMs = await stack.waitForReadyAfter(killedAt, LEASE_TTL_MS * 3);
      expect(await role(second)).toBe('owner');
      await stack.waitAllCompleted(ids, 180_000);
      const tally = stack.tally(TO, bodies);
      if (tally.duplicated > 0) console.error(stack.explainDuplicates(TO, bodies, ids));
      sampling = false;
      await sampler;
      report({
        scenario: '4. two workers, kill -9 owner',
        load: `${count} sends, 2 workers`,
        faults: `kill -9 owner mid-stream (${active} job active)`,
        lost: tally.lost,
        duplicated: tally.duplicated,
        recovery: `kill → standby owns ${seconds(ownedMs)}, → READY ${seconds(readyMs)} (lease TTL ${seconds(LEASE_TTL_MS)})`,
        notes: `most Chromium at once: ${Math.max(...samples)} (${samples.length} samples); order kept: ${tally.inOrder}${tally.firstOutOfOrder ? ` (${tally.firstOutOfOrder})` : ''}`,
      });
      expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
      // Both workers run on this host, so the standby sees that the owner's process is gone and takes
      // over at once (a standby on another host waits for half a TTL: lease.redis.test.ts).
      expect(second.proc.lines.some((line) => /taking over at once|taking over now instead of waiting for the lease to expire/.test(line))).toBe(true);
      expect(readyMs).toBeLessThan(LEASE_TTL_MS);
      if (overlaps.length > 0) console.error(`more than one Chromium on the profile:\n${overlaps.join('\n')}`);
      expect(Math.max(...samples)).toBe(1);
    } finally {
      sampling = false;
      await sampler;
    }
  }, 900_000);

  it('10. (logs) no phone number, message body, QR value or key in clear in any process output', () => {
    const leaks = stack.leaks([TO]);
    report({ scenario: '10. log check: handover', load: `${stack.logLines().length} log lines, ${stack.processes.length} processes`, faults: '-', lost: '-', duplicated: '-', recovery: '-', notes: `leaks: ${leaks.length}` });
    expect(leaks).toEqual([]);
  });
});
