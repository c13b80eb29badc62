/** Runs the selected cases in order and renders the report (the CLI is run.ts; tests call this). */
import { createRedis } from '@waq/shared';

import { apiCase } from './cases/api-ingest.js';
import { chromiumCases } from './cases/chromium.js';
import { COST_1M_COMMAND, costCase } from './cases/cost.js';
import { dispatchCase } from './cases/dispatch.js';
import { latencyCase } from './cases/latency.js';
import { poolCases } from './cases/pool.js';
import { referenceCase } from './cases/reference.js';
import { storeCase } from './cases/store.js';
import { webhooksCase } from './cases/webhooks.js';
import { binaryVersion, load1, machine, packageVersion } from './lib/machine.js';
import { describeOptions, type BenchOptions } from './lib/options.js';
import { CASE_IDS, renderReport, type CaseId, type CaseReport } from './lib/report.js';
import { redisVersion } from './lib/redis.js';
import { fmt } from './lib/stats.js';

type CaseBody = Omit<CaseReport, 'id' | 'load' | 'seconds'>;

async function timed(id: CaseId, log: (line: string) => void, body: () => Promise<CaseBody>): Promise<CaseReport> {
  const before = load1();
  const started = performance.now();
  log(`▶ ${id} (load ${fmt(before, 2)})`);
  const result = await body();
  const seconds = (performance.now() - started) / 1_000;
  log(`✓ ${id} in ${fmt(seconds, 0)} s`);
  return { id, title: result.title, body: result.body, verdicts: result.verdicts, load: { before, after: load1() }, seconds };
}

export async function runBench(options: BenchOptions, log: (line: string) => void): Promise<string> {
  const startedAt = new Date();
  const started = performance.now();
  const loadStart = load1();
  const probe = createRedis({ url: options.redisUrl, role: 'consumer', name: 'bench-version' });
  const redis = await redisVersion(probe).finally(() => probe.disconnect());
  const reports: CaseReport[] = [];
  const want = (id: CaseId): boolean => options.only.has(id);

  if (want('reference')) reports.push(await timed('reference', log, () => referenceCase(options, log)));
  if (want('api')) reports.push(await timed('api', log, () => apiCase(options, log)));
  if (want('dispatch')) reports.push(await timed('dispatch', log, () => dispatchCase(options, log)));
  if (want('cost')) reports.push(await timed('cost', log, () => costCase(options, log)));
  if (want('restore') || want('memory')) {
    for (const report of await chromiumCases(options, log, timed)) reports.push(report);
  }
  if (want('latency')) reports.push(await timed('latency', log, () => latencyCase(options, log)));
  if (want('pool-memory') || want('pool-start') || want('pool-send') || want('media')) {
    for (const report of await poolCases(options, log, timed)) reports.push(report);
  }
  if (want('store')) reports.push(await timed('store', log, () => storeCase(options, log)));
  if (want('webhooks')) reports.push(await timed('webhooks', log, () => webhooksCase(options, log)));

  const m = machine();
  return renderReport(
    {
      startedAt,
      wallSeconds: (performance.now() - started) / 1_000,
      machine: `${m.cores} cores (${m.cpuModel}), ${fmt(m.memoryGiB, 1)} GiB memory, Linux ${m.kernel}.`,
      versions: [
        ['Node.js', process.version],
        ['Redis', redis],
        ['chromium-headless-shell', binaryVersion('/usr/bin/chromium-headless-shell')],
        ['chromium', binaryVersion('/usr/bin/chromium')],
        ['whatsapp-web.js', packageVersion('whatsapp-web.js')],
        ['bullmq', packageVersion('bullmq')],
        ['ioredis', packageVersion('ioredis')],
        ['express', packageVersion('express')],
        ['autocannon', packageVersion('autocannon')],
      ],
      reproduce: [
        '```sh',
        'npm run bench                                  # every case, writes docs/benchmarks.md (about 20 min on 2 cores)',
        `npm run bench -- --only=api,dispatch           # some cases (${CASE_IDS.join(', ')}), report to stdout`,
        'npm run bench -- --help                        # cases, flags and the BENCH_* sizes',
        'npm run bench -- --smoke                       # every case at tiny size, report to stdout (what the tests run)',
        `${COST_1M_COMMAND}   # the 1M held-sends point (about 45 min)`,
        '```',
        '',
        'Redis: `REDIS_URL` (default `redis://127.0.0.1:6379`), under a unique prefix deleted afterwards; the cost case starts its own',
        'throwaway `redis-server` (no persistence) so that `used_memory` counts only its keys. Chromium: Debian\'s',
        '`/usr/bin/chromium-headless-shell` and `/usr/bin/chromium`.',
      ].join('\n'),
      settings: describeOptions(options),
      loadStart,
      loadEnd: load1(),
    },
    reports,
  );
}
