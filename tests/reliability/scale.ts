/**
 * Counts and the figures every scenario prints.
 *
 * Full counts (the issue's 1,000 messages, 10,000 fuzz requests) run unless `CI=true`; under CI the
 * suite uses scaled-down counts to stay within its time budget, and `WAQ_RELIABILITY_FULL=1` forces the
 * full ones there too. docs/reliability.md reports both.
 */
import { appendFileSync } from 'node:fs';

export const FULL = process.env['CI'] !== 'true' || process.env['WAQ_RELIABILITY_FULL'] === '1';

/** `ci` under CI, `full` otherwise. */
export function scale(ci: number, full: number): number {
  return FULL ? full : ci;
}

export interface Figures {
  readonly scenario: string;
  readonly load: string;
  readonly faults: string;
  readonly lost: number | string;
  readonly duplicated: number | string;
  /** Time to recover, or what was measured instead (e.g. the worst latency while Redis was down). */
  readonly recovery: string;
  readonly notes?: string;
}

/** Prints one row of the report; with `WAQ_RELIABILITY_REPORT=<file>` also appends it there as JSON. */
export function report(figures: Figures): void {
  const row = { ...figures, scale: FULL ? 'full' : 'ci', at: new Date().toISOString() };
  console.info(`[reliability] ${figures.scenario} | load: ${figures.load} | faults: ${figures.faults} | lost: ${figures.lost} | duplicated: ${figures.duplicated} | recovery: ${figures.recovery}${figures.notes ? ` | ${figures.notes}` : ''}`);
  const file = process.env['WAQ_RELIABILITY_REPORT'];
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}

export function seconds(ms: number): string {
  return `${(ms / 1_000).toFixed(1)} s`;
}
