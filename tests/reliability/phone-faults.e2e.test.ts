/**
 * Reliability scenarios 5 and 6 (issue 7): what the phone does to a linked session. Logout from the
 * phone with sends queued (held, not failed; delivered in order after re-pairing), and the phone going
 * offline and online again and again during a long run (no loss, no duplicate, order kept).
 */
import type { SpawnedProcess } from '@waq/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { report, scale, seconds } from './scale.js';
import { Stack, texts } from './stack.js';

const NUMBERS = { s5: '+49 151 30000005', s6: '+49 151 30000006' };
let stack: Stack;
let worker: SpawnedProcess;

beforeAll(async () => {
  // A named session, not the configured one: the wave-1 guarantees hold per session.
  stack = await Stack.create({ sessionId: 'shop-5' });
  worker = await stack.startWorker('worker-1');
  await stack.waitForStatus('STOPPED');
  await stack.pair();
});

afterAll(async () => {
  await stack?.close();
});

describe('phone-side faults on the real stack', () => {
  it('5. logout from the phone with 100 sends queued: held, not failed; re-pair → all delivered, in order', async () => {
    const count = 100;
    const bodies = texts('s5', count);
    const ids = await stack.sendAll(NUMBERS.s5, bodies);
    await vi.waitFor(() => expect(stack.tally(NUMBERS.s5, bodies).delivered).toBeGreaterThanOrEqual(10), { timeout: 60_000, interval: 5 });
    stack.sim.logout();
    await stack.waitForStatus('LOGGED_OUT');
    const deliveredBefore = stack.tally(NUMBERS.s5, bodies).delivered;

    // The job that was running when the phone unlinked goes back to the queue (held, not an attempt).
    let byStatus: Record<string, number> = {};
    await vi.waitFor(
      async () => {
        const views = await Promise.all(ids.map((id) => stack.producer.getMessage(id)));
        byStatus = {};
        for (const view of views) byStatus[view?.status ?? 'missing'] = (byStatus[view?.status ?? 'missing'] ?? 0) + 1;
        expect(byStatus['sending'] ?? 0).toBe(0);
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(byStatus['failed'] ?? 0).toBe(0);
    expect(byStatus['held']).toBeGreaterThan(0);
    // An attempt the unlink interrupted is held too (back at the head of the queue), not retried later.
    expect(Object.keys(byStatus).filter((status) => !['held', 'sent'].includes(status))).toEqual([]);

    const pairedAt = Date.now();
    await stack.pair();
    await stack.waitAllCompleted(ids, 120_000);
    const recoveredMs = Date.now() - pairedAt;
    const tally = stack.tally(NUMBERS.s5, bodies);
    if (tally.duplicated > 0) console.error(stack.explainDuplicates(NUMBERS.s5, bodies, ids));
    report({
      scenario: '5. logout from the phone, sends queued',
      load: `${count} sends (${deliveredBefore} out before the logout)`,
      faults: 'phone unlinks the device mid-stream',
      lost: tally.lost,
      duplicated: tally.duplicated,
      recovery: `connect → QR → scan → all delivered ${seconds(recoveredMs)}`,
      notes: `while logged out: ${Object.entries(byStatus).map(([s, n]) => `${n} ${s}`).join(', ')}; order kept: ${tally.inOrder}${tally.firstOutOfOrder ? ` (${tally.firstOutOfOrder})` : ''}`,
    });
    expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
  }, 300_000);

  it('6. the phone goes offline and online repeatedly during a long run: no loss, no duplicate, order kept', async () => {
    const count = scale(200, 1_000);
    const flaps = scale(4, 20);
    const offlineMs = 1_000;
    const bodies = texts('s6', count);
    const ids = await stack.sendAll(NUMBERS.s6, bodies);
    const backMs: number[] = [];
    for (let f = 1; f <= flaps; f += 1) {
      const threshold = Math.floor((count * f) / (flaps + 1));
      await vi.waitFor(() => expect(stack.tally(NUMBERS.s6, bodies).delivered).toBeGreaterThanOrEqual(threshold), { timeout: 120_000, interval: 5 });
      stack.sim.setOnline(false);
      // The fault's length, not a wait for an event: the phone stays away this long.
      await new Promise((resolve) => setTimeout(resolve, offlineMs));
      const received = stack.bodiesTo(NUMBERS.s6).length;
      const onlineAt = Date.now();
      stack.sim.setOnline(true);
      await vi.waitFor(() => expect(stack.bodiesTo(NUMBERS.s6).length).toBeGreaterThan(received), { timeout: 30_000, interval: 10 });
      backMs.push(Date.now() - onlineAt);
    }
    await stack.waitAllCompleted(ids, 300_000);
    // Messages WhatsApp Web accepted while offline reach the phone after the reconnect.
    await vi.waitFor(() => expect(stack.tally(NUMBERS.s6, bodies).lost).toBe(0), { timeout: 30_000, interval: 50 });
    const tally = stack.tally(NUMBERS.s6, bodies);
    if (tally.duplicated > 0) console.error(stack.explainDuplicates(NUMBERS.s6, bodies, ids));
    if (!tally.inOrder) console.error(`arrival order (acceptance ranks): ${stack.arrivalRuns(NUMBERS.s6, bodies)}`);
    const sorted = [...backMs].sort((a, b) => a - b);
    report({
      scenario: '6. phone offline/online flapping',
      load: `${count} sends`,
      faults: `${flaps} × phone offline ${seconds(offlineMs)}`,
      lost: tally.lost,
      duplicated: tally.duplicated,
      recovery: `online → next message on the phone: median ${seconds(sorted[Math.floor(sorted.length / 2)] ?? 0)}, max ${seconds(sorted.at(-1) ?? 0)}`,
      notes: `order kept: ${tally.inOrder}${tally.firstOutOfOrder ? ` (${tally.firstOutOfOrder})` : ''}; session status stayed READY: ${(await stack.producer.getState()).status === 'READY'}`,
    });
    expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
    expect(worker.child.exitCode).toBeNull();
  }, 900_000);

  it('10. (logs) no phone number, message body, QR value or key in clear in any process output', () => {
    const leaks = stack.leaks(Object.values(NUMBERS));
    report({ scenario: '10. log check: phone faults', load: `${stack.logLines().length} log lines, ${stack.processes.length} processes`, faults: '-', lost: '-', duplicated: '-', recovery: '-', notes: `leaks: ${leaks.length}` });
    expect(leaks).toEqual([]);
  });
});
