/**
 * 3. Restore time and 4. memory, with the real stack: whatsapp-web.js + Chromium + the offline simulator
 * (packages/wa-sim). Both sides drive the same phone server and page; each has its own LocalAuth
 * profile, paired once here, then restored (start → READY without a QR) as often as measured.
 *
 * - waq: the worker's own composition in sandbox mode (`chooseDriver` with WAQ_SANDBOX=1 → Debian
 *   chromium-headless-shell, `headless: 'shell'`, the simulator's offline flags) under `SessionOwner`.
 * - baseline: a plain `new Client({ authStrategy: new LocalAuth(), puppeteer: { executablePath:
 *   '/usr/bin/chromium', headless: true, args: <offline flags> } })`, the library's default launch plus
 *   only what the simulator needs (prepareSimClientOptions with chromiumPath /usr/bin/chromium).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createRedis, type SessionStatus } from '@waq/shared';
import { prepareSimClientOptions, startPhoneServer, type PhoneServer } from '@waq/wa-sim';
import wwebjs from 'whatsapp-web.js';

import { chooseDriver } from '../../apps/worker/src/create-driver.js';
import { NO_PACING } from '../lib/held.js';
import { spawnCompiled, type NodeChild } from '../lib/child.js';
import { CHROMIUM, CONSOLIDATING_FLAGS, privateHeadlessShell, type PrivateShell } from '../lib/chromium-launch.js';
import type { BenchOptions } from '../lib/options.js';
import { MB } from '../lib/processes.js';
import { benchPrefix, deletePrefix, freePort } from '../lib/redis.js';
import { comparisonRow, table, verdict, type CaseId, type CaseReport, type Comparison } from '../lib/report.js';
import { fmt, fmtSummary, pollUntil, sleep, summarize, withTimeout, type Summary } from '../lib/stats.js';
import { compileMeasuredPrograms, killLeftovers, OUTSIDER_WAIT_MS, PLAIN_CLIENT, PROBE_SENDS, PROBE_TO, sampleTree, SETTLE_MS, WORKER_MAIN, type MemorySample } from '../lib/tree-memory.js';
import { scopeConfig, sessionClient, sinkLogger, startOwner, type SessionScope } from '../lib/waq-session.js';


type CaseBody = Omit<CaseReport, 'id' | 'load' | 'seconds'>;
type Timed = (id: CaseId, log: (line: string) => void, body: () => Promise<CaseBody>) => Promise<CaseReport>;

/** Everything both cases share: one phone server, a Redis prefix and the two paired profiles. */
interface Lab {
  readonly dir: string;
  readonly phone: PhoneServer;
  readonly redisUrl: string;
  readonly prefix: string;
  /** waq's SESSION_DIR; the sandbox profile lives under `<dir>/sandbox/session-default`. */
  readonly waqSessionRoot: string;
  readonly waqCacheRoot: string;
  readonly baseDataPath: string;
  readonly baseCacheDir: string;
}

function waqEnv(lab: Lab): Record<string, string> {
  return {
    WAQ_SANDBOX: '1',
    WAQ_SIM_URL: lab.phone.url,
    WWEBJS_CACHE_DIR: lab.waqCacheRoot,
    ...NO_PACING,
  };
}

/** Starts waq's owner on the lab's profile (sandbox driver) and resolves with ms from start to READY. */
async function waqStartToReady(lab: Lab, onQr?: () => void): Promise<{ ms: number; stop: () => Promise<void> }> {
  const rootScope: SessionScope = { url: lab.redisUrl, prefix: lab.prefix, sessionDir: lab.waqSessionRoot, env: waqEnv(lab) };
  const logger = sinkLogger('worker');
  const started = performance.now();
  const driver = await chooseDriver(scopeConfig(rootScope), logger);
  const running = startOwner({ ...rootScope, sessionDir: driver.sessionDir }, driver.createDriver(scopeConfig(rootScope).SESSION_ID), logger);
  const ready = new Promise<number>((resolve) => {
    running.owner.onOwned(({ session }) => {
      session.on('status', (state) => {
        if (state.status === 'QR') onQr?.();
        if (state.status === 'READY') resolve(performance.now());
      });
    });
  });
  try {
    const at = await withTimeout(ready, 90_000, 'waq to reach READY');
    return { ms: at - started, stop: () => running.stop() };
  } catch (error) {
    await running.stop();
    throw error;
  }
}

function baselineOptions(lab: Lab, chromiumPath = CHROMIUM, extraArgs: string[] = []): wwebjs.ClientOptions {
  return prepareSimClientOptions({ phoneUrl: lab.phone.url, cacheDir: lab.baseCacheDir, dataPath: lab.baseDataPath, clientId: 'default', chromiumPath, extraArgs });
}

/** A plain Client from `new Client()` to `ready`; scans when a QR shows (pairing run). */
async function baselineStartToReady(lab: Lab): Promise<{ ms: number; client: wwebjs.Client; sawQr: boolean }> {
  const started = performance.now();
  const client = new wwebjs.Client(baselineOptions(lab));
  let sawQr = false;
  client.on('qr', () => {
    sawQr = true;
    lab.phone.phone.scan();
  });
  const ready = new Promise<number>((resolve) => client.once('ready', () => resolve(performance.now())));
  try {
    void client.initialize().catch(() => undefined); // failures surface as the timeout
    const at = await withTimeout(ready, 90_000, 'the plain whatsapp-web.js client to become ready');
    return { ms: at - started, client, sawQr };
  } catch (error) {
    await client.destroy().catch(() => undefined);
    throw error;
  }
}

async function pairWaq(lab: Lab): Promise<void> {
  const client = await sessionClient({ url: lab.redisUrl, prefix: lab.prefix, sessionDir: lab.waqSessionRoot });
  try {
    const pending = waqStartToReady(lab, () => {
      try {
        lab.phone.phone.scan();
      } catch {
        // the QR was replaced meanwhile: the next QR status scans again
      }
    });
    // No saved session yet: the owner waits in STOPPED for a connect, as after a fresh install.
    await client.waitForStatus('STOPPED', 60_000);
    await client.producer.connect('bench');
    const { stop } = await pending;
    await stop();
  } finally {
    await client.close();
  }
}

export async function chromiumCases(options: BenchOptions, log: (line: string) => void, timed: Timed): Promise<CaseReport[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'waq-bench-chromium-'));
  const phone = await startPhoneServer({});
  const lab: Lab = {
    dir,
    phone,
    redisUrl: options.redisUrl,
    prefix: benchPrefix('chromium'),
    waqSessionRoot: path.join(dir, 'waq-sessions'),
    waqCacheRoot: path.join(dir, 'waq-cache'),
    baseDataPath: path.join(dir, 'base-auth'),
    baseCacheDir: path.join(dir, 'base-cache'),
  };
  const cleaner = createRedis({ url: options.redisUrl, role: 'consumer', name: 'bench-chromium-cleaner' });
  const reports: CaseReport[] = [];
  try {
    // Pair each profile once (not measured).
    await pairWaq(lab);
    const paired = await baselineStartToReady(lab);
    await paired.client.destroy();
    log('chromium: both profiles paired');
    if (options.only.has('restore')) reports.push(await timed('restore', log, () => restoreCase(lab, options, log)));
    if (options.only.has('memory')) reports.push(await timed('memory', log, () => memoryCase(lab, options, log)));
  } finally {
    await phone.close();
    await deletePrefix(cleaner, lab.prefix);
    await cleaner.quit().catch(() => cleaner.disconnect());
    await rm(dir, { recursive: true, force: true });
  }
  return reports;
}

async function restoreCase(lab: Lab, options: BenchOptions, log: (line: string) => void): Promise<CaseBody> {
  const waq: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < options.restoreRuns; r++) {
    const order = r % 2 === 0 ? (['waq', 'baseline'] as const) : (['baseline', 'waq'] as const);
    for (const side of order) {
      if (side === 'waq') {
        let sawQr = false;
        const run = await waqStartToReady(lab, () => {
          sawQr = true;
        });
        await run.stop();
        if (sawQr) throw new Error('waq showed a QR on restore: the saved session was not used');
        waq.push(run.ms);
      } else {
        const run = await baselineStartToReady(lab);
        await run.client.destroy();
        if (run.sawQr) throw new Error('the plain client showed a QR on restore: the saved session was not used');
        base.push(run.ms);
      }
      log(`restore run ${r + 1}/${options.restoreRuns} ${side}: ${fmt((side === 'waq' ? waq : base).at(-1) ?? 0, 0)} ms`);
    }
  }
  const c: Comparison = { metric: 'restore: start → READY', unit: 'ms', waq: summarize(waq), baseline: summarize(base), higherIsBetter: false, digits: 0 };
  const ratio = c.waq.median / c.baseline.median;
  const met = ratio <= 0.7 && c.waq.median < 2_000;
  const body = [
    `Each side's profile was paired once; then ${options.restoreRuns} restores per side, alternating, all in this process (no process start-up in`,
    'either figure). The phone server runs in this process too.',
    '',
    '- **waq**: from `chooseDriver()` + `new SessionOwner(…).run()` (lease, profile lock hygiene, driver start) to the session',
    '  controller\'s READY status (published to Redis in the same step); then a graceful stop.',
    '- **baseline**: from `new Client(…)` + `initialize()` to the `ready` event; then `destroy()`.',
    '',
    table(['Metric', 'waq', 'Baseline', 'waq / baseline'], [comparisonRow(c)]),
    '',
    `Target ≤ 0.7× and under 2 s: **${met ? 'met' : 'missed'}** (${fmt(ratio, 2)}×, median ${fmt(c.waq.median, 0)} ms).${met ? '' : restoreMissReason(ratio, c.waq.median)}`,
  ].join('\n');
  return { title: '3. Restore time (real Chromium, simulator)', body, verdicts: [verdict(c, { text: '≤ 0.7× and < 2 s', met })] };
}

function restoreMissReason(ratio: number, ms: number): string {
  const parts: string[] = [];
  if (ratio > 0.7) parts.push('the ratio is above 0.7×');
  if (ms >= 2_000) parts.push('the median is above 2 s: most of it is Chromium\'s own launch (see packages/wa-sim/README.md: about 1.3 s of 1.5 s with chromium-headless-shell), which the load average above stretches on 2 cores');
  return ` Missed because ${parts.join('; ')}.`;
}

interface Variant {
  readonly key: string;
  readonly label: string;
  readonly launch: string;
  readonly effect: string;
}


const VARIANTS: readonly Variant[] = [
  {
    key: 'waq',
    label: 'waq worker (sandbox mode)',
    launch: '`node apps/worker/dist/main.js` with `WAQ_SANDBOX=1`: chromium-headless-shell, `headless: \'shell\'`, offline flags',
    effect: 'the figure waq users get: the worker\'s Node process (Redis connections, BullMQ, pino, prom-client, whatsapp-web.js/puppeteer) plus its Chromium',
  },
  {
    key: 'base',
    label: 'plain whatsapp-web.js, default launch (baseline)',
    launch: '`/usr/bin/chromium`, `headless: true` (new headless), offline flags',
    effect: 'the library\'s default: the full browser in new-headless mode, with its separate GPU, network and storage service processes',
  },
  {
    key: 'single',
    label: 'plain whatsapp-web.js, new headless + `--single-process`',
    launch: '`/usr/bin/chromium`, `headless: true`, offline flags + `--single-process`',
    effect:
      'folds the renderer and the service processes into the browser process, so their fixed overhead is paid once. Risk: Chromium documents it as unsupported and for debugging only; a renderer crash or hang takes the whole browser (and the session) down with it, and puppeteer loses its crash isolation — waq does not use it',
  },
  {
    key: 'shell',
    label: 'plain whatsapp-web.js, chromium-headless-shell',
    launch: '`/usr/bin/chromium-headless-shell`, `headless: \'shell\'`, offline flags',
    effect:
      'the old headless implementation as a separate, smaller binary without the browser UI layers: fewer processes and less memory. Risk: it is not the browser users run, so WhatsApp Web could one day rely on something it lacks; whatsapp-web.js sends a desktop Chrome user agent by default, so the page does not see "HeadlessChrome". waq keeps `/usr/bin/chromium` as the fallback and `CHROMIUM_PATH` to switch',
  },
  {
    key: 'consolidated',
    label: 'plain whatsapp-web.js, chromium-headless-shell + fewer processes',
    launch: `\`/usr/bin/chromium-headless-shell\`, \`headless: 'shell'\`, offline flags + ${CONSOLIDATING_FLAGS.map((f) => `\`${f}\``).join(' ')}`,
    effect:
      '`--no-zygote` starts renderers directly instead of forking them from two zygote processes (needs `--no-sandbox`, which server launches use anyway); `--in-process-gpu` runs the GPU service (software only, with `--disable-gpu`) in the browser process; `NetworkServiceInProcess2` does the same for the network service. Risk: a crash of the GPU or network service then takes the browser and the session down instead of being restarted by Chromium, and zygote-less launch is meant for debugging. The saving is fixed per browser (the page\'s own heap, which dominates with the real WhatsApp Web, is untouched) — waq does not use these flags',
  },
];

/** `shellPath`: the chromium-headless-shell the worker runs (CHROMIUM_PATH; the memory case's private copy). */
async function measureWaqWorker(lab: Lab, shellPath: string): Promise<MemorySample> {
  const port = await freePort();
  const client = await sessionClient({ url: lab.redisUrl, prefix: lab.prefix, sessionDir: lab.waqSessionRoot });
  let worker: NodeChild | undefined;
  let pids: number[] = [];
  try {
    worker = await spawnCompiled(WORKER_MAIN, [], {
      env: {
        ...process.env,
        ...waqEnv(lab),
        CHROMIUM_PATH: shellPath,
        REDIS_URL: lab.redisUrl,
        WAQ_PREFIX: lab.prefix,
        SESSION_DIR: lab.waqSessionRoot,
        WORKER_HOST: '127.0.0.1',
        WORKER_PORT: String(port),
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
      },
    });
    await pollUntil(async () => (await client.status()) === ('READY' satisfies SessionStatus), { timeoutMs: 90_000, intervalMs: 50, what: 'the waq worker to restore to READY' });
    const before = lab.phone.phone.messages().length;
    for (let i = 0; i < PROBE_SENDS; i++) await client.producer.send({ to: `+${PROBE_TO}`, text: `memory probe ${i}` });
    await pollUntil(() => lab.phone.phone.messages().length >= before + PROBE_SENDS, { timeoutMs: 60_000, what: 'the probe messages from the waq worker' });
    await sleep(SETTLE_MS);
    const sample = await sampleTree(worker.pid);
    pids = sample.pids;
    return sample;
  } finally {
    await worker?.stop();
    killLeftovers(pids.filter((pid) => pid !== worker?.pid));
    await client.close();
  }
}

/** How the headless-shell variants were launched (bench/lib/chromium-launch.ts), for the report. */
export function privateShellNote(shell: PrivateShell): string {
  return shell.private
    ? 'chromium-headless-shell runs from a private copy of Debian\'s binary and resources (through a wrapper like Debian\'s `/usr/bin/chromium-headless-shell`), so Chromiums of other runs on this machine, leaked ones included, cannot share its pages and lower the measured PSS.'
    : 'No Debian `/usr/lib/chromium` to copy: chromium-headless-shell runs as installed, so other runs\' Chromiums of the same binary share its pages (see "Samples shared").';
}

/** What ≤ 0.5× would leave for the worker's Node process next to waq's Chromium tree (and next to the leanest variant's). */
function nodeBudget(whole: Comparison, chromiumOnly: Comparison, consolidated: Summary): string {
  const budget = whole.baseline.median * 0.5;
  const left = (chromium: number): string => `${fmt(Math.max(0, budget - chromium), 0)} MB`;
  return `Within ${fmt(budget, 0)} MB (half the baseline) the worker's Node process would have ${left(chromiumOnly.waq.median)} next to waq's Chromium tree, ${left(consolidated.median)} next to the process-consolidated launch below: less than the plain client's own Node process (${fmt(whole.baseline.median - chromiumOnly.baseline.median, 0)} MB), so no launch flag or worker diet on this page reaches the target.`;
}

type PlainVariant = 'base' | 'single' | 'shell' | 'consolidated';

async function measurePlainClient(lab: Lab, variant: PlainVariant, shellPath: string): Promise<MemorySample> {
  const shell = variant === 'shell' || variant === 'consolidated';
  const chromiumPath = shell ? shellPath : CHROMIUM;
  // The headless-shell variants reuse waq's profile (same binary), the others the baseline's (same binary as when paired).
  const profile = shell ? { dataPath: path.join(lab.waqSessionRoot, 'sandbox'), cacheDir: path.join(lab.waqCacheRoot, 'sandbox') } : { dataPath: lab.baseDataPath, cacheDir: lab.baseCacheDir };
  const extraArgs = variant === 'single' ? ['--single-process'] : variant === 'consolidated' ? CONSOLIDATING_FLAGS : [];
  const config = { dataPath: profile.dataPath, chromiumPath, extraArgs, to: PROBE_TO, clients: [{ clientId: 'default', phoneUrl: lab.phone.url, cacheDir: profile.cacheDir }] };
  let child: NodeChild | undefined;
  let pids: number[] = [];
  try {
    child = await spawnCompiled(PLAIN_CLIENT, [JSON.stringify(config)]);
    const ready = child.waitForLine((l) => l['event'] === 'ready', 90_000, 'ready');
    // A QR here means the profile was not restored: scan so the measurement still completes, and say so.
    void child.waitForLine((l) => l['event'] === 'qr', 90_000, 'qr').then(
      () => {
        try {
          lab.phone.phone.scan();
        } catch {
          // no QR on screen any more
        }
      },
      () => undefined,
    );
    await ready;
    child.send(`send ${PROBE_SENDS}`);
    await child.waitForLine((l) => l['event'] === 'sent', 60_000, 'the probe messages');
    await sleep(SETTLE_MS);
    const sample = await sampleTree(child.pid);
    pids = sample.pids;
    return sample;
  } finally {
    await child?.stop();
    killLeftovers(pids.filter((pid) => pid !== child?.pid));
  }
}

async function memoryCase(lab: Lab, options: BenchOptions, log: (line: string) => void): Promise<CaseBody> {
  await compileMeasuredPrograms();
  const shell = await privateHeadlessShell(path.join(lab.dir, 'private-chromium'));
  const samples = new Map<string, MemorySample[]>(VARIANTS.map((v) => [v.key, []]));
  for (let r = 0; r < options.memoryRuns; r++) {
    // Round-robin over the variants so that load changes hit them all alike.
    const order = r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order) {
      const sample = variant.key === 'waq' ? await measureWaqWorker(lab, shell.path) : await measurePlainClient(lab, variant.key as PlainVariant, shell.path);
      samples.get(variant.key)?.push(sample);
      log(`memory run ${r + 1}/${options.memoryRuns} ${variant.key}: Chromium ${fmt(sample.browserPss / MB, 0)} MB PSS (USS ${fmt(sample.browserUss / MB, 0)}) in ${sample.browserProcesses} processes, Node ${fmt(sample.nodePss / MB, 0)} MB PSS (USS ${fmt(sample.nodeUss / MB, 0)}), ${sample.outsiders} outside Chromium processes of the same binary`);
    }
  }
  const stat = (key: string, pick: (s: MemorySample) => number): Summary => summarize((samples.get(key) ?? []).map(pick));
  const total = (s: MemorySample): number => (s.nodePss + s.browserPss) / MB;
  const browser = (s: MemorySample): number => s.browserPss / MB;
  const node = (s: MemorySample): number => s.nodePss / MB;
  const whole: Comparison = { metric: 'memory: Node + Chromium tree (PSS)', unit: 'MB', waq: stat('waq', total), baseline: stat('base', total), higherIsBetter: false, digits: 0 };
  const chromiumOnly: Comparison = { metric: 'memory: Chromium tree only (PSS)', unit: 'MB', waq: stat('waq', browser), baseline: stat('base', browser), higherIsBetter: false, digits: 0 };
  const ratio = whole.waq.median / whole.baseline.median;
  const met = ratio <= 0.5;
  const tooling = Math.max(...[...samples.values()].flat().map((s) => s.toolingPss / MB));
  const body = [
    `One READY session per process, restored from its paired profile, after ${PROBE_SENDS} sends and a ${SETTLE_MS / 1_000} s pause; PSS summed from`,
    '`/proc/<pid>/smaps_rollup` over the process tree (PSS splits shared pages between the processes that map them, so the',
    `sum is what the tree costs; RSS would count Chromium's shared pages once per process). ${options.memoryRuns} runs per variant, round-robin.`,
    'Every variant runs in its own Node process on compiled JavaScript with plain `node` (the production build and `tsc -b bench` first), as the Docker image runs',
    'the worker; waq is its real worker entry point. The "Node" column is that process, the "Chromium" column every process below it',
    tooling > 0 ? `(an esbuild service, up to ${fmt(tooling, 0)} MB, is excluded from all figures: a deployment has none).` : '(no other process was found in the trees).',
    privateShellNote(shell),
    '',
    table(
      ['Variant', 'Launch', 'Chromium tree PSS', 'Chromium USS', 'Chromium processes', 'Node PSS', 'Node USS', 'Node + Chromium PSS', 'Samples shared'],
      VARIANTS.map((v) => [
        v.label,
        v.launch,
        `${fmtSummary(stat(v.key, browser), 0)} MB`,
        `${fmtSummary(stat(v.key, (s) => s.browserUss / MB), 0)} MB`,
        fmtSummary(stat(v.key, (s) => s.browserProcesses), 0),
        `${fmtSummary(stat(v.key, node), 0)} MB`,
        `${fmtSummary(stat(v.key, (s) => s.nodeUss / MB), 0)} MB`,
        `${fmtSummary(stat(v.key, total), 0)} MB`,
        `${(samples.get(v.key) ?? []).filter((s) => s.outsiders > 0).length} of ${(samples.get(v.key) ?? []).length}`,
      ]),
    ),
    '',
    'USS (`Private_Clean` + `Private_Dirty`) counts only pages no other process maps: a floor that other processes cannot move.',
    `"Samples shared": samples taken while a Chromium of the same binary outside the tree was running (another test run; waited up to ${OUTSIDER_WAIT_MS / 1_000} s`,
    'for it to go). Such a process takes its share of the binary\'s pages, so those samples\' PSS is lower than alone. The Node',
    'processes share the `node` binary with every other Node process on the machine the same way, on both sides alike.',
    '',
    table(['Metric', 'waq', 'Baseline', 'waq / baseline'], [comparisonRow(whole), comparisonRow(chromiumOnly)]),
    '',
    `Target ≤ 0.5× (waq's worker + Chromium vs the plain client's Node + Chromium): **${met ? 'met' : 'missed'}** (${fmt(ratio, 2)}×).${
      met ? '' : ` The Chromium trees alone compare at ${fmt(chromiumOnly.waq.median / chromiumOnly.baseline.median, 2)}×; the worker's Node process (${fmt(whole.waq.median - chromiumOnly.waq.median, 0)} MB against the plain client's ${fmt(whole.baseline.median - chromiumOnly.baseline.median, 0)} MB) carries Redis connections, BullMQ, pino, prom-client and the rest of the worker, and the target counts it in full. ${nodeBudget(whole, chromiumOnly, stat('consolidated', browser))}`
    }`,
    '',
    'What each launch choice does, and its risk:',
    '',
    ...VARIANTS.map((v) => `- **${v.label}**: ${v.effect}.`),
  ].join('\n');
  return { title: '4. Memory of one READY session (real Chromium, simulator)', body, verdicts: [verdict(whole, { text: '≤ 0.5×', met }), verdict(chromiumOnly, undefined)] };
}
