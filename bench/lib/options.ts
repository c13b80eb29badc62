/**
 * Benchmark sizes. Defaults are the full run (`npm run bench`, about 20 minutes on 2 cores); every size
 * can be changed by environment variable, and `--smoke` shrinks everything to seconds (the tests use it).
 *
 *   npm run bench [-- --only=api,dispatch] [-- --smoke] [-- --out=<file> | --no-out] [-- --help]
 *
 * Only a full run (every case, full size) writes docs/benchmarks.md unless told otherwise: a partial or
 * smoke run prints its report, so that it cannot replace the whole report with a part of it.
 */
import { CASE_IDS, type CaseId } from './report.js';

export interface BenchOptions {
  /** `--help`: print {@link usage} and run nothing. */
  readonly help: boolean;
  /** REDIS_URL: the Redis every case but `cost` uses (under a unique prefix). @defaultValue redis://127.0.0.1:6379 */
  readonly redisUrl: string;
  /** Where the report goes; undefined: not written. */
  readonly out: string | undefined;
  readonly only: ReadonlySet<CaseId>;
  readonly smoke: boolean;
  /** BENCH_RUNS: repetitions of each measurement (median of these). */
  readonly runs: number;
  readonly reference: {
    /** BENCH_SET_REQUESTS: redis-benchmark -n */
    readonly setRequests: number;
    /** BENCH_BULL_JOBS: jobs per BullMQ add / no-op worker run */
    readonly bullJobs: number;
  };
  readonly api: {
    /** BENCH_API_CONNECTIONS: autocannon -c */
    readonly connections: number;
    /** BENCH_API_DURATION_S: autocannon -d, per run */
    readonly durationS: number;
  };
  readonly dispatch: {
    /** BENCH_DISPATCH_JOBS: jobs per dispatch run */
    readonly jobs: number;
    /** BENCH_BACKLOG: held sends drained after READY (order checked) */
    readonly backlog: number;
  };
  readonly cost: {
    /** BENCH_COST_SIZES: comma-separated numbers of held sends */
    readonly sizes: readonly number[];
    /** BENCH_FILL_CONCURRENCY: producer.send calls in flight while filling */
    readonly fillConcurrency: number;
  };
  /** BENCH_RESTORE_RUNS: start → READY measurements per side */
  readonly restoreRuns: number;
  /** BENCH_MEMORY_RUNS: PSS measurements per launch variant */
  readonly memoryRuns: number;
  readonly latency: {
    /** BENCH_LATENCY_COUNT: messages per mode with pacing disabled */
    readonly count: number;
    /** BENCH_LATENCY_PACED_COUNT: messages per mode with the default pacing (about 1.25 s each) */
    readonly pacedCount: number;
  };
  /** The many-sessions cases (pool-memory, pool-start, pool-send): one worker running N sessions. */
  readonly pool: {
    /** BENCH_POOL_SIZES: comma-separated session counts N of the memory case (the largest also with the consolidated launch) */
    readonly sizes: readonly number[];
    /** BENCH_POOL_MEMORY_RUNS: PSS measurements per variant and N */
    readonly memoryRuns: number;
    /** BENCH_POOL_SESSIONS: sessions of the cold-start and send-rate cases */
    readonly sessions: number;
    /** BENCH_POOL_START_LIMIT: WORKER_START_CONCURRENCY of the limited cold start (the other starts all at once) */
    readonly startLimit: number;
    /** BENCH_POOL_SENDS: sends per session per send-rate run */
    readonly sends: number;
  };
  /** The session-store case: backup and restore through Redis of the simulator's profile and padded copies. */
  readonly store: {
    /** BENCH_STORE_SIZES_MB: comma-separated IndexedDB sizes the padded profiles are filled to; the restore target is judged at the first */
    readonly sizesMB: readonly number[];
    /** BENCH_STORE_RUNS: backups and restores per side and profile */
    readonly runs: number;
  };
  /** The media case: sending an image by URL through waq against a plain whatsapp-web.js script. */
  readonly media: {
    /** BENCH_MEDIA_SIZES_MB: comma-separated image sizes */
    readonly sizesMB: readonly number[];
    /** BENCH_MEDIA_RUNS: sends per side and size */
    readonly runs: number;
  };
  /** The webhooks case: delivery throughput and added latency against a plain fetch loop. */
  readonly webhooks: {
    /** BENCH_WEBHOOK_EVENTS: events per throughput run */
    readonly events: number;
    /** BENCH_WEBHOOK_LATENCY_EVENTS: events one at a time per latency run */
    readonly latencyEvents: number;
  };
}

const FULL = {
  runs: 3,
  reference: { setRequests: 100_000, bullJobs: 5_000 },
  api: { connections: 50, durationS: 10 },
  dispatch: { jobs: 3_000, backlog: 10_000 },
  cost: { sizes: [10_000, 100_000], fillConcurrency: 64 },
  restoreRuns: 5,
  memoryRuns: 3,
  latency: { count: 50, pacedCount: 8 },
  pool: { sizes: [1, 5, 10], memoryRuns: 2, sessions: 10, startLimit: 2, sends: 200 },
  store: { sizesMB: [50, 200], runs: 5 },
  webhooks: { events: 2_000, latencyEvents: 100 },
  media: { sizesMB: [1, 16], runs: 3 },
};

const SMOKE: typeof FULL = {
  runs: 1,
  reference: { setRequests: 200, bullJobs: 50 },
  api: { connections: 2, durationS: 1 },
  dispatch: { jobs: 30, backlog: 30 },
  cost: { sizes: [20], fillConcurrency: 4 },
  restoreRuns: 1,
  memoryRuns: 1,
  latency: { count: 2, pacedCount: 1 },
  // startLimit 1 of 2 sessions: the limited start still differs from the unlimited one.
  pool: { sizes: [2], memoryRuns: 1, sessions: 2, startLimit: 1, sends: 5 },
  store: { sizesMB: [4, 8], runs: 1 },
  webhooks: { events: 50, latencyEvents: 5 },
  media: { sizesMB: [1], runs: 1 },
};

function int(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${raw}: expected a positive integer`);
  return value;
}

function ints(env: Readonly<Record<string, string | undefined>>, name: string, fallback: readonly number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw === '') return [...fallback];
  return raw.split(',').map((part) => int({ [name]: part.trim() }, name, 0));
}

/** What `npm run bench -- --help` prints. */
export function usage(): string {
  const variables: [string, string][] = [
    ['REDIS_URL', 'the Redis of every case but cost (unique prefix, deleted after)'],
    ['BENCH_RUNS', `repetitions of each measurement (${FULL.runs})`],
    ['BENCH_SET_REQUESTS', `reference: redis-benchmark -n (${FULL.reference.setRequests})`],
    ['BENCH_BULL_JOBS', `reference: jobs per BullMQ run (${FULL.reference.bullJobs})`],
    ['BENCH_API_CONNECTIONS', `api: autocannon -c (${FULL.api.connections})`],
    ['BENCH_API_DURATION_S', `api: autocannon -d per run (${FULL.api.durationS})`],
    ['BENCH_DISPATCH_JOBS', `dispatch: jobs per run (${FULL.dispatch.jobs})`],
    ['BENCH_BACKLOG', `dispatch: held sends drained after READY (${FULL.dispatch.backlog})`],
    ['BENCH_COST_SIZES', `cost: held sends, comma-separated (${FULL.cost.sizes.join(',')})`],
    ['BENCH_FILL_CONCURRENCY', `producer calls in flight while filling (${FULL.cost.fillConcurrency})`],
    ['BENCH_RESTORE_RUNS', `restore: start → READY per side (${FULL.restoreRuns})`],
    ['BENCH_MEMORY_RUNS', `memory: PSS measurements per variant (${FULL.memoryRuns})`],
    ['BENCH_LATENCY_COUNT', `latency: messages per mode, pacing off (${FULL.latency.count})`],
    ['BENCH_LATENCY_PACED_COUNT', `latency: messages per mode, default pacing (${FULL.latency.pacedCount})`],
    ['BENCH_POOL_SIZES', `pool-memory: sessions N in one worker, comma-separated; the largest also with the consolidated launch (${FULL.pool.sizes.join(',')})`],
    ['BENCH_POOL_MEMORY_RUNS', `pool-memory: PSS measurements per variant and N (${FULL.pool.memoryRuns})`],
    ['BENCH_POOL_SESSIONS', `pool-start, pool-send: sessions in the worker (${FULL.pool.sessions})`],
    ['BENCH_POOL_START_LIMIT', `pool-start: WORKER_START_CONCURRENCY of the limited start (${FULL.pool.startLimit})`],
    ['BENCH_POOL_SENDS', `pool-send: sends per session per run (${FULL.pool.sends})`],
    ['BENCH_STORE_SIZES_MB', `store: IndexedDB sizes of the padded profiles, comma-separated; the restore target is judged at the first (${FULL.store.sizesMB.join(',')})`],
    ['BENCH_STORE_RUNS', `store: backups and restores per side and profile (${FULL.store.runs})`],
    ['BENCH_WEBHOOK_EVENTS', `webhooks: events per throughput run (${FULL.webhooks.events})`],
    ['BENCH_WEBHOOK_LATENCY_EVENTS', `webhooks: events one at a time per latency run (${FULL.webhooks.latencyEvents})`],
    ['BENCH_MEDIA_SIZES_MB', `media: image sizes, comma-separated (${FULL.media.sizesMB.join(',')})`],
    ['BENCH_MEDIA_RUNS', `media: sends per side and size (${FULL.media.runs})`],
  ];
  const width = Math.max(...variables.map(([name]) => name.length));
  return [
    'npm run bench [-- options]',
    '',
    '  --only=<ids>   comma-separated cases (report to stdout unless --out): ' + CASE_IDS.join(', '),
    '  --smoke        every size tiny (what the smoke tests run), report to stdout',
    '  --out=<file>   write the report there (a full run writes docs/benchmarks.md)',
    '  --no-out       print the report instead of writing it',
    '  --help         this text',
    '',
    'Sizes (environment; full-run default in parentheses):',
    ...variables.map(([name, text]) => `  ${name.padEnd(width)}  ${text}`),
    '',
  ].join('\n');
}

/** Reads `--smoke`, `--only=a,b`, `--out=path` (or `--no-out`) and the BENCH_* variables; `help` for `--help`. */
export function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): BenchOptions {
  let smoke = false;
  let only: CaseId[] = [...CASE_IDS];
  let out: string | null | undefined;
  let help = false;
  for (const arg of argv) {
    if (arg === '--smoke') smoke = true;
    else if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--no-out') out = null;
    else if (arg.startsWith('--out=')) out = arg.slice('--out='.length);
    else if (arg.startsWith('--only=')) {
      const wanted = arg.slice('--only='.length).split(',').map((s) => s.trim());
      const unknown = wanted.filter((id) => !(CASE_IDS as readonly string[]).includes(id));
      if (unknown.length > 0) throw new Error(`--only: unknown case ${unknown.join(', ')} (cases: ${CASE_IDS.join(', ')})`);
      only = wanted as CaseId[];
    } else throw new Error(`unknown argument ${arg} (use --smoke, --only=${CASE_IDS.join(',')}, --out=<file>, --no-out, --help)`);
  }
  const base = smoke ? SMOKE : FULL;
  const full = !smoke && only.length === CASE_IDS.length;
  const pool = {
    sizes: ints(env, 'BENCH_POOL_SIZES', base.pool.sizes),
    memoryRuns: int(env, 'BENCH_POOL_MEMORY_RUNS', base.pool.memoryRuns),
    sessions: int(env, 'BENCH_POOL_SESSIONS', base.pool.sessions),
    startLimit: int(env, 'BENCH_POOL_START_LIMIT', base.pool.startLimit),
    sends: int(env, 'BENCH_POOL_SENDS', base.pool.sends),
  };
  return {
    help,
    redisUrl: env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    out: out === undefined ? (full ? 'docs/benchmarks.md' : undefined) : (out ?? undefined),
    only: new Set(only),
    smoke,
    runs: int(env, 'BENCH_RUNS', base.runs),
    reference: { setRequests: int(env, 'BENCH_SET_REQUESTS', base.reference.setRequests), bullJobs: int(env, 'BENCH_BULL_JOBS', base.reference.bullJobs) },
    api: { connections: int(env, 'BENCH_API_CONNECTIONS', base.api.connections), durationS: int(env, 'BENCH_API_DURATION_S', base.api.durationS) },
    dispatch: { jobs: int(env, 'BENCH_DISPATCH_JOBS', base.dispatch.jobs), backlog: int(env, 'BENCH_BACKLOG', base.dispatch.backlog) },
    cost: { sizes: ints(env, 'BENCH_COST_SIZES', base.cost.sizes), fillConcurrency: int(env, 'BENCH_FILL_CONCURRENCY', base.cost.fillConcurrency) },
    restoreRuns: int(env, 'BENCH_RESTORE_RUNS', base.restoreRuns),
    memoryRuns: int(env, 'BENCH_MEMORY_RUNS', base.memoryRuns),
    latency: { count: int(env, 'BENCH_LATENCY_COUNT', base.latency.count), pacedCount: int(env, 'BENCH_LATENCY_PACED_COUNT', base.latency.pacedCount) },
    pool,
    store: { sizesMB: ints(env, 'BENCH_STORE_SIZES_MB', base.store.sizesMB), runs: int(env, 'BENCH_STORE_RUNS', base.store.runs) },
    webhooks: { events: int(env, 'BENCH_WEBHOOK_EVENTS', base.webhooks.events), latencyEvents: int(env, 'BENCH_WEBHOOK_LATENCY_EVENTS', base.webhooks.latencyEvents) },
    media: { sizesMB: ints(env, 'BENCH_MEDIA_SIZES_MB', base.media.sizesMB), runs: int(env, 'BENCH_MEDIA_RUNS', base.media.runs) },
  };
}

/** The settings as a markdown list, for the report. */
export function describeOptions(o: BenchOptions): string {
  return [
    `- \`BENCH_RUNS=${o.runs}\` runs per measurement${o.smoke ? ' (`--smoke`)' : ''}`,
    `- reference: \`BENCH_SET_REQUESTS=${o.reference.setRequests}\`, \`BENCH_BULL_JOBS=${o.reference.bullJobs}\``,
    `- API: \`BENCH_API_CONNECTIONS=${o.api.connections}\`, \`BENCH_API_DURATION_S=${o.api.durationS}\``,
    `- dispatch: \`BENCH_DISPATCH_JOBS=${o.dispatch.jobs}\`, \`BENCH_BACKLOG=${o.dispatch.backlog}\``,
    `- cost: \`BENCH_COST_SIZES=${o.cost.sizes.join(',')}\`, \`BENCH_FILL_CONCURRENCY=${o.cost.fillConcurrency}\``,
    `- restore / memory: \`BENCH_RESTORE_RUNS=${o.restoreRuns}\`, \`BENCH_MEMORY_RUNS=${o.memoryRuns}\``,
    `- latency: \`BENCH_LATENCY_COUNT=${o.latency.count}\`, \`BENCH_LATENCY_PACED_COUNT=${o.latency.pacedCount}\``,
    `- many sessions: \`BENCH_POOL_SIZES=${o.pool.sizes.join(',')}\`, \`BENCH_POOL_MEMORY_RUNS=${o.pool.memoryRuns}\`, \`BENCH_POOL_SESSIONS=${o.pool.sessions}\`, \`BENCH_POOL_START_LIMIT=${o.pool.startLimit}\`, \`BENCH_POOL_SENDS=${o.pool.sends}\``,
    `- session store: \`BENCH_STORE_SIZES_MB=${o.store.sizesMB.join(',')}\`, \`BENCH_STORE_RUNS=${o.store.runs}\``,
    `- webhooks: \`BENCH_WEBHOOK_EVENTS=${o.webhooks.events}\`, \`BENCH_WEBHOOK_LATENCY_EVENTS=${o.webhooks.latencyEvents}\``,
    `- media: \`BENCH_MEDIA_SIZES_MB=${o.media.sizesMB.join(',')}\`, \`BENCH_MEDIA_RUNS=${o.media.runs}\``,
  ].join('\n');
}
