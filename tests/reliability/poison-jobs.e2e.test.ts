/**
 * Reliability scenario 9 (issue 7): poisoned raw jobs pushed with plain BullMQ (no SDK, no API) — wrong
 * shape, unknown name, a job on the wrong queue, a 10 MB body — fail at once as unrecoverable with a
 * clear reason, whatever `attempts` they ask for; the worker keeps serving good jobs around them.
 */
import { decodeMessageFailure } from '@waq/shared';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { report, scale, seconds } from './scale.js';
import { BODY_MARKER, Stack, texts } from './stack.js';

const TO = '+49 151 30000009';
const TEN_MB = 10 * 1024 * 1024;
let stack: Stack;
let outbox: Queue;
let control: Queue;

beforeAll(async () => {
  // A named session, not the configured one: the wave-1 guarantees hold per session.
  stack = await Stack.create({ sessionId: 'shop-9' });
  await stack.startWorker('worker-1');
  await stack.waitForStatus('STOPPED');
  await stack.pair();
  const connection = { url: stack.redisUrl };
  outbox = new Queue('outbox', { connection, prefix: stack.keys.bullPrefix });
  control = new Queue('control', { connection, prefix: stack.keys.bullPrefix });
  for (const queue of [outbox, control]) queue.on('error', () => undefined);
});

afterAll(async () => {
  await outbox?.close();
  await control?.close();
  await stack?.close();
});

interface Poison {
  readonly kind: string;
  readonly queue: 'outbox' | 'control';
  readonly name: string;
  readonly data: unknown;
  /** The failure's code (carried as data, in the message record of an outbox job). */
  readonly code: 'invalid_payload' | 'unknown_job';
  /** What the failure reason must say. */
  readonly reason: RegExp;
}

const POISONS: Poison[] = [
  { kind: 'wrong types', queue: 'outbox', name: 'send', data: { to: 4915130000009, text: ['a'] }, code: 'invalid_payload', reason: /^invalid send job payload: .*(to|text)/ },
  { kind: 'missing fields', queue: 'outbox', name: 'send', data: {}, code: 'invalid_payload', reason: /^invalid send job payload: / },
  { kind: 'not an object', queue: 'outbox', name: 'send', data: 'send this', code: 'invalid_payload', reason: /^invalid send job payload: / },
  { kind: 'bad phone number', queue: 'outbox', name: 'send', data: { to: '+12', text: `${BODY_MARKER} poison` }, code: 'invalid_payload', reason: /^invalid send job payload: .*to/ },
  { kind: 'unknown job name', queue: 'outbox', name: 'frobnicate', data: { to: TO, text: `${BODY_MARKER} poison` }, code: 'unknown_job', reason: /^unknown job name .*frobnicate/ },
  { kind: 'control job on the outbox', queue: 'outbox', name: 'logout', data: {}, code: 'unknown_job', reason: /^unknown job name / },
  { kind: 'send on the control queue', queue: 'control', name: 'send', data: { to: TO, text: `${BODY_MARKER} poison` }, code: 'unknown_job', reason: /^unknown job name / },
  { kind: '10 MB text', queue: 'outbox', name: 'send', data: { to: TO, text: `${BODY_MARKER} ${'x'.repeat(TEN_MB)}` }, code: 'invalid_payload', reason: /^invalid send job payload: .*text/ },
];

describe('poisoned raw jobs', () => {
  it('9. wrong shape, unknown name, wrong queue, 10 MB body: failed as unrecoverable with a reason; good jobs keep flowing', async () => {
    const rounds = scale(1, 5);
    const good = texts('s9', (POISONS.length + 1) * rounds);
    const goodIds: string[] = [];
    const poisoned: { poison: Poison; id: string }[] = [];
    const started = Date.now();
    let g = 0;
    for (let r = 0; r < rounds; r += 1) {
      for (const poison of POISONS) {
        goodIds.push((await stack.producer.send({ to: TO, text: good[g++] as string })).id);
        const queue = poison.queue === 'outbox' ? outbox : control;
        const job = await queue.add(poison.name, poison.data, { attempts: 5, backoff: { type: 'fixed', delay: 100 } });
        poisoned.push({ poison, id: String(job.id) });
      }
      goodIds.push((await stack.producer.send({ to: TO, text: good[g++] as string })).id);
    }
    await stack.waitAllCompleted(goodIds, 120_000);
    const elapsed = Date.now() - started;

    const outcomes = await Promise.all(
      poisoned.map(async ({ poison, id }) => {
        const queue = poison.queue === 'outbox' ? outbox : control;
        // The control queue has no good job to wait behind: wait for this one to finish.
        await vi.waitFor(async () => expect(await queue.getJobState(id)).toBe('failed'), { timeout: 15_000, interval: 50 }).catch(() => undefined);
        const job = await queue.getJob(id);
        const failure = poison.queue === 'outbox' ? decodeMessageFailure(await stack.redis.hgetall(stack.keys.message(id))) : null;
        return { poison, state: await queue.getJobState(id), attempts: job?.attemptsMade, reason: job?.failedReason ?? '', code: failure?.code ?? poison.code };
      }),
    );
    for (const outcome of outcomes) {
      expect.soft(outcome.state, outcome.poison.kind).toBe('failed');
      expect.soft(outcome.attempts, outcome.poison.kind).toBe(1);
      expect.soft(outcome.reason, outcome.poison.kind).toMatch(outcome.poison.reason);
      expect.soft(outcome.code, outcome.poison.kind).toBe(outcome.poison.code);
      expect.soft(outcome.reason.length, outcome.poison.kind).toBeLessThan(2_000);
    }
    const tally = stack.tally(TO, good);
    report({
      scenario: '9. poisoned raw jobs (plain BullMQ)',
      load: `${poisoned.length} poisoned jobs (${POISONS.length} kinds × ${rounds}, attempts: 5 each) between ${good.length} good sends`,
      faults: POISONS.map((p) => p.kind).join(', '),
      lost: tally.lost,
      duplicated: tally.duplicated,
      recovery: `failed at the 1st attempt: ${outcomes.filter((o) => o.state === 'failed' && o.attempts === 1).length}/${outcomes.length}; all good sends out in ${seconds(elapsed)}`,
      notes: `codes: ${[...new Set(outcomes.map((o) => o.code))].join(', ')}; order kept: ${tally.inOrder}`,
    });
    expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
  });

  it('10. (logs) no phone number, message body, QR value or key in clear in any process output', () => {
    const leaks = stack.leaks([TO]);
    report({ scenario: '10. log check: poisoned jobs', load: `${stack.logLines().length} log lines, ${stack.processes.length} processes`, faults: '-', lost: '-', duplicated: '-', recovery: '-', notes: `leaks: ${leaks.length}` });
    expect(leaks).toEqual([]);
  });
});
