/**
 * What the outbox consumer does with a send it cannot make, by whether this worker still owns the
 * session: back to the head of the queue, or left active for the new owner (consumers.ts, `leave`).
 */
import { createRedis, SessionNotReadyError, type JobHandlers } from '@waq/shared';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';

import { createConsumers, type Consumers, type JobContext } from './consumers.js';
import { OwnerHarness, silentLogger } from './testing/owner-harness.js';

let h: OwnerHarness;

beforeEach(async () => {
  h = await OwnerHarness.create();
});

afterEach(async () => {
  await h.close();
});

/** Consumers whose send handler refuses every send as the session not being ready. */
function refusingConsumers(leaseLost: boolean): { consumers: Consumers; taken: Promise<void> } {
  let took: () => void = () => undefined;
  const taken = new Promise<void>((resolve) => (took = resolve));
  const unexpected = (): Promise<never> => Promise.reject(new Error('no such job in this test'));
  const handlers: JobHandlers<JobContext> = {
    connect: unexpected,
    logout: unexpected,
    restart: unexpected,
    check: unexpected,
    send: () => {
      took();
      // What a worker whose session was abandoned for a lost lease says: the status is still READY, the client is gone.
      return Promise.reject(new SessionNotReadyError('session is READY'));
    },
  };
  const connection = createRedis({ url: h.fixture.url, role: 'consumer', name: 'consumers-test', logger: silentLogger });
  const consumers = createConsumers({ connection, keys: h.keys, handlers, logger: silentLogger, lockMs: 5_000, leaseLost: () => leaseLost });
  onTestFinished(async () => {
    await consumers.close(true);
    connection.disconnect();
  });
  consumers.start();
  return { consumers, taken };
}

describe('a send the session cannot make', () => {
  it('goes back to the head of the queue while this worker owns the session', async () => {
    const { id } = await h.producer.send({ to: '+49 151 00000001', text: 'held' });
    const { consumers, taken } = refusingConsumers(false);
    await taken;
    // Closing waits for the job being handled.
    await consumers.close();
    expect(await h.producer.queues.outbox.getJobState(id)).toBe('prioritized');
  });

  it('is left active for the new owner once this worker has lost the session, not put back at the head', async () => {
    // Put back, it would tie with a later send the new owner put back meanwhile (BullMQ puts both at the
    // head of their priority with one score), and the two would go out in the order of their job ids.
    const { id } = await h.producer.send({ to: '+49 151 00000001', text: 'the new owner sends it' });
    const { consumers, taken } = refusingConsumers(true);
    await taken;
    await consumers.close();
    expect(await h.producer.queues.outbox.getJobState(id)).toBe('active');
  });
});
