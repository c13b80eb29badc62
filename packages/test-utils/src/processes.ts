/**
 * Spawning real processes for E2E tests: waq's apps run from source (`node --conditions=waq-source
 * --import tsx`) or from the production build (`node apps/<app>/dist/main.js`), their output is
 * collected line by line, and every process spawned is killed by `killSpawned()` (call it in
 * `afterEach`/`afterAll`) even when a test fails half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

export interface SpawnedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every line written to stdout and stderr so far. */
  readonly lines: string[];
  /** Resolves with the first line (past or future) matching `pattern`; rejects after `timeoutMs` or on exit. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const spawned = new Set<SpawnedProcess>();

export interface SpawnOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
}

/** Runs a TypeScript entry point of this repository (path relative to the repo root), as `npm start` does. */
export function spawnTs(name: string, entry: string, args: readonly string[] = [], options: SpawnOptions = {}): SpawnedProcess {
  return spawnNode(name, ['--conditions=waq-source', '--import', 'tsx', path.resolve(REPO_ROOT, entry), ...args], options);
}

/**
 * Runs compiled JavaScript of the production build (e.g. `apps/worker/dist/main.js`) with plain `node`,
 * as the Docker image and a systemd unit run it: no tsx loader thread, no transpiling at start. The e2e
 * layer's global setup (`buildForProduction`) makes the build current before any test runs.
 */
export function spawnBuilt(name: string, entry: string, args: readonly string[] = [], options: SpawnOptions = {}): SpawnedProcess {
  return spawnNode(name, [path.resolve(REPO_ROOT, entry), ...args], options);
}

function spawnNode(name: string, nodeArgs: readonly string[], { env = {}, cwd = REPO_ROOT }: SpawnOptions): SpawnedProcess {
  const child = spawn(process.execPath, nodeArgs, {
    cwd,
    env: { ...process.env, LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  const lines: string[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (process.env['WAQ_TEST_VERBOSE'] === '1') process.stderr.write(`[${name}] ${line}\n`);
      for (const waiter of waiters) {
        if (waiter.pattern.test(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    });
  }
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const proc: SpawnedProcess = {
    name,
    child,
    pid: child.pid,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const waiter = { pattern, resolve: (line: string) => (clearTimeout(timer), resolve(line)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${lines.slice(-15).join('\n')}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(({ code, signal }) => {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}, signal ${signal}) before printing ${pattern}; last lines:\n${lines.slice(-15).join('\n')}`));
        });
      });
    },
    async stop(graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
  spawned.add(proc);
  void exited.then(() => spawned.delete(proc));
  return proc;
}

/** Kills (SIGKILL) every process spawned by this test file that is still running. */
export async function killSpawned(): Promise<void> {
  const running = [...spawned];
  for (const proc of running) proc.child.kill('SIGKILL');
  await Promise.all(running.map((proc) => proc.exited));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface SandboxWorkerEnvOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  /** The simulator's phone server. */
  readonly simUrl: string;
  /** A temp dir: the session profiles and the web-version cache go below it. */
  readonly root: string;
  readonly workerPort: number;
  /** @defaultValue 4000 */
  readonly leaseTtlMs?: number;
}

/**
 * Environment of a worker process for E2E tests: sandbox mode against the simulator, short lease and
 * job lock (crash recovery in seconds, not half a minute), quick reconnects, no send pacing, budgets or warm-up.
 */
export function sandboxWorkerEnv({ redisUrl, prefix, simUrl, root, workerPort, leaseTtlMs = 4_000 }: SandboxWorkerEnvOptions): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    WAQ_PREFIX: prefix,
    WAQ_SANDBOX: 'true',
    WAQ_SIM_URL: simUrl,
    SESSION_DIR: path.join(root, 'auth'),
    WWEBJS_CACHE_DIR: path.join(root, 'cache'),
    WORKER_PORT: String(workerPort),
    LEASE_TTL_MS: String(leaseTtlMs),
    JOB_LOCK_MS: '3000',
    RECONNECT_BASE_MS: '200',
    RECONNECT_MAX_MS: '2000',
    SEND_INTERVAL_MS: '0',
    SEND_JITTER_MS: '0',
    // No budgets and no warm-up unless a test is about them: the scenarios send hundreds at once.
    SEND_DAILY_CAP: '0',
    SEND_NEW_CHATS_PER_DAY: '0',
    SEND_WARMUP_MESSAGES: '0',
  };
}
