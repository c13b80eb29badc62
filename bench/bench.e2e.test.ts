/**
 * Smoke run of the benchmarks that need Chromium and the simulator, at tiny size, so they cannot rot.
 * No timing or memory assertion: only that each case runs to the end and reports what it measured.
 */
import { describe, expect, it } from 'vitest';

import { runBench } from './bench.js';
import { parseOptions } from './lib/options.js';

const smoke = (only: string) => parseOptions(['--smoke', '--no-out', `--only=${only}`], { REDIS_URL: process.env['REDIS_URL'] });
const quiet = (): void => undefined;

describe('benchmarks with Chromium (smoke size)', () => {
  it('restore time and memory, waq vs plain whatsapp-web.js', { timeout: 240_000 }, async () => {
    const report = await runBench(smoke('restore,memory'), quiet);
    expect(report).toContain('## 3. Restore time');
    expect(report).toContain('## 4. Memory of one READY session');
    expect(report).toMatch(/memory: Node \+ Chromium tree \(PSS\) \| \d[\d,]* MB/);
  });

  it('end-to-end latency, pacing off and on', { timeout: 180_000 }, async () => {
    const report = await runBench(smoke('latency'), quiet);
    expect(report).toContain('## 5. End-to-end latency');
    expect(report).toContain('1000 ms + ≤ 500 ms');
  });

  it('many sessions in one worker: memory per session, cold start with and without the start limit, aggregate send rate; an image by URL', { timeout: 360_000 }, async () => {
    const report = await runBench(smoke('pool-memory,pool-start,pool-send,media'), quiet);
    expect(report).toContain('## 8. Memory per session, many sessions in one worker');
    expect(report).toMatch(/memory per READY session, N = \d+ in one worker \(PSS\) \| \d[\d,]* MB/);
    expect(report).toContain('## 9. Cold start of');
    expect(report).toMatch(/spawn → all \d+ sessions READY \| \d[\d,]* ms/);
    expect(report).toContain('## 10. Aggregate send rate');
    expect(report).toMatch(/aggregate send rate \| [\d.,]+ msg\/s/);
    expect(report).toContain('## 13. Sending an image by URL');
    expect(report).toMatch(/1 MB: time to the phone \| \d[\d,]* ms \| \d[\d,]* ms/);
  });
});
