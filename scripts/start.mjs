#!/usr/bin/env node
// @ts-check
/**
 * `npm start`: everything waq needs on one machine, in the foreground.
 *
 * 1. bootstrap: pnpm (pinned, via npx), `pnpm install --frozen-lockfile` when node_modules is missing or
 *    stale, Chromium and — without `REDIS_URL` — redis-server (apt-get when root, else a clear message);
 * 2. Redis: `REDIS_URL`, or the embedded default: a `redis-server` child with AOF in `DATA_DIR/redis`
 *    on a free loopback port (data kept across runs);
 * 3. with `WAQ_SANDBOX=1`: the simulator's phone server, its account kept in `DATA_DIR/sandbox-phone`
 *    (see lib/sandbox.mjs);
 * 4. worker and API from source (tsx), their output tagged [worker] / [api];
 * 5. once the API answers /healthz: the URL and the API key.
 * Ctrl+C/SIGTERM: SIGTERM to worker and API, wait (the worker closes Chromium), then simulator and
 * Redis; a second Ctrl+C kills everything at once. Any child dying unexpectedly stops the rest, exit 1.
 *
 * Variables read here (the apps read the rest through their own config, with the same defaults):
 * REDIS_URL, API_HOST, API_PORT, WORKER_HOST, WORKER_PORT, API_KEY, DATA_DIR, CHROMIUM_PATH,
 * SHUTDOWN_TIMEOUT_MS, WAQ_SANDBOX, LOG_FORMAT; and, for testing this script, WAQ_API_ENTRY,
 * WAQ_WORKER_ENTRY, WAQ_SIM_ENTRY (entry files, relative to the repo root) and WAQ_START_TIMEOUT_MS
 * (how long to wait for /healthz, default 120000).
 */
import fs from 'node:fs';
import path from 'node:path';

import { chromiumRequirement } from './lib/chromium.mjs';
import { UserError } from './lib/errors.mjs';
import { acquireLock } from './lib/lockfile.mjs';
import { createLog, formatDuration, paint, useColour } from './lib/log.mjs';
import { checkNodeVersion } from './lib/node-version.mjs';
import { fromRoot, ROOT, shown } from './lib/paths.mjs';
import { ensureDependencies, resolvePnpm } from './lib/pnpm.mjs';
import { assertPortFree, parsePort, reachableHost } from './lib/ports.mjs';
import { Supervisor, waitOrKill } from './lib/processes.mjs';
import { pingRedis, redactUrl, redisServerRequirement, startLocalRedis, stopLocalRedis } from './lib/redis.mjs';
import { isTrue, startSimulator } from './lib/sandbox.mjs';
import { onStopSignals, signalExitCode } from './lib/signals.mjs';
import { ensureSystemPackages } from './lib/system-packages.mjs';
import { waitForFile, waitForHttpOk } from './lib/wait.mjs';

const log = createLog('start');
const env = process.env;

const supervisor = new Supervisor();
/** Aborted when stopping: every wait gives up. */
const stopping = new AbortController();
/** @type {Array<() => void>} */
const releases = [];
/** @type {{ worker?: import('./lib/processes.mjs').Service, api?: import('./lib/processes.mjs').Service, sim?: import('./lib/processes.mjs').Service, redis?: import('./lib/processes.mjs').Service }} */
const services = {};
/** @type {Promise<void> | undefined} set once a graceful stop has begun */
let stopped;
// Last line of defence: whatever way this script ends (even a bug that throws), no child survives it.
process.on('exit', () => supervisor.killAll());

try {
  await main();
} catch (error) {
  if (error instanceof UserError) log.error(error.message);
  else log.error(`Unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  await stop(1);
}

async function main() {
  checkNodeVersion();
  const apiHost = env.API_HOST || '0.0.0.0';
  const apiPort = parsePort(env.API_PORT, 3000, 'API_PORT');
  const workerHost = env.WORKER_HOST || '0.0.0.0';
  const workerPort = parsePort(env.WORKER_PORT, 3001, 'WORKER_PORT');
  const dataDir = fromRoot(env.DATA_DIR || './.data');
  const healthTimeoutMs = Number(env.WAQ_START_TIMEOUT_MS) || 120_000;
  const workerEntry = entry(env.WAQ_WORKER_ENTRY, 'apps/worker/src/main.ts');
  const apiEntry = entry(env.WAQ_API_ENTRY, 'apps/api/src/main.ts');

  // 1. Bootstrap.
  const pnpm = resolvePnpm(log);
  await ensureDependencies(pnpm, log);
  const found = await ensureSystemPackages(
    [chromiumRequirement(env), ...(env.REDIS_URL ? [] : [redisServerRequirement()])],
    log,
  );
  log.info(`Chromium: ${found.get('Chromium')}${env.CHROMIUM_PATH ? ' (CHROMIUM_PATH)' : ''}`);
  await assertPortFree(apiPort, apiHost, 'API_PORT');
  await assertPortFree(workerPort, workerHost, 'WORKER_PORT');

  onStopSignals({
    graceful: (signal) => {
      log.info(`${signal}: stopping (press Ctrl+C again to force)`);
      void stop(signalExitCode(signal));
    },
    force: (signal) => force(signal),
  });

  // 2. Redis.
  /** @type {string} */
  let redisUrl;
  if (env.REDIS_URL) {
    redisUrl = env.REDIS_URL;
    const answer = await pingRedis(redisUrl, 3_000);
    if (answer.ok) log.info(`Redis: ${redactUrl(redisUrl)} (REDIS_URL)`);
    else log.warn(`Redis at REDIS_URL=${redactUrl(redisUrl)} does not answer PING (${answer.reason}); worker and API will keep retrying.\nStart that Redis, or unset REDIS_URL to use the embedded one.`);
  } else {
    const redisDir = path.join(dataDir, 'redis');
    fs.mkdirSync(redisDir, { recursive: true });
    releases.push(acquireLock(path.join(redisDir, 'waq-start.lock'), `The embedded Redis data directory ${shown(redisDir)}`));
    const redisServer = /** @type {string} */ (found.get('redis-server'));
    const started = Date.now();
    const redis = await startLocalRedis({ supervisor, redisServer, dir: redisDir, persistent: true });
    services.redis = redis.service;
    watch(redis.service);
    redisUrl = redis.url;
    log.info(`Redis: embedded, ${redisUrl}, AOF in ${shown(redisDir)} (up in ${formatDuration(Date.now() - started)})`);
  }

  /** @type {NodeJS.ProcessEnv} */
  const childEnv = { ...env, REDIS_URL: redisUrl };
  // The apps log JSON when their stdout is not a terminal, and here it is a pipe: ask for pretty logs
  // (and colours) when *our* output is a terminal.
  if (process.stdout.isTTY && !env.LOG_FORMAT) childEnv.LOG_FORMAT = 'pretty';
  if (useColour && env.FORCE_COLOR === undefined) childEnv.FORCE_COLOR = '1';

  // 3. Sandbox: the simulator's phone server.
  if (isTrue(env.WAQ_SANDBOX)) {
    const sim = await startSimulator({ supervisor, env: childEnv, log, abort: stopping.signal, dataDir });
    if (sim) {
      services.sim = sim.service;
      watch(sim.service);
      childEnv.WAQ_SIM_URL = sim.url;
      log.info(`Simulator: ${sim.url}, its account in ${shown(sim.stateDir)} (delete it to unlink the sandbox session)`);
    }
  }
  if (stopping.signal.aborted) return;

  // 4. Worker and API.
  const nodeArgs = ['--conditions=waq-source', '--import', 'tsx'];
  const started = Date.now();
  services.worker = supervisor.spawn('worker', process.execPath, [...nodeArgs, workerEntry], { cwd: ROOT, env: childEnv });
  watch(services.worker);
  services.api = supervisor.spawn('api', process.execPath, [...nodeArgs, apiEntry], { cwd: ROOT, env: childEnv });
  watch(services.api);

  // 5. Health, then the banner.
  const workerUrl = `http://${hostForUrl(reachableHost(workerHost))}:${workerPort}/healthz`;
  const apiUrl = `http://${hostForUrl(reachableHost(apiHost))}:${apiPort}/healthz`;
  const workerHealthy = waitForHttpOk(workerUrl, { timeoutMs: healthTimeoutMs, abort: stopping.signal }).then((result) => {
    if (stopping.signal.aborted) return;
    if (result.ok) log.info(`worker healthy after ${formatDuration(Date.now() - started)} (${workerUrl})`);
    else notHealthy('worker', workerUrl, result.last, healthTimeoutMs);
  });
  const api = await waitForHttpOk(apiUrl, { timeoutMs: healthTimeoutMs, abort: stopping.signal });
  if (stopping.signal.aborted) return;
  if (!api.ok) return notHealthy('api', apiUrl, api.last, healthTimeoutMs);
  log.info(`api healthy after ${formatDuration(Date.now() - started)} (${apiUrl})`);
  await banner({ apiPort, dataDir, redisUrl, sim: childEnv.WAQ_SIM_URL });
  await workerHealthy;
}

/**
 * @param {string | undefined} override
 * @param {string} fallback
 */
function entry(override, fallback) {
  const file = fromRoot(override || fallback);
  if (!fs.existsSync(file)) throw new UserError(`${shown(file)} does not exist: this checkout is incomplete. Update it (git pull) or restore the file.`);
  return file;
}

/** @param {string} host */
function hostForUrl(host) {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * @param {string} name
 * @param {string} url
 * @param {string} last
 * @param {number} timeoutMs
 */
function notHealthy(name, url, last, timeoutMs) {
  log.error(`${name} did not answer GET ${url} within ${formatDuration(timeoutMs)} (last: ${last}); its output is above, tagged [${name}]. Stopping.`);
  void stop(1);
}

/**
 * @param {{ apiPort: number, dataDir: string, redisUrl: string, sim: string | undefined }} options
 */
async function banner({ apiPort, dataDir, redisUrl, sim }) {
  let key;
  if (env.API_KEY) {
    key = '(from API_KEY)';
  } else {
    // The API writes the key on its first start; the file may appear just after /healthz answers.
    const file = path.join(dataDir, 'api-key');
    const content = await waitForFile(file, { timeoutMs: 5_000, abort: stopping.signal });
    key = content ? `${paint('bold', content)}  (stored in ${shown(file)})` : `not found: the API did not write ${shown(file)}`;
  }
  if (stopping.signal.aborted) return;
  const rule = paint('grey', '─'.repeat(60));
  log.info(
    [
      rule,
      `${paint('bold', 'waq is running')}`,
      `  URL:      ${paint('bold', `http://localhost:${apiPort}/`)}`,
      `  API key:  ${key}`,
      `  Redis:    ${redactUrl(redisUrl)}${env.REDIS_URL ? ' (REDIS_URL)' : ' (embedded)'}`,
      ...(sim ? [`  Sandbox:  simulator at ${sim}`] : []),
      '  Stop:     Ctrl+C',
      rule,
    ].join('\n'),
  );
}

/**
 * A service that exits while we are not stopping is a failure: stop the others, exit 1.
 * @param {import('./lib/processes.mjs').Service} service
 */
function watch(service) {
  void service.exited.then(() => {
    if (stopping.signal.aborted) return;
    log.error(`${service.name} ${service.describeExit()} unexpectedly (its output is above, tagged [${service.name}]); stopping the others.`);
    void stop(1);
  });
}

/**
 * Graceful stop, in reverse start order; idempotent (the first exit code wins).
 * @param {number} exitCode
 */
function stop(exitCode) {
  stopped ??= (async () => {
    stopping.abort();
    const deadline = (Number(env.SHUTDOWN_TIMEOUT_MS) || 30_000) + 15_000;
    const apps = [services.worker, services.api].filter((s) => s?.running);
    if (apps.length > 0) log.info(`Stopping ${apps.map((s) => s?.name).join(' and ')} (up to ${formatDuration(deadline)})…`);
    const results = await Promise.all(
      [services.worker, services.api].map(async (service) => {
        if (!service) return true;
        service.signal('SIGTERM');
        const inTime = await waitOrKill(supervisor, service, deadline);
        if (!inTime) log.warn(`${service.name} did not stop within ${formatDuration(deadline)}: killed it.`);
        return inTime;
      }),
    );
    if (services.sim) {
      services.sim.signal('SIGTERM');
      await waitOrKill(supervisor, services.sim, 10_000);
    }
    if (services.redis) {
      await stopLocalRedis(supervisor, services.redis);
    }
    await finish(exitCode === 0 && results.includes(false) ? 1 : exitCode);
  })();
  return stopped;
}

/** @param {NodeJS.Signals} signal */
function force(signal) {
  log.warn(`${signal} again: killing everything now.`);
  const killed = supervisor.killAll();
  if (killed.length > 0) log.warn(`Killed ${killed.map((p) => `${p.comm}(${p.pid})`).join(', ')}`);
  void finish(signalExitCode(signal), 1_000);
}

/**
 * @param {number} exitCode
 * @param {number} [graceMs] how long leftovers get to exit by themselves before they are killed
 */
async function finish(exitCode, graceMs) {
  const leftovers = await supervisor.sweep(graceMs);
  if (leftovers.length > 0) log.warn(`Killed leftover processes: ${leftovers.map((p) => `${p.comm}(${p.pid})`).join(', ')}`);
  supervisor.stopSampling();
  for (const release of releases.splice(0)) release();
  if (exitCode === 0 || exitCode > 128) log.info('Stopped.');
  process.exit(exitCode);
}
