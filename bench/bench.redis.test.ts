/**
 * Smoke run of the Redis-only benchmarks at tiny size, so they cannot rot. No timing assertion: the
 * figures are not checked, only that each case runs to the end and reports what it measured.
 */
import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { runBench } from './bench.js';
import { parseOptions } from './lib/options.js';

const has = (binary: string): boolean => spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
const smoke = (only: string) => parseOptions(['--smoke', '--no-out', `--only=${only}`], { REDIS_URL: process.env['REDIS_URL'] });
const quiet = (): void => undefined;

describe('benchmarks (smoke size)', () => {
  it.skipIf(!has('redis-benchmark'))('physical reference', { timeout: 60_000 }, async () => {
    const report = await runBench(smoke('reference'), quiet);
    expect(report).toContain('## 7. Physical reference');
    expect(report).toContain('BullMQ no-op worker');
  });

  it('API ingest against the bare-route baseline', { timeout: 90_000 }, async () => {
    const report = await runBench(smoke('api'), quiet);
    expect(report).toContain('## 1. API ingest');
    expect(report).toMatch(/POST \/v1\/messages throughput \| [\d,.]+ req\/s/);
  });

  it('worker dispatch and the held backlog, in order', { timeout: 90_000 }, async () => {
    const report = await runBench(smoke('dispatch'), quiet);
    expect(report).toContain('## 2. Worker dispatch');
    expect(report).toContain('received once, in acceptance order');
  });

  it.skipIf(!has('redis-server'))('cost as work grows, on a throwaway redis-server', { timeout: 90_000 }, async () => {
    const report = await runBench(smoke('cost'), quiet);
    expect(report).toContain('## 6. Cost as work grows');
    expect(report).not.toContain('FAILED');
  });
});
