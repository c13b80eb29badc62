/** The report's building blocks: each case returns a `CaseReport`; `renderReport` writes the markdown. */
import { fmt, fmtSummary, type Summary } from './stats.js';

export const CASE_IDS = ['reference', 'api', 'dispatch', 'cost', 'restore', 'memory', 'latency', 'pool-memory', 'pool-start', 'pool-send', 'store', 'webhooks', 'media'] as const;
export type CaseId = (typeof CASE_IDS)[number];

/** One line of the summary table: a measured ratio against its target. */
export interface Verdict {
  readonly metric: string;
  readonly waq: string;
  readonly baseline: string;
  /** waq / baseline, formatted. */
  readonly ratio: string;
  readonly target: string;
  /** undefined: no target (reported for information). */
  readonly met: boolean | undefined;
}

export interface CaseReport {
  readonly id: CaseId;
  readonly title: string;
  /** Markdown: method, tables, notes. */
  readonly body: string;
  readonly verdicts: readonly Verdict[];
  readonly load: { readonly before: number; readonly after: number };
  readonly seconds: number;
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export interface Comparison {
  readonly metric: string;
  readonly unit: string;
  readonly waq: Summary;
  readonly baseline: Summary;
  /** Throughput: true (ratio = waq/baseline should be high); time or memory: false. */
  readonly higherIsBetter: boolean;
  readonly digits?: number;
}

/** Ratio of the medians, waq / baseline. */
export function ratioOf(c: Pick<Comparison, 'waq' | 'baseline'>): number {
  return c.waq.median / c.baseline.median;
}

/** A table row `metric | waq | baseline | ratio` for a comparison. */
export function comparisonRow(c: Comparison): string[] {
  return [c.metric, `${fmtSummary(c.waq, c.digits)} ${c.unit}`, `${fmtSummary(c.baseline, c.digits)} ${c.unit}`, `${fmt(ratioOf(c), 2)}×`];
}

export function verdict(c: Comparison, target: { readonly text: string; readonly met: boolean } | undefined): Verdict {
  return {
    metric: c.metric,
    waq: `${fmt(c.waq.median, c.digits)} ${c.unit}`,
    baseline: `${fmt(c.baseline.median, c.digits)} ${c.unit}`,
    ratio: `${fmt(ratioOf(c), 2)}×`,
    target: target?.text ?? '—',
    met: target?.met,
  };
}

export interface ReportHeader {
  readonly startedAt: Date;
  readonly wallSeconds: number;
  readonly machine: string;
  readonly versions: readonly (readonly [string, string])[];
  readonly reproduce: string;
  readonly settings: string;
  readonly loadStart: number;
  readonly loadEnd: number;
}

const mark = (met: boolean | undefined): string => (met === undefined ? '—' : met ? '✅ met' : '❌ missed');

export function renderReport(header: ReportHeader, cases: readonly CaseReport[]): string {
  const summaryRows = cases.flatMap((c) => c.verdicts.map((v) => [c.title, v.metric, v.waq, v.baseline, v.ratio, v.target, mark(v.met)]));
  const parts = [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (bench/run.ts). Do not edit by hand: every figure below comes from the run that wrote this file. -->',
    '',
    `Run ${header.startedAt.toISOString()}, wall time ${fmt(header.wallSeconds / 60, 1)} min. Each case runs waq and its baseline in the same`,
    'process invocation on the same machine, alternating where the case repeats, and reports the median of the runs with min–max in',
    'parentheses. Ratios are waq / baseline of the medians. This machine is shared with other test runs: the 1-minute load average is',
    'given per case, and absolute figures are only comparable within one report.',
    '',
    '## Summary',
    '',
    table(['Case', 'Metric', 'waq', 'Baseline', 'Ratio', 'Target', 'Result'], summaryRows),
    '',
    '## Machine and versions',
    '',
    header.machine,
    '',
    table(['Component', 'Version'], header.versions),
    '',
    `1-minute load average: ${fmt(header.loadStart, 2)} at the start, ${fmt(header.loadEnd, 2)} at the end; per case below.`,
    '',
    '## How to reproduce',
    '',
    header.reproduce,
    '',
    'Settings of this run:',
    '',
    header.settings,
    '',
    ...cases.flatMap((c) => [
      `## ${c.title}`,
      '',
      `_Took ${fmt(c.seconds, 0)} s; load average ${fmt(c.load.before, 2)} → ${fmt(c.load.after, 2)}._`,
      '',
      c.body.trim(),
      '',
    ]),
  ];
  return `${parts.join('\n').trimEnd()}\n`;
}
