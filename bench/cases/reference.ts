/**
 * Physical reference: what Redis and plain BullMQ cost on this machine, so every other figure can be
 * read as "how far from a Redis round trip". redis-benchmark runs exactly as the issue quotes it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { createRedis } from '@waq/shared';

import { concurrentAdds, noopDrain, plainQueue, prefill, serialAdds } from '../lib/bull.js';
import type { BenchOptions } from '../lib/options.js';
import { benchPrefix, deletePrefix } from '../lib/redis.js';
import { table, type CaseReport } from '../lib/report.js';
import { fmt, fmtSummary, summarize, type Summary } from '../lib/stats.js';

const run = promisify(execFile);

/** The key `redis-benchmark -t set` writes (one key: no `-r`). Deleted after, if we created it. */
const BENCHMARK_KEY = 'key:__rand_int__';

async function redisBenchmarkSet(url: string, requests: number, clients: number): Promise<number> {
  const { hostname, port, password } = new URL(url);
  const args = ['-h', hostname, '-p', port || '6379', '-t', 'set', '-n', String(requests), '-c', String(clients), '-q', ...(password ? ['-a', decodeURIComponent(password), '--no-auth-warning'] : [])];
  const { stdout } = await run('redis-benchmark', args, { timeout: 300_000 });
  // -q prints progress lines ending in \r, then "SET: 156250.00 requests per second, p50=… msec".
  const match = /SET: ([\d.]+) requests per second/.exec(stdout.split('\r').at(-1) ?? '');
  if (match === null) throw new Error(`could not read redis-benchmark output: ${stdout.slice(-200)}`);
  return Number(match[1]);
}

export interface ReferenceFigures {
  readonly setC50: Summary;
  readonly setC1: Summary;
  readonly addSerial: Summary;
  readonly addConcurrent: Summary;
  readonly noopWorker: Summary;
}

export async function referenceCase(options: BenchOptions, log: (line: string) => void): Promise<Omit<CaseReport, 'id' | 'load' | 'seconds'> & { figures: ReferenceFigures }> {
  const { redisUrl, runs } = options;
  const n = options.reference.bullJobs;
  const probe = createRedis({ url: redisUrl, role: 'consumer', name: 'bench-reference' });
  const keyExisted = (await probe.exists(BENCHMARK_KEY)) === 1;
  const setC50: number[] = [];
  const setC1: number[] = [];
  const addSerial: number[] = [];
  const addConcurrent: number[] = [];
  const noop: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      setC50.push(await redisBenchmarkSet(redisUrl, options.reference.setRequests, 50));
      setC1.push(await redisBenchmarkSet(redisUrl, options.reference.setRequests, 1));
      const prefix = benchPrefix('ref');
      const plain = await plainQueue(redisUrl, prefix);
      try {
        addSerial.push(await serialAdds(plain.queue, n));
        addConcurrent.push(await concurrentAdds(plain.queue, n));
        await plain.queue.obliterate({ force: true });
        await prefill(plain.queue, n);
        noop.push(await noopDrain(redisUrl, prefix, n));
      } finally {
        await plain.close();
        await deletePrefix(probe, prefix);
      }
      log(`reference run ${r + 1}/${runs}: SET c50 ${fmt(setC50.at(-1) ?? 0)}/s, c1 ${fmt(setC1.at(-1) ?? 0)}/s, add serial ${fmt(addSerial.at(-1) ?? 0)}/s, concurrent ${fmt(addConcurrent.at(-1) ?? 0)}/s, no-op worker ${fmt(noop.at(-1) ?? 0)}/s`);
    }
  } finally {
    if (!keyExisted) await probe.del(BENCHMARK_KEY);
    await probe.quit().catch(() => probe.disconnect());
  }
  const figures: ReferenceFigures = { setC50: summarize(setC50), setC1: summarize(setC1), addSerial: summarize(addSerial), addConcurrent: summarize(addConcurrent), noopWorker: summarize(noop) };
  const body = [
    'How far each path is from the cost of a Redis round trip, on the same Redis as the other cases.',
    '',
    table(
      ['Operation', 'Rate (median, min–max)', 'How'],
      [
        ['Redis SET, 50 clients', `${fmtSummary(figures.setC50)} /s`, `\`redis-benchmark -t set -n ${options.reference.setRequests} -c 50 -q\``],
        ['Redis SET, 1 client', `${fmtSummary(figures.setC1)} /s`, `\`redis-benchmark -t set -n ${options.reference.setRequests} -c 1 -q\``],
        ['BullMQ `add`, serial', `${fmtSummary(figures.addSerial)} /s`, `${n} \`queue.add('send', payload)\` one after the other`],
        ['BullMQ `add`, concurrent', `${fmtSummary(figures.addConcurrent)} /s`, `${n} adds issued at once (pipelined on one connection)`],
        ['BullMQ no-op worker', `${fmtSummary(figures.noopWorker)} jobs/s`, `${n} waiting jobs, \`Worker\` concurrency 1, processor \`async () => undefined\``],
      ],
    ),
    '',
    'redis-benchmark is a C client with no per-request allocation; BullMQ `add` is one Lua script call (`EVALSHA`) per job with',
    'its JSON encoding, and a worker needs at least two script calls per job (move to active, move to finished).',
  ].join('\n');
  return { title: '7. Physical reference', body, verdicts: [], figures };
}
