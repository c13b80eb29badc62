/**
 * 6. Cost as work grows: Redis memory per held send and the drain rate with 10k, 100k (and, on request,
 * 1M) sends held, fake driver. Runs on a throwaway redis-server so `used_memory` moves only with our keys.
 */
import type { BenchOptions } from '../lib/options.js';
import { heldDrain, plainDrain } from '../lib/held.js';
import { benchPrefix, startThrowawayRedis } from '../lib/redis.js';
import { table, type CaseReport } from '../lib/report.js';
import { load1 } from '../lib/machine.js';
import { fmt } from '../lib/stats.js';

/** Writes the 1M-held-sends report, kept beside docs/benchmarks.md. */
export const COST_1M_COMMAND = 'BENCH_COST_SIZES=10000,100000,1000000 npm run bench -- --only=cost --out=docs/benchmarks-cost-1m.md';

interface Point {
  readonly n: number;
  readonly fillRate: number;
  readonly bytes: number;
  readonly drainRate: number;
  readonly drainSeconds: number;
  readonly inOrder: boolean;
  readonly orderProblem: string | undefined;
  readonly plainBytes: number;
  readonly plainDrainRate: number;
  /** 1-minute load average when the point finished. */
  readonly load: number;
}

export async function costCase(options: BenchOptions, log: (line: string) => void): Promise<Omit<CaseReport, 'id' | 'load' | 'seconds'>> {
  const redis = await startThrowawayRedis();
  const points: Point[] = [];
  try {
    for (const n of options.cost.sizes) {
      const waq = await heldDrain(redis.url, benchPrefix('cost'), n, options.cost.fillConcurrency);
      log(`cost ${n}: waq ${fmt(waq.bytesPerSend)} B/held send, filled ${fmt(waq.fillRate)}/s, drained ${fmt(waq.drainRate)} jobs/s in ${fmt(waq.drainSeconds, 1)} s, in order: ${waq.inOrder}`);
      const plain = await plainDrain(redis.url, benchPrefix('cost-base'), n, options.cost.fillConcurrency);
      log(`cost ${n}: plain BullMQ ${fmt(plain.bytesPerSend)} B/job, no-op drain ${fmt(plain.drainRate)} jobs/s`);
      points.push({ n, fillRate: waq.fillRate, bytes: waq.bytesPerSend, drainRate: waq.drainRate, drainSeconds: waq.drainSeconds, inOrder: waq.inOrder, orderProblem: waq.orderProblem, plainBytes: plain.bytesPerSend, plainDrainRate: plain.drainRate, load: load1() });
    }
  } finally {
    await redis.close();
  }
  const first = points[0];
  const last = points.at(-1);
  const flat = first !== undefined && last !== undefined ? last.drainRate / first.drainRate : NaN;
  const linear = first !== undefined && last !== undefined ? last.bytes / first.bytes : NaN;
  const body = [
    'Each size on a fresh prefix of a throwaway `redis-server` (no persistence): `INFO memory` `used_memory` before and after',
    `accepting N sends through the producer SDK (${options.cost.fillConcurrency} in flight) while the session is not READY, divided by N;`,
    'then READY and the drain timed as in case 2. Baseline ("plain"): N plain `queue.add`s of the same payload with the same job options',
    '(no waq message record), drained by the no-op BullMQ worker of case 2.',
    'The held memory includes the BullMQ job hash and its list entry plus waq\'s message record (idempotency fingerprint).',
    '',
    table(
      ['Held sends', 'Redis bytes / held send', 'plain: bytes / job', 'Accept rate', 'Drain time', 'Drain rate', 'No-op drain rate', 'Order', 'Load after'],
      points.map((p) => [fmt(p.n, 0), fmt(p.bytes, 0), fmt(p.plainBytes, 0), `${fmt(p.fillRate)} /s`, `${fmt(p.drainSeconds, 1)} s`, `${fmt(p.drainRate)} jobs/s`, `${fmt(p.plainDrainRate)} jobs/s`, p.inOrder ? 'in order' : `FAILED: ${p.orderProblem ?? ''}`, fmt(p.load, 2)]),
    ),
    '',
    points.length > 1
      ? `From ${fmt(first?.n ?? 0, 0)} to ${fmt(last?.n ?? 0, 0)} held sends waq's drain rate changed by a factor ${fmt(flat, 2)} (flat = 1; the no-op baseline's by ${fmt((last?.plainDrainRate ?? NaN) / (first?.plainDrainRate ?? NaN), 2)}) and the bytes per held send by ${fmt(linear, 2)} (linear memory = 1). The target counts as met when the drain rate does not fall below 80 % of the smallest size's, and the bytes per send stay within 20 % of it. Drain rates are single runs on a shared machine: compare the load column before reading a trend into them.`
      : 'Only one size was run.',
    options.cost.sizes.includes(1_000_000)
      ? ''
      : `The 1,000,000 point is not part of the default run: at the drain rate above it alone would take about ${fmt(1_000_000 / (last?.drainRate ?? 1) / 60, 0)} min of draining plus the filling, beyond the run's 15-minute budget. Its own report, with the 10,000 and 100,000 points of the same run for comparison, is [benchmarks-cost-1m.md](benchmarks-cost-1m.md), written by \`${COST_1M_COMMAND}\`.`,
  ].join('\n');
  return {
    title: '6. Cost as work grows (held sends, fake driver)',
    body,
    verdicts: points.map((p) => ({
      metric: `${fmt(p.n, 0)} held: bytes/send, drain rate`,
      waq: `${fmt(p.bytes, 0)} B, ${fmt(p.drainRate)} jobs/s`,
      baseline: `${fmt(p.plainBytes, 0)} B, ${fmt(p.plainDrainRate)} jobs/s`,
      ratio: `${fmt(p.bytes / p.plainBytes, 2)}× B, ${fmt(p.drainRate / p.plainDrainRate, 2)}× rate`,
      target: p === first ? 'in order' : 'flat rate, linear memory, in order',
      met: p === first ? p.inOrder : p.inOrder && first !== undefined && p.drainRate >= 0.8 * first.drainRate && Math.abs(p.bytes / first.bytes - 1) <= 0.2,
    })),
  };
}
