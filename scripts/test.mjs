#!/usr/bin/env node
// @ts-check
/**
 * `npm test [-- <vitest args>]`: the same bootstrap as `npm start`, then, in order:
 *   type-check (`tsc -b`, tests included) → import cycles (`pnpm run check:cycles`) →
 *   vitest `--project unit` → `--project redis` → `--project e2e` → `--project cluster` (the Redis tests
 *   and the session-store takeover again, on a throwaway 3-master Redis Cluster the layer starts itself:
 *   it needs `redis-server` and `redis-cli` whatever Redis the other layers use).
 * Extra arguments go to each vitest run (e.g. `npm test -- packages/shared`); a layer without matching
 * test files passes.
 *
 * Failure policy: a failed bootstrap (pnpm, install, Chromium, Redis) stops at once — nothing after it
 * could run meaningfully. Every later step runs even when an earlier one failed (vitest does not need
 * the type-check to pass, and one run shows every problem); the exit code is 1 when any step failed.
 * Ctrl+C / SIGTERM: the running step is interrupted, later ones are skipped, exit 128+signo.
 *
 * Redis for the redis/e2e layers (passed to vitest as `REDIS_URL`): `REDIS_URL` when set (it must
 * answer PING, else the run stops at the bootstrap); else
 * `redis://127.0.0.1:6379` when it answers PING; else a throwaway `redis-server` (no persistence, temp
 * dir, free port) for the duration of the run. `WAQ_TEST_REDIS_PROBE_URL` replaces the 6379 URL that is
 * probed (to exercise the throwaway path on a machine whose 6379 answers).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromiumRequirement, FULL_CHROMIUM } from './lib/chromium.mjs';
import { UserError } from './lib/errors.mjs';
import { isExecutable, which } from './lib/executables.mjs';
import { createLog, formatDuration, paint } from './lib/log.mjs';
import { checkNodeVersion } from './lib/node-version.mjs';
import { ROOT } from './lib/paths.mjs';
import { ensureDependencies, resolvePnpm } from './lib/pnpm.mjs';
import { Supervisor } from './lib/processes.mjs';
import { promtoolRequirement } from './lib/promtool.mjs';
import { makeTempRedisDir, pingRedis, redactUrl, redisServerRequirement, startLocalRedis, stopLocalRedis } from './lib/redis.mjs';
import { onStopSignals, signalExitCode } from './lib/signals.mjs';
import { ensureSystemPackages } from './lib/system-packages.mjs';

const log = createLog('test');
const env = process.env;
const vitestArgs = process.argv.slice(2);
const supervisor = new Supervisor();
// Last line of defence: whatever way this script ends (even a bug that throws), no child survives it.
process.on('exit', () => supervisor.killAll());

/** @typedef {{ label: string, status: 'passed' | 'failed' | 'skipped', ms: number, note?: string, digest?: string }} StepResult */
/** @type {StepResult[]} */
const results = [];
/** @type {import('./lib/processes.mjs').Service | undefined} the step running now */
let current;
/** @type {NodeJS.Signals | undefined} */
let interruptedBy;
/** @type {{ service: import('./lib/processes.mjs').Service, dir: string } | undefined} */
let throwaway;

onStopSignals({
  graceful: (signal) => {
    interruptedBy = signal;
    log.warn(`${signal}: interrupting ${current ? 'the running step' : 'the run'} (press Ctrl+C again to force)`);
    current?.signal(signal);
  },
  force: (signal) => {
    log.warn(`${signal} again: killing everything now.`);
    supervisor.killAll();
    if (throwaway) fs.rmSync(throwaway.dir, { recursive: true, force: true });
    process.exit(signalExitCode(signal));
  },
});

let exitCode = 0;
try {
  const bootstrapStart = Date.now();
  /** @type {{ pnpm: string, redisUrl: string } | undefined} */
  let ready;
  try {
    ready = await bootstrap();
    results.push({ label: 'bootstrap', status: 'passed', ms: Date.now() - bootstrapStart });
  } catch (error) {
    log.error(error instanceof UserError ? error.message : `Unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    results.push({ label: 'bootstrap', status: 'failed', ms: Date.now() - bootstrapStart, note: 'later steps not run' });
  }
  if (ready) await runSteps(ready.pnpm, ready.redisUrl);
} finally {
  if (throwaway) {
    await stopLocalRedis(supervisor, throwaway.service);
    fs.rmSync(throwaway.dir, { recursive: true, force: true });
  }
  const leftovers = await supervisor.sweep();
  if (leftovers.length > 0) log.warn(`Killed processes the tests left behind: ${leftovers.map((p) => `${p.comm}(${p.pid})`).join(', ')}`);
  supervisor.stopSampling();
  exitCode = summary();
}
process.exit(exitCode);

async function bootstrap() {
  checkNodeVersion();
  const pnpm = resolvePnpm(log);
  await ensureDependencies(pnpm, log);

  // Which Redis: decided before the system packages, since only a throwaway one needs redis-server.
  /** @type {string | undefined} */
  let redisUrl;
  if (env.REDIS_URL) {
    redisUrl = env.REDIS_URL;
    const answer = await pingRedis(redisUrl, 3_000);
    if (!answer.ok) {
      // Fail fast: against a dead Redis every Redis test would retry until its timeout (minutes of noise).
      throw new UserError(
        `Redis at REDIS_URL=${redactUrl(redisUrl)} does not answer PING (${answer.reason}).\n` +
          'Start that Redis, or unset REDIS_URL to let the tests use 127.0.0.1:6379 or a throwaway redis-server.',
      );
    }
    log.info(`Redis: ${redactUrl(redisUrl)} (REDIS_URL)`);
  } else {
    const probe = env.WAQ_TEST_REDIS_PROBE_URL || 'redis://127.0.0.1:6379';
    const answer = await pingRedis(probe);
    if (answer.ok) {
      redisUrl = probe;
      log.info(`Redis: ${redactUrl(probe)} (answers PING)`);
    } else {
      log.info(`Redis: nothing answers at ${redactUrl(probe)} (${answer.reason}): starting a throwaway redis-server`);
    }
  }

  const found = await ensureSystemPackages(
    [
      chromiumRequirement(env),
      // The worker runs on either Chromium, but the tests need the full one too whatever the worker uses:
      // the benchmarks' plain whatsapp-web.js baseline and the status page's browser test launch it.
      {
        name: 'chromium (the full browser, for the benchmarks and the browser tests)',
        packages: ['chromium'],
        find: () => (isExecutable(FULL_CHROMIUM) ? FULL_CHROMIUM : undefined),
        help: `Install it: sudo apt-get install chromium (the tests launch ${FULL_CHROMIUM}).`,
      },
      // Always: the cluster layer starts its own Redis Cluster, and some Redis tests restart a Redis of their own.
      redisServerRequirement(),
      {
        name: 'redis-cli',
        packages: ['redis-tools'],
        find: () => which('redis-cli'),
        help: 'Install it: sudo apt-get install redis-tools (the cluster test layer creates its cluster with redis-cli --cluster create).',
      },
      {
        name: 'docker-compose',
        packages: ['docker-compose'],
        find: () => which('docker-compose'),
        help: 'Install it (sudo apt-get install docker-compose): the tests validate docker-compose.yml with it and fail without it.',
        whenMissing: 'warn',
        noRecommends: true, // its Recommends pull in the whole Docker engine; validating the file needs none of it
      },
      promtoolRequirement(),
    ],
    log,
  );
  log.info(`Chromium: ${found.get('Chromium')}${env.CHROMIUM_PATH ? ' (CHROMIUM_PATH)' : ''}`);

  if (!redisUrl) {
    const dir = makeTempRedisDir();
    const redisServer = /** @type {string} */ (found.get('redis-server'));
    const started = await startLocalRedis({ supervisor, redisServer, dir, persistent: false });
    throwaway = { service: started.service, dir };
    redisUrl = started.url;
    log.info(`Redis: throwaway ${redisUrl} (no persistence, stopped after the run)`);
  }
  return { pnpm, redisUrl };
}

/**
 * @param {string} pnpm
 * @param {string} redisUrl
 */
async function runSteps(pnpm, redisUrl) {
  // Each vitest run also writes a digest of its failures (tests/setup/failure-digest-reporter.ts), which
  // the summary repeats: the tail of a long log then still says which test failed, and why.
  const digestDir = fs.mkdtempSync(path.join(os.tmpdir(), 'waq-test-digest-'));
  process.on('exit', () => fs.rmSync(digestDir, { recursive: true, force: true }));
  const reporters = ['--reporter=default', '--reporter=./tests/setup/failure-digest-reporter.ts'];
  const vitest = (/** @type {string} */ project) => ['exec', 'vitest', 'run', '--project', project, '--passWithNoTests', ...reporters, ...vitestArgs];
  /** @type {{ label: string, args: string[], digest?: string }[]} */
  const steps = [
    { label: 'type-check (tsc -b)', args: ['exec', 'tsc', '-b'] },
    { label: 'import cycles (dpdm)', args: ['run', 'check:cycles'] },
    ...['unit', 'redis', 'e2e', 'cluster'].map((project) => ({ label: `vitest ${project}`, args: vitest(project), digest: path.join(digestDir, `${project}.txt`) })),
  ];
  for (const step of steps) {
    if (interruptedBy) {
      results.push({ label: step.label, status: 'skipped', ms: 0, note: `interrupted by ${interruptedBy}` });
      continue;
    }
    log.info(paint('bold', `▶ ${step.label}`));
    const started = Date.now();
    // Not detached: the terminal's Ctrl+C reaches vitest directly, as when it runs on its own.
    current = supervisor.spawn(step.label, pnpm, step.args, {
      cwd: ROOT,
      env: { ...env, REDIS_URL: redisUrl, ...(step.digest === undefined ? {} : { WAQ_TEST_DIGEST: step.digest }) },
      output: 'inherit',
      detached: false,
    });
    const exit = await current.exited;
    current = undefined;
    const ok = exit.code === 0;
    const digest = !ok && step.digest !== undefined && fs.existsSync(step.digest) ? fs.readFileSync(step.digest, 'utf8').trimEnd() : '';
    results.push({
      label: step.label,
      status: ok ? 'passed' : 'failed',
      ms: Date.now() - started,
      ...(ok ? {} : { note: exit.error ? exit.error.message : exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}` }),
      ...(digest === '' ? {} : { digest }),
    });
  }
}

/** Prints one line per step and returns the exit code. */
function summary() {
  const width = Math.max(...results.map((r) => r.label.length));
  const marks = { passed: paint('green', '✓'), failed: paint('red', '✗'), skipped: paint('grey', '-') };
  log.info(paint('bold', 'Summary'));
  for (const result of results) {
    const time = result.status === 'skipped' ? '' : formatDuration(result.ms);
    log.info(`  ${marks[result.status]} ${result.label.padEnd(width)}  ${time.padStart(9)}${result.note ? `  ${result.note}` : ''}`);
  }
  for (const result of results.filter((r) => r.digest !== undefined)) {
    log.error(`${result.label}: what failed`);
    for (const line of (result.digest ?? '').split('\n')) log.error(line);
  }
  const failed = results.filter((r) => r.status === 'failed').map((r) => r.label);
  const total = formatDuration(results.reduce((sum, r) => sum + r.ms, 0));
  if (interruptedBy) {
    log.warn(`Interrupted by ${interruptedBy} after ${total}.`);
    return signalExitCode(interruptedBy);
  }
  if (failed.length > 0) {
    log.error(`FAILED: ${failed.join(', ')} (${total})`);
    return 1;
  }
  log.info(paint('green', `All steps passed (${total}).`));
  return 0;
}
