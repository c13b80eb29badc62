/**
 * Smoke run of the Redis-only benchmarks at tiny size, so they cannot rot (the session store's pairs one
 * simulator session in Chromium for its profile first). No timing assertion: the figures are not
 * checked, only that each case runs to the end and reports what it measured.
 */
import { describe, expect, it } from 'vitest';

import { runBench } from './bench.js';
import { parseOptions } from './lib/options.js';

const smoke = (only: string) => parseOptions(['--smoke', '--no-out', `--only=${only}`], { REDIS_URL: process.env['REDIS_URL'] });
const quiet = (): void => undefined;

describe('benchmarks (smoke size)', () => {
  it('physical reference', { timeout: 60_000 }, async () => {
    const report = await runBench(smoke('reference'), quiet);
    expect(report).toContain('## 7. Physical reference');
    expect(report).toContain('BullMQ no-op worker');
  });

  it('API ingest against the bare-route baseline', { timeout: 90_000 }, async () => {
    const report = await runBench(smoke('api'), quiet);
    expect(report).toContain('## 1. API ingest');
    expect(report).toMatch(/POST \/v1\/messages throughput \| [\d,.]+ req\/s/);
    // The commands per send, counted with MONITOR (bench/lib/monitor.ts) on a throwaway redis-server.
    expect(report).toMatch(/^\| \*\*all sent by the API\*\* \| \*\*\d+\.\d{3}\*\* \| \*\*\d+\.\d{3}\*\* \|$/m);
  });

  it('worker dispatch and the held backlog, in order', { timeout: 90_000 }, async () => {
    const report = await runBench(smoke('dispatch'), quiet);
    expect(report).toContain('## 2. Worker dispatch');
    expect(report).toContain('received once, in acceptance order');
  });

  it('cost as work grows, on a throwaway redis-server', { timeout: 90_000 }, async () => {
    const report = await runBench(smoke('cost'), quiet);
    expect(report).toContain('## 6. Cost as work grows');
    expect(report).not.toContain('FAILED');
  });

  // The simulator's profile comes from a real pairing in Chromium (a few seconds); the rest is Redis and the disk.
  it('session store: backup and restore of each profile through Redis against RemoteAuth to a local file', { timeout: 90_000 }, async () => {
    const options = smoke('store');
    const report = await runBench(options, quiet);
    expect(report).toContain('## 11. Session store');
    const [first] = options.store.sizesMB;
    for (const profile of ['simulator', ...options.store.sizesMB.map((size) => `${size} MB`)]) {
      // Backup and restore rows: waq, RemoteAuth, tar.gz file (ms each), then both ratios.
      expect(report.match(new RegExp(`^\\| ${profile} \\| [\\d,]+ ms \\| [\\d,]+ ms \\| [\\d,]+ ms \\| [\\d.]+× \\| [\\d.]+× \\|$`, 'gm'))).toHaveLength(2);
    }
    expect(report).toMatch(new RegExp(`\\| restore on takeover, ${first} MB profile \\| [\\d,]+ ms \\| [\\d,]+ ms \\(RemoteAuth zip, local file\\) \\| [\\d.]+× \\| < 2× \\| (✅ met|❌ missed) \\|`));
    expect(report).toMatch(/Redis memory per session, \d+ MB profile \(current \+ previous backup\) \| [\d.,]+ MB/);
  });

  it('webhook deliveries against a plain fetch loop', { timeout: 90_000 }, async () => {
    const report = await runBench(smoke('webhooks'), quiet);
    expect(report).toContain('## 12. Webhook deliveries');
    expect(report).toMatch(/\| 12\. Webhook deliveries \| deliveries, a burst of events \| [\d,.]+ deliveries\/s \| [\d,.]+ deliveries\/s \| [\d.]+× \|/);
    expect(report).toMatch(/\| 12\. Webhook deliveries \| event → receiver handler, one at a time \(p50 of each run\) \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+× \|/);
  });
});
