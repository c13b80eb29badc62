import { describe, expect, it } from 'vitest';

import { parseOptions } from './options.js';
import { percentile, summarize } from './stats.js';

describe('benchmark statistics', () => {
  it('summarises with the median of the middle two for an even count', () => {
    expect(summarize([4, 1, 3, 2])).toMatchObject({ median: 2.5, min: 1, max: 4 });
    expect(summarize([5, 1, 3]).median).toBe(3);
  });

  it('takes nearest-rank percentiles, so p99 of a few samples is the maximum', () => {
    const values = Array.from({ length: 50 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(25);
    expect(percentile(values, 99)).toBe(50);
  });
});

describe('benchmark options', () => {
  it('reads sizes from BENCH_* variables and cases from --only', () => {
    const options = parseOptions(['--only=cost,api', '--no-out'], { BENCH_COST_SIZES: '10000,1000000', BENCH_RUNS: '5' });
    expect([...options.only]).toEqual(['cost', 'api']);
    expect(options.cost.sizes).toEqual([10_000, 1_000_000]);
    expect(options.runs).toBe(5);
    expect(options.out).toBeUndefined();
  });

  it('writes docs/benchmarks.md only for a full run, unless told where', () => {
    expect(parseOptions([], {}).out).toBe('docs/benchmarks.md');
    expect(parseOptions(['--no-out'], {}).out).toBeUndefined();
    expect(parseOptions(['--only=api'], {}).out).toBeUndefined();
    expect(parseOptions(['--smoke'], {}).out).toBeUndefined();
    expect(parseOptions(['--only=cost', '--out=docs/benchmarks-cost-1m.md'], {}).out).toBe('docs/benchmarks-cost-1m.md');
  });

  it('names the mistake in a bad argument or variable', () => {
    expect(() => parseOptions(['--only=apis'], {})).toThrow(/unknown case apis/);
    expect(() => parseOptions([], { BENCH_RUNS: 'three' })).toThrow(/BENCH_RUNS=three/);
  });
});
