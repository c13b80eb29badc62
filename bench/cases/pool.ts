/**
 * 8. Memory per session, 9. cold start and 10. aggregate send rate of many sessions in ONE worker
 * (issue 15), with the real stack: the production build of the worker (`node apps/worker/dist/main.js`,
 * WAQ_SANDBOX=1) running N registry sessions, each with its own chromium-headless-shell, LocalAuth
 * profile and simulated account (`phoneServer.account(id)`), against the offline simulator.
 *
 * Baseline of the memory case: N plain whatsapp-web.js Clients with the library's default launch
 * (`/usr/bin/chromium`, new headless, only the simulator's offline flags) in one Node process
 * (bench/wwebjs-client.ts), each on its own simulated account. The cold-start and send-rate cases
 * compare the worker with itself in the same run (start limit against none; ten sessions against one).
 *
 * Every profile is paired once here (not measured); every start after that restores without a QR.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';

import { createProducer, createRedis, decodeState, type Producer, type RedisClient, sessionKeys, SessionRegistry, type SessionState } from '@waq/shared';
import { startPhoneServer, type PhoneServer } from '@waq/wa-sim';

import { NO_PACING } from '../lib/held.js';
import { spawnCompiled, type NodeChild } from '../lib/child.js';
import type { BenchOptions } from '../lib/options.js';
import { cpuTimeMs, MB, processTree } from '../lib/processes.js';
import { benchPrefix, deletePrefix, freePort } from '../lib/redis.js';
import { table, type CaseId, type CaseReport, type Verdict } from '../lib/report.js';
import { fmt, fmtSummary, pollUntil, sleep, summarize, type Summary } from '../lib/stats.js';
import { compileMeasuredPrograms, killLeftovers, OUTSIDER_WAIT_MS, PLAIN_CLIENT, PROBE_SENDS, PROBE_TO, sampleTree, SETTLE_MS, WORKER_MAIN, type MemorySample } from '../lib/tree-memory.js';
import { CHROMIUM, CONSOLIDATING_FLAGS, privateHeadlessShell, type PrivateShell } from '../lib/chromium-launch.js';
import { privateShellNote } from './chromium.js';
import { mediaCase } from './media.js';

export type CaseBody = Omit<CaseReport, 'id' | 'load' | 'seconds'>;
type Timed = (id: CaseId, log: (line: string) => void, body: () => Promise<CaseBody>) => Promise<CaseReport>;

/** The simulator's delay between the acks sent → delivered → read: small, so acks never hold a send back. */
const ACK_DELAY_MS = 10;
/** The send-rate case's network regime: how long the simulator takes to acknowledge a send (ack 1). */
const NETWORK_RTT_MS = 100;
/** Time a worker or client process gets to bring one more session to READY (2 cores, Chromiums starting together). */
const PER_SESSION_START_MS = 15_000;

/** Everything the three cases share: one phone server, one Redis prefix (the registry) and the paired profiles. */
/** The lab's process helpers, for the cases that run in it from other files. */
export interface PoolTools {
  readonly spawnWorker: typeof spawnWorker;
  readonly spawnPlainClients: typeof spawnPlainClients;
  readonly readyTimes: typeof readyTimes;
}

export interface PoolLab {
  readonly dir: string;
  readonly phone: PhoneServer;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly redis: RedisClient;
  readonly registry: SessionRegistry;
  readonly producer: Producer;
  /** waq's SESSION_DIR and WWEBJS_CACHE_DIR (sandbox profiles live under `<dir>/sandbox`). */
  readonly sessionRoot: string;
  readonly cacheRoot: string;
  /** The waq sessions, each on the simulated account of its own id. */
  readonly ids: readonly string[];
  /** The plain clients' LocalAuth clientIds, each on the simulated account of its own id. */
  readonly baseIds: readonly string[];
  readonly baseDataPath: string;
  readonly baseCacheRoot: string;
  /** The chromium-headless-shell every waq start runs (CHROMIUM_PATH): a private copy, and its consolidated launch. */
  readonly shell: PrivateShell;
}

const sessionIds = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(2, '0')}`);
const sentCount = (lab: PoolLab, account: string): number => lab.phone.account(account).snapshot().sentCount;

export async function poolCases(options: BenchOptions, log: (line: string) => void, timed: Timed): Promise<CaseReport[]> {
  const want = (id: CaseId): boolean => options.only.has(id);
  const memorySizes = want('pool-memory') ? options.pool.sizes : [];
  const others = [...(want('pool-start') || want('pool-send') ? [options.pool.sessions] : []), ...(want('media') ? [1] : [])];
  const n = Math.max(...memorySizes, ...others);
  const dir = await mkdtemp(path.join(tmpdir(), 'waq-bench-pool-'));
  const phone = await startPhoneServer({ ackDelayMs: ACK_DELAY_MS });
  const prefix = benchPrefix('pool');
  const redis = createRedis({ url: options.redisUrl, role: 'consumer', name: 'bench-pool' });
  const producerRedis = createRedis({ url: options.redisUrl, role: 'producer', name: 'bench-pool-producer' });
  const producer = createProducer({ redis: producerRedis, prefix });
  const lab: PoolLab = {
    dir,
    phone,
    redisUrl: options.redisUrl,
    prefix,
    redis,
    registry: new SessionRegistry(redis, prefix),
    producer,
    sessionRoot: path.join(dir, 'waq-sessions'),
    cacheRoot: path.join(dir, 'waq-cache'),
    ids: sessionIds('pool', n),
    baseIds: sessionIds('base', Math.max(0, ...memorySizes, ...(want('media') ? [1] : []))),
    baseDataPath: path.join(dir, 'base-auth'),
    baseCacheRoot: path.join(dir, 'base-cache'),
    shell: await privateHeadlessShell(path.join(dir, 'private-chromium')),
  };
  const reports: CaseReport[] = [];
  try {
    await compileMeasuredPrograms();
    // The registry as an installation that has many sessions: the configured one (`default`, seeded
    // as a worker would) stopped, N sessions created, as POST /v1/sessions does.
    await lab.registry.seed('default');
    await lab.registry.update('default', { desired: 'stopped' });
    for (const id of lab.ids) await lab.registry.create(id);
    await pairWaq(lab, log);
    if (lab.baseIds.length > 0) await pairBaseline(lab, log);
    if (want('pool-memory')) reports.push(await timed('pool-memory', log, () => memoryCase(lab, options, log)));
    if (want('pool-start')) reports.push(await timed('pool-start', log, () => startCase(lab, options, log)));
    if (want('pool-send')) reports.push(await timed('pool-send', log, () => sendCase(lab, options, log)));
    if (want('media')) reports.push(await timed('media', log, () => mediaCase(lab, { spawnWorker, spawnPlainClients, readyTimes }, options, log)));
  } finally {
    await producer.close();
    await producerRedis.quit().catch(() => producerRedis.disconnect());
    await phone.close();
    await deletePrefix(redis, prefix);
    await redis.quit().catch(() => redis.disconnect());
    await rm(dir, { recursive: true, force: true });
  }
  return reports;
}

// ------------------------------------------------------------------ the worker

export interface PoolWorker {
  readonly child: NodeChild;
  /** Date.now() just before the spawn. */
  readonly spawnedAt: number;
  stop(): Promise<void>;
}

/** Starts the production worker with `running` wanted running (every other lab session stopped). */
export async function spawnWorker(lab: PoolLab, running: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<PoolWorker> {
  for (const id of lab.ids) await lab.registry.update(id, { desired: running.includes(id) ? 'running' : 'stopped' });
  const port = await freePort();
  const spawnedAt = Date.now();
  const child = await spawnCompiled(WORKER_MAIN, [], {
    env: {
      ...process.env,
      WAQ_SANDBOX: '1',
      WAQ_SIM_URL: lab.phone.url,
      REDIS_URL: lab.redisUrl,
      WAQ_PREFIX: lab.prefix,
      SESSION_DIR: lab.sessionRoot,
      WWEBJS_CACHE_DIR: lab.cacheRoot,
      WORKER_HOST: '127.0.0.1',
      WORKER_PORT: String(port),
      WORKER_MAX_SESSIONS: String(lab.ids.length),
      CHROMIUM_PATH: lab.shell.path,
      ...NO_PACING,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      ...env,
    },
  });
  let stopping: Promise<void> | undefined;
  return {
    child,
    spawnedAt,
    stop() {
      stopping ??= (async () => {
        const tree = processTree(child.pid).filter((pid) => pid !== child.pid);
        await child.stop(30_000);
        killLeftovers(tree);
      })();
      return stopping;
    },
  };
}

async function states(lab: PoolLab, ids: readonly string[]): Promise<(SessionState | null)[]> {
  const raw = await lab.redis.mget(...ids.map((id) => sessionKeys({ prefix: lab.prefix, sessionId: id }).state));
  return raw.map((value) => decodeState(value));
}

/**
 * Waits until every session of `ids` published READY at or after `since` (ms since epoch); returns each
 * one's READY time (the `since` of the state the worker published). Throws when one shows a QR: its
 * saved session was not restored.
 */
export async function readyTimes(lab: PoolLab, ids: readonly string[], since: number, timeoutMs: number): Promise<number[]> {
  let times: number[] = [];
  await pollUntil(
    async () => {
      const now = await states(lab, ids);
      const qr = now.findIndex((s) => s?.status === 'QR');
      if (qr >= 0) throw new Error(`session ${ids[qr]} shows a QR code: its saved session was not restored`);
      const ready = now.map((s) => (s?.status === 'READY' && Date.parse(s.since) >= since - 1 ? Date.parse(s.since) : NaN));
      times = ready;
      return ready.every((t) => !Number.isNaN(t));
    },
    { timeoutMs, intervalMs: 20, what: `${ids.length} sessions to reach READY` },
  );
  return times;
}

/** Pairs every lab session once (not measured): connect, QR, its own simulated phone scans, READY. */
async function pairWaq(lab: PoolLab, log: (line: string) => void): Promise<void> {
  const worker = await spawnWorker(lab, lab.ids, { WORKER_START_CONCURRENCY: String(lab.ids.length) });
  try {
    for (const id of lab.ids) await lab.producer.session(id).connect('bench');
    const scanned = new Set<string>();
    await pollUntil(
      async () => {
        const now = await states(lab, lab.ids);
        for (const [i, state] of now.entries()) {
          const id = lab.ids[i]!;
          if (state?.status !== 'QR' || scanned.has(id)) continue;
          try {
            lab.phone.account(id).scan();
            scanned.add(id);
          } catch {
            // the QR was replaced meanwhile: scanned on a later look
          }
        }
        return now.every((s) => s?.status === 'READY');
      },
      { timeoutMs: 60_000 + lab.ids.length * PER_SESSION_START_MS, intervalMs: 50, what: `${lab.ids.length} waq sessions to pair` },
    );
  } finally {
    await worker.stop();
  }
  log(`pool: ${lab.ids.length} waq sessions paired`);
}

// ------------------------------------------------------------------ the plain clients

export interface PlainClients {
  readonly child: NodeChild;
  stop(): Promise<void>;
}

/** N plain whatsapp-web.js clients in one Node process, each on its own account; resolves once all are ready. */
export async function spawnPlainClients(lab: PoolLab, n: number): Promise<PlainClients> {
  const ids = lab.baseIds.slice(0, n);
  const config = {
    dataPath: lab.baseDataPath,
    chromiumPath: CHROMIUM,
    extraArgs: [],
    to: PROBE_TO,
    clients: ids.map((id) => ({ clientId: id, phoneUrl: lab.phone.accountUrl(id), cacheDir: path.join(lab.baseCacheRoot, id) })),
  };
  const child = await spawnCompiled(PLAIN_CLIENT, [JSON.stringify(config)]);
  const stop = async (): Promise<void> => {
    const tree = processTree(child.pid).filter((pid) => pid !== child.pid);
    await child.stop(30_000);
    killLeftovers(tree);
  };
  // Unpaired (first start): each client's own phone scans its QR.
  child.onLine((line) => {
    if (line['event'] !== 'qr' || typeof line['clientId'] !== 'string') return;
    try {
      lab.phone.account(line['clientId']).scan();
    } catch {
      // no QR on screen any more: the next one is scanned
    }
  });
  try {
    await child.waitForLine((l) => l['event'] === 'ready', 60_000 + n * PER_SESSION_START_MS, `${n} plain clients ready`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, stop };
}

async function pairBaseline(lab: PoolLab, log: (line: string) => void): Promise<void> {
  const clients = await spawnPlainClients(lab, lab.baseIds.length);
  await clients.stop();
  log(`pool: ${lab.baseIds.length} plain clients paired`);
}

// ------------------------------------------------------------------ 8. memory per session

type MemoryVariant = 'waq' | 'consolidated' | 'base';

const VARIANT_LABELS: Record<MemoryVariant, string> = {
  waq: 'waq worker (sandbox mode, production flags)',
  consolidated: 'waq worker, consolidated launch',
  base: 'plain whatsapp-web.js clients, default launch (baseline)',
};

/** Sends PROBE_SENDS per session and waits until each session's phone has them. */
async function probeWaq(lab: PoolLab, ids: readonly string[]): Promise<void> {
  const before = ids.map((id) => sentCount(lab, id));
  await Promise.all(ids.map(async (id) => {
    for (let i = 0; i < PROBE_SENDS; i++) await lab.producer.session(id).send({ to: `+${PROBE_TO}`, text: `memory probe ${i}` });
  }));
  await pollUntil(() => ids.every((id, i) => sentCount(lab, id) >= before[i]! + PROBE_SENDS), { timeoutMs: 60_000 + ids.length * 5_000, what: 'the probe messages of every session' });
}

async function measureMemory(lab: PoolLab, variant: MemoryVariant, n: number): Promise<MemorySample> {
  if (variant === 'base') {
    const clients = await spawnPlainClients(lab, n);
    try {
      clients.child.send(`send ${PROBE_SENDS}`);
      await clients.child.waitForLine((l) => l['event'] === 'sent', 60_000 + n * 5_000, 'the probe messages');
      await sleep(SETTLE_MS);
      return await sampleTree(clients.child.pid);
    } finally {
      await clients.stop();
    }
  }
  const ids = lab.ids.slice(0, n);
  const worker = await spawnWorker(lab, ids, variant === 'consolidated' ? { CHROMIUM_CONSOLIDATED: 'true' } : {});
  try {
    await readyTimes(lab, ids, worker.spawnedAt, 60_000 + n * PER_SESSION_START_MS);
    await probeWaq(lab, ids);
    await sleep(SETTLE_MS);
    return await sampleTree(worker.child.pid);
  } finally {
    await worker.stop();
  }
}

interface MemoryPoint {
  readonly variant: MemoryVariant;
  readonly n: number;
  readonly samples: MemorySample[];
}

const totalMb = (s: MemorySample): number => (s.nodePss + s.browserPss) / MB;

/**
 * Whether cost grows linearly in N: the marginal cost of a session (MB per added session) between
 * consecutive sizes; linear when every marginal is within 15 % of the first. The fixed part is what
 * the smallest size costs beyond its sessions' marginal cost.
 */
function linearity(points: readonly { n: number; total: number }[]): { text: string; linear: boolean | undefined; marginal: number | undefined } {
  const sorted = [...points].sort((a, b) => a.n - b.n);
  if (sorted.length < 2) return { text: 'one size only: no slope', linear: undefined, marginal: undefined };
  const marginals = sorted.slice(1).map((p, i) => ({ from: sorted[i]!.n, to: p.n, mb: (p.total - sorted[i]!.total) / (p.n - sorted[i]!.n) }));
  const first = marginals[0]!.mb;
  const fixed = sorted[0]!.total - sorted[0]!.n * first;
  const linear = marginals.length < 2 ? undefined : marginals.every((m) => Math.abs(m.mb - first) <= 0.15 * Math.abs(first));
  const steps = marginals.map((m) => `${fmt(m.mb, 0)} MB per added session (${m.from} → ${m.to})`).join(', ');
  const verdictText = linear === undefined ? 'two sizes: a line through them, linearity not checked' : linear ? 'linear (every step within 15 % of the first)' : 'not linear (a step differs by more than 15 % from the first)';
  return { text: `${steps}; fixed part ${fmt(fixed, 0)} MB; ${verdictText}`, linear, marginal: marginals.at(-1)?.mb };
}

async function memoryCase(lab: PoolLab, options: BenchOptions, log: (line: string) => void): Promise<CaseBody> {
  const sizes = [...new Set(options.pool.sizes)].sort((a, b) => a - b);
  const largest = sizes.at(-1)!;
  const points: MemoryPoint[] = [
    ...sizes.flatMap((n) => (['waq', 'base'] as const).map((variant) => ({ variant, n, samples: [] }))),
    { variant: 'consolidated', n: largest, samples: [] },
  ];
  for (let r = 0; r < options.pool.memoryRuns; r++) {
    // Round-robin, reversed every other run, so that load changes hit every point alike.
    const order = r % 2 === 0 ? points : [...points].reverse();
    for (const point of order) {
      const sample = await measureMemory(lab, point.variant, point.n);
      point.samples.push(sample);
      log(`pool memory run ${r + 1}/${options.pool.memoryRuns} ${point.variant} N=${point.n}: ${fmt(totalMb(sample) / point.n, 0)} MB per session (Node ${fmt(sample.nodePss / MB, 0)} MB, Chromium ${fmt(sample.browserPss / MB, 0)} MB in ${sample.browserProcesses} processes), ${sample.outsiders} outside Chromium processes of the same binary`);
    }
  }
  const at = (variant: MemoryVariant, n: number): MemoryPoint => points.find((p) => p.variant === variant && p.n === n)!;
  const stat = (p: MemoryPoint, pick: (s: MemorySample) => number): Summary => summarize(p.samples.map(pick));
  const perSession = (p: MemoryPoint): Summary => stat(p, (s) => totalMb(s) / p.n);
  const consolidated = at('consolidated', largest);
  const defaultProcesses = stat(at('waq', largest), (s) => s.browserProcesses).median;
  if (stat(consolidated, (s) => s.browserProcesses).median >= defaultProcesses) {
    throw new Error(`pool-memory: the consolidated launch has as many Chromium processes as the default (${defaultProcesses}): CHROMIUM_CONSOLIDATED did not take effect`);
  }

  const rows = [...points].sort((a, b) => a.n - b.n || a.variant.localeCompare(b.variant)).map((p) => {
    const base = at('base', p.n);
    return [
      VARIANT_LABELS[p.variant],
      String(p.n),
      `${fmtSummary(stat(p, (s) => s.nodePss / MB), 0)} MB`,
      `${fmtSummary(stat(p, (s) => s.browserPss / MB), 0)} MB`,
      fmtSummary(stat(p, (s) => s.browserProcesses / p.n), 1),
      `${fmtSummary(stat(p, totalMb), 0)} MB`,
      `**${fmtSummary(perSession(p), 0)} MB**`,
      p.variant === 'base' ? '—' : `${fmt(perSession(p).median / perSession(base).median, 2)}×`,
      `${p.samples.filter((s) => s.outsiders > 0).length} of ${p.samples.length}`,
    ];
  });
  const waqLine = linearity(sizes.map((n) => ({ n, total: stat(at('waq', n), totalMb).median })));
  const baseLine = linearity(sizes.map((n) => ({ n, total: stat(at('base', n), totalMb).median })));
  const waqPer = perSession(at('waq', largest)).median;
  const basePer = perSession(at('base', largest)).median;
  const consolidatedPer = perSession(consolidated).median;
  const ratio = waqPer / basePer;
  const met = ratio <= 0.5;
  const chromiumPer = (v: MemoryVariant): number => stat(at(v, largest), (s) => s.browserPss / MB).median / largest;
  const nodePer = (v: MemoryVariant): number => stat(at(v, largest), (s) => s.nodePss / MB).median / largest;
  const tooling = Math.max(0, ...points.flatMap((p) => p.samples.map((s) => s.toolingPss / MB)));
  const body = [
    `N READY sessions, each restored from its paired profile, after ${PROBE_SENDS} sends per session and a ${SETTLE_MS / 1_000} s pause; PSS summed from`,
    '`/proc/<pid>/smaps_rollup` over the process tree (as case 4), divided by N. Pages two sessions share (the Chromium binary and',
    `its libraries, mapped by every tree) are split between them by PSS, so a per-session figure falls as N grows when sharing pays. ${options.pool.memoryRuns} run(s) per point, round-robin.`,
    '',
    '- **waq worker**: the production build, `node apps/worker/dist/main.js` with `WAQ_SANDBOX=1`, one process running N registry sessions',
    '  (`WORKER_MAX_SESSIONS`), each with its own chromium-headless-shell (`headless: \'shell\'`, offline flags), profile, lease and queues.',
    `- **consolidated launch** (N = ${largest} only): the same worker with \`CHROMIUM_CONSOLIDATED=true\`, which adds`,
    `  ${CONSOLIDATING_FLAGS.map((f) => `\`${f}\``).join(' ')} to its flags (the variant of case 4).`,
    '- **baseline**: N plain `new Client({ authStrategy: new LocalAuth({ clientId }) , puppeteer: { executablePath: \'/usr/bin/chromium\', headless: true, args: <offline flags> } })`',
    '  in one Node process (bench/wwebjs-client.ts), all initialised at once.',
    '',
    `All sides run compiled JavaScript with plain \`node\`; ${tooling > 0 ? `an esbuild service (up to ${fmt(tooling, 0)} MB) is excluded` : 'no other process was found in the trees'}.`,
    privateShellNote(lab.shell),
    '',
    table(['Variant', 'N', 'Node PSS', 'Chromium PSS (all trees)', 'Chromium processes per session', 'Node + Chromium PSS', 'Per session', 'Per session vs baseline', 'Samples shared'], rows),
    '',
    `"Samples shared": taken while a Chromium of the same binary outside the tree was running (another test run; waited up to ${OUTSIDER_WAIT_MS / 1_000} s for it to go): their PSS is lower than alone.`,
    '',
    `Cost in N (medians of Node + Chromium): waq: ${waqLine.text}. Baseline: ${baseLine.text}.`,
    '',
    `Target at N = ${largest}: ≤ 0.5× the baseline per session: **${met ? 'met' : 'missed'}** (${fmt(ratio, 2)}×: ${fmt(waqPer, 0)} MB against ${fmt(basePer, 0)} MB).${
      met
        ? ''
        : ` Per session at N = ${largest} waq's Chromium costs ${fmt(chromiumPer('waq'), 0)} MB against the baseline's ${fmt(chromiumPer('base'), 0)} MB, and the worker's Node process ${fmt(nodePer('waq'), 0)} MB against the plain clients' ${fmt(nodePer('base'), 0)} MB: the Node process no longer decides it (case 4's reason at N = 1), the Chromium trees do, and chromium-headless-shell is about half of new-headless chromium per tree, not less.`
    }`,
    '',
    `**Consolidated launch at N = ${largest}**: ${fmt(consolidatedPer, 0)} MB per session against ${fmt(waqPer, 0)} MB with the production flags (${fmt(consolidatedPer / waqPer, 2)}×, ${fmt(waqPer - consolidatedPer, 0)} MB less per session, ${fmt((waqPer - consolidatedPer) * largest, 0)} MB for the worker), ${fmt(consolidatedPer / basePer, 2)}× the baseline${consolidatedPer / basePer <= 0.5 ? ', within the target' : ', still above the target'}; ${fmt(stat(consolidated, (s) => s.browserProcesses / largest).median, 1)} Chromium processes per session instead of ${fmt(defaultProcesses / largest, 1)}. Its risk (case 4): a crash of the GPU or network service ends that session\'s browser instead of being restarted by Chromium (zygote-less launch is otherwise what serverless Chromium builds run); each session has its own browser, so no other session notices, and reliability scenario 13 measures the cost: kill -9 of a consolidated browser mid-stream → READY again in under a second, nothing lost or doubled, no QR. **Decision**: an opt-in setting, \`CHROMIUM_CONSOLIDATED=true\`, default off. The default keeps the launch under which every wave-1 figure was measured, where a service crash costs the session nothing; a deployment that is short of memory trades it for about ${fmt(waqPer - consolidatedPer, 0)} MB per session, knowing the price of a crash.`,
  ].join('\n');
  const verdicts: Verdict[] = [
    { metric: `memory per READY session, N = ${largest} in one worker (PSS)`, waq: `${fmt(waqPer, 0)} MB`, baseline: `${fmt(basePer, 0)} MB`, ratio: `${fmt(ratio, 2)}×`, target: '≤ 0.5×', met },
    { metric: `memory per session, N = ${largest}, consolidated launch`, waq: `${fmt(consolidatedPer, 0)} MB`, baseline: `${fmt(basePer, 0)} MB`, ratio: `${fmt(consolidatedPer / basePer, 2)}×`, target: '— (reported)', met: undefined },
    {
      metric: `memory cost per added session (N ${sizes.join(', ')})`,
      waq: waqLine.marginal === undefined ? '—' : `${fmt(waqLine.marginal, 0)} MB`,
      baseline: baseLine.marginal === undefined ? '—' : `${fmt(baseLine.marginal, 0)} MB`,
      ratio: waqLine.marginal === undefined || baseLine.marginal === undefined ? '—' : `${fmt(waqLine.marginal / baseLine.marginal, 2)}×`,
      target: 'linear in N (reported)',
      met: waqLine.linear,
    },
  ];
  return { title: '8. Memory per session, many sessions in one worker (real Chromium, simulator)', body, verdicts };
}

// ------------------------------------------------------------------ 9. cold start

interface StartSample {
  readonly firstMs: number;
  readonly allMs: number;
  /** Spawn → the worker's first log line: Node start-up and module loading, before any session. */
  readonly processMs: number;
}

async function coldStart(lab: PoolLab, n: number, concurrency: number): Promise<StartSample> {
  const ids = lab.ids.slice(0, n);
  const worker = await spawnWorker(lab, ids, { WORKER_START_CONCURRENCY: String(concurrency) });
  try {
    const times = await readyTimes(lab, ids, worker.spawnedAt, 60_000 + n * PER_SESSION_START_MS);
    const firstLine = Number(worker.child.hello['time']);
    return { firstMs: Math.min(...times) - worker.spawnedAt, allMs: Math.max(...times) - worker.spawnedAt, processMs: Number.isFinite(firstLine) ? firstLine - worker.spawnedAt : NaN };
  } finally {
    await worker.stop();
  }
}

async function startCase(lab: PoolLab, options: BenchOptions, log: (line: string) => void): Promise<CaseBody> {
  const n = options.pool.sessions;
  const limit = Math.min(options.pool.startLimit, n);
  const sides = { limited: [] as StartSample[], all: [] as StartSample[] };
  for (let r = 0; r < options.runs; r++) {
    const order = r % 2 === 0 ? (['limited', 'all'] as const) : (['all', 'limited'] as const);
    for (const side of order) {
      const sample = await coldStart(lab, n, side === 'limited' ? limit : n);
      sides[side].push(sample);
      log(`pool start run ${r + 1}/${options.runs} ${side}: first READY ${fmt(sample.firstMs, 0)} ms, all ${n} READY ${fmt(sample.allMs, 0)} ms`);
    }
  }
  const s = (side: 'limited' | 'all', key: keyof StartSample): Summary => summarize(sides[side].map((x) => x[key]));
  const row = (label: string, key: keyof StartSample): string[] => [label, `${fmtSummary(s('limited', key), 0)} ms`, `${fmtSummary(s('all', key), 0)} ms`, `${fmt(s('limited', key).median / s('all', key).median, 2)}×`];
  const allRatio = s('limited', 'allMs').median / s('all', 'allMs').median;
  const firstRatio = s('limited', 'firstMs').median / s('all', 'firstMs').median;
  const body = [
    `${n} sessions, every profile paired before (a restore, no QR), wanted running in the registry; the production worker started with`,
    `\`WORKER_START_CONCURRENCY=${limit}\`${limit === 2 ? ' (the default)' : ''} and with \`=${n}\` (all at once), ${options.runs} run(s) each, alternating. Times are from the`,
    'worker process\'s spawn to the `since` of the READY state each session published to Redis (so Node start-up is in every figure: see the last row).',
    '',
    table(['Metric', `limit ${limit}`, `all ${n} at once`, 'limit / all'], [
      row(`spawn → first session READY`, 'firstMs'),
      row(`spawn → all ${n} sessions READY`, 'allMs'),
      row('spawn → the worker\'s first log line', 'processMs'),
    ]),
    '',
    `With the limit, the worker claims ${limit} sessions, and claims more at its next reconciliation (every second, \`pollMs\`) once those have left`,
    'STARTING/AUTHENTICATED: the first READY comes as soon as one Chromium alone can bring it, the rest in steps of a second. All at once, every',
    `Chromium starts together on the ${cpus().length} cores and each one waits for the CPU, so the first READY comes late. ` +
      (allRatio <= 1
        ? `Here the limit also finished sooner (${fmt(allRatio, 2)}× the time to all READY).`
        : `Here all at once finished sooner (the limit took ${fmt(allRatio, 2)}× as long to all READY): the one-second reconciliation steps cost more than the contention saved.`) +
      ` First READY: ${fmt(firstRatio, 2)}× with the limit.`,
  ].join('\n');
  const verdicts: Verdict[] = [
    { metric: `cold start of ${n} sessions: spawn → all READY`, waq: `${fmt(s('limited', 'allMs').median, 0)} ms (limit ${limit})`, baseline: `${fmt(s('all', 'allMs').median, 0)} ms (all at once)`, ratio: `${fmt(allRatio, 2)}×`, target: '— (reported)', met: undefined },
    { metric: `cold start of ${n} sessions: spawn → first READY`, waq: `${fmt(s('limited', 'firstMs').median, 0)} ms (limit ${limit})`, baseline: `${fmt(s('all', 'firstMs').median, 0)} ms (all at once)`, ratio: `${fmt(firstRatio, 2)}×`, target: '— (reported)', met: undefined },
  ];
  return { title: `9. Cold start of ${n} sessions in one worker (real Chromium, simulator)`, body, verdicts };
}

// ------------------------------------------------------------------ 10. aggregate send rate

interface RateSample {
  readonly sessions: number;
  readonly messages: number;
  /** Messages per second, from the first enqueue to the last message the phones recorded. */
  readonly rate: number;
  /** The slowest and fastest session's own rate (messages / its last arrival). */
  readonly slowest: number;
  readonly fastest: number;
  /** CPU used per wall second (cores busy) by the worker's Node process, its Chromium trees, and this process (phone server, producer). */
  readonly workerCores: number;
  readonly chromiumCores: number;
  readonly benchCores: number;
}

let rateRun = 0;

async function sendBurst(lab: PoolLab, worker: PoolWorker, ids: readonly string[], perSession: number, fillConcurrency: number): Promise<RateSample> {
  rateRun += 1;
  const tag = `rate-${rateRun}`;
  const before = ids.map((id) => sentCount(lab, id));
  const tree = processTree(worker.child.pid).filter((pid) => pid !== worker.child.pid);
  const cpu = (pids: readonly number[]): number => pids.reduce((sum, pid) => {
    try {
      return sum + cpuTimeMs(pid);
    } catch {
      return sum; // exited
    }
  }, 0);
  const cpuBefore = { worker: cpu([worker.child.pid]), chromium: cpu(tree), bench: process.cpuUsage() };
  // Interleaved across sessions, `fillConcurrency` in flight, as many producers would.
  const jobs = Array.from({ length: perSession * ids.length }, (_, k) => ({ id: ids[k % ids.length]!, i: Math.floor(k / ids.length) }));
  const started = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(fillConcurrency, jobs.length) }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      await lab.producer.session(job.id).send({ to: `+${PROBE_TO}`, text: `${tag}-${job.id}-${job.i}` });
    }
  }));
  await pollUntil(() => ids.every((id, i) => sentCount(lab, id) >= before[i]! + perSession), {
    timeoutMs: 60_000 + jobs.length * 50,
    intervalMs: 20,
    what: `${jobs.length} messages on the simulated phones`,
  });
  const wallMs = Date.now() - started;
  const bench = process.cpuUsage(cpuBefore.bench);
  const workerCpu = cpu([worker.child.pid]) - cpuBefore.worker;
  const chromiumCpu = cpu(tree) - cpuBefore.chromium;
  const last = ids.map((id) => {
    const mine = lab.phone.account(id).messages().filter((m) => m.body.startsWith(`${tag}-${id}-`));
    if (mine.length !== perSession || new Set(mine.map((m) => m.body)).size !== perSession) throw new Error(`pool-send: session ${id} delivered ${mine.length} messages (${new Set(mine.map((m) => m.body)).size} distinct) of ${perSession}`);
    return Math.max(...mine.map((m) => m.receivedAt));
  });
  const end = Math.max(...last);
  const rates = last.map((t) => perSession / ((t - started) / 1_000));
  return {
    sessions: ids.length,
    messages: jobs.length,
    rate: jobs.length / ((end - started) / 1_000),
    slowest: Math.min(...rates),
    fastest: Math.max(...rates),
    workerCores: workerCpu / wallMs,
    chromiumCores: chromiumCpu / wallMs,
    benchCores: (bench.user + bench.system) / 1_000 / wallMs,
  };
}

/**
 * The two regimes of the send-rate case: the simulator on loopback answers a send at once, so a send
 * costs only CPU; with the server's receipt delayed by a network round trip (as WhatsApp's is), one
 * session's rate is bounded by that wait, and what the case shows is whether sessions overlap theirs.
 */
const SEND_REGIMES = [
  { id: 'loopback', serverAckDelayMs: 0, label: 'loopback (server receipt at once)' },
  { id: 'network', serverAckDelayMs: NETWORK_RTT_MS, label: `server receipt after ${NETWORK_RTT_MS} ms (a network round trip)` },
] as const;

async function sendCase(lab: PoolLab, options: BenchOptions, log: (line: string) => void): Promise<CaseBody> {
  const n = options.pool.sessions;
  const m = options.pool.sends;
  const ids = lab.ids.slice(0, n);
  type Regime = (typeof SEND_REGIMES)[number]['id'];
  const samples: Record<Regime, { one: RateSample[]; all: RateSample[] }> = { loopback: { one: [], all: [] }, network: { one: [], all: [] } };
  const setReceiptDelay = (ms: number): void => {
    for (const id of ids) lab.phone.account(id).serverAckDelayMs = ms;
  };
  const worker = await spawnWorker(lab, ids);
  try {
    await readyTimes(lab, ids, worker.spawnedAt, 60_000 + n * PER_SESSION_START_MS);
    // Warm-up, not counted: the first sends of a page open the chat.
    await sendBurst(lab, worker, ids, 2, options.cost.fillConcurrency);
    for (const regime of SEND_REGIMES) {
      setReceiptDelay(regime.serverAckDelayMs);
      for (let r = 0; r < options.runs; r++) {
        const order = r % 2 === 0 ? (['one', 'all'] as const) : (['all', 'one'] as const);
        for (const side of order) {
          // One session: a different one each run, the other n − 1 READY and idle.
          const sample = await sendBurst(lab, worker, side === 'one' ? [ids[r % n]!] : ids, m, options.cost.fillConcurrency);
          samples[regime.id][side].push(sample);
          log(`pool send ${regime.id} run ${r + 1}/${options.runs} ${side}: ${sample.messages} messages at ${fmt(sample.rate)} /s (cores busy: worker ${fmt(sample.workerCores, 2)}, Chromium ${fmt(sample.chromiumCores, 2)}, bench ${fmt(sample.benchCores, 2)})`);
        }
      }
    }
  } finally {
    setReceiptDelay(0);
    await worker.stop();
  }
  const cores = cpus().length;
  const measured = SEND_REGIMES.map((regime) => {
    const s = (side: 'one' | 'all', key: keyof RateSample): Summary => summarize(samples[regime.id][side].map((x) => x[key]));
    const ratio = s('all', 'rate').median / s('one', 'rate').median;
    const busy = (side: 'one' | 'all'): number => s(side, 'workerCores').median + s(side, 'chromiumCores').median + s(side, 'benchCores').median;
    const row = (label: string, key: keyof RateSample, unit: string, digits?: number): string[] => [label, `${fmtSummary(s('one', key), digits)}${unit}`, `${fmtSummary(s('all', key), digits)}${unit}`];
    const rows = [
      row('messages per run', 'messages', '', 0),
      row('aggregate send rate', 'rate', ' msg/s'),
      ['per session: slowest / fastest', `${fmt(s('one', 'slowest').median)} / ${fmt(s('one', 'fastest').median)} msg/s`, `${fmt(s('all', 'slowest').median)} / ${fmt(s('all', 'fastest').median)} msg/s`],
      row('CPU: worker Node process', 'workerCores', ' cores', 2),
      row('CPU: Chromium trees', 'chromiumCores', ' cores', 2),
      row('CPU: bench process (phone server, producer)', 'benchCores', ' cores', 2),
    ];
    return { regime, s, ratio, busy, rows };
  });
  const [loopback, network] = measured as [(typeof measured)[number], (typeof measured)[number]];
  const met = network.ratio >= 5;
  const body = [
    `One production worker with ${n} READY sessions, pacing off (\`SEND_INTERVAL_MS=0\`, \`SEND_JITTER_MS=0\`), the simulator's ack delay ${ACK_DELAY_MS} ms.`,
    `Each run enqueues ${m} sends per loaded session through the producer SDK (${options.cost.fillConcurrency} in flight, interleaved across sessions) and counts on the`,
    'simulator side: the rate is messages from the first enqueue to the last message the simulated phones recorded (`receivedAt`).',
    `"One session" loads one of the ${n} (another each run) while the others stay READY and idle; "all" loads all ${n}. ${options.runs} run(s) each, alternating.`,
    'Every message was checked to arrive exactly once. CPU is user + system time over the run per wall second (1.00 = one core busy), from',
    '`/proc/<pid>/stat` for the worker and its Chromium trees and `process.cpuUsage()` for this process (phone server, producer); Redis is not counted.',
    '',
    'A session sends one message at a time (order is per session), and each send waits for the server\'s receipt (whatsapp-web.js',
    '`sendMessage(…, { waitUntilMsgSent: true })` resolves on ack 1). Two regimes, on the same paired sessions in the same worker:',
    `**loopback**, where the simulator answers at once and a send costs only CPU, and **network**, where the simulator's receipt comes after`,
    `${NETWORK_RTT_MS} ms (\`serverAckDelayMs\`), a round trip to WhatsApp's servers and on the short side of one (the shorter, the harder the target).`,
    '',
    ...measured.flatMap(({ regime, rows }) => [`**${regime.label}**`, '', table(['Metric', 'one session', `all ${n} sessions`], rows), '']),
    `Target ≥ 5× one session's rate, where a send waits on the network as it does on WhatsApp: **${met ? 'met' : 'missed'}** (${fmt(network.ratio, 2)}×; one session ${fmt(network.s('one', 'rate').median)} msg/s, all ${n} ${fmt(network.s('all', 'rate').median)} msg/s).`,
    `On loopback the ratio is ${fmt(loopback.ratio, 2)}×: with one session loaded, the measured processes already keep ${fmt(loopback.busy('one'), 2)} of the machine's ${cores} cores busy, with all ${n} ${fmt(loopback.busy('all'), 2)} (Redis not counted), so`,
    `there the aggregate is bounded by the cores, not by waq's scheduling: ${n} sessions cannot go faster than the CPU their sends need together (a send's path is`,
    `CPU only there — the worker's Redis round trips, whatsapp-web.js's page calls, the page and the simulator). That figure is the worker's ceiling on this machine: about ${fmt(loopback.s('all', 'rate').median)} msg/s.`,
  ].join('\n');
  const verdicts: Verdict[] = [
    { metric: `aggregate send rate, ${n} sessions vs one, pacing off, server receipt after ${NETWORK_RTT_MS} ms`, waq: `${fmt(network.s('all', 'rate').median)} msg/s`, baseline: `${fmt(network.s('one', 'rate').median)} msg/s (one session)`, ratio: `${fmt(network.ratio, 2)}×`, target: '≥ 5×', met },
    { metric: `aggregate send rate, ${n} sessions vs one, pacing off, loopback (CPU-bound)`, waq: `${fmt(loopback.s('all', 'rate').median)} msg/s`, baseline: `${fmt(loopback.s('one', 'rate').median)} msg/s (one session)`, ratio: `${fmt(loopback.ratio, 2)}×`, target: '— (reported)', met: undefined },
  ];
  return { title: `10. Aggregate send rate, ${n} sessions in one worker (real Chromium, simulator)`, body, verdicts };
}
