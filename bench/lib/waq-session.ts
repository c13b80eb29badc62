/**
 * waq's worker side composed in-process by the worker's own factory (`startSessionOwner`, as
 * apps/worker/src/main.ts does), with production config from
 * `loadConfig()` except what a case overrides (pacing). Works with the fake driver and the real one.
 */
import { Writable } from 'node:stream';

import {
  createLogger,
  createProducer,
  createRedis,
  decodeState,
  loadConfig,
  sessionKeys,
  SessionRegistry,
  type Config,
  type Logger,
  type Producer,
  type RedisClient,
  type SessionKeys,
  type SessionStatus,
} from '@waq/shared';

import type { DriverFactory } from '../../apps/worker/src/driver/driver.js';
import { startSessionOwner, type RunningOwner } from '../../apps/worker/src/worker.js';
import { pollUntil } from './stats.js';

/**
 * Logs at `info` (production's level) into a sink: pino still serialises and redacts every line, so
 * the cost of logging is in the figures, but nothing reaches the terminal.
 */
export function sinkLogger(service: string): Logger {
  return createLogger({ service, version: 'bench', level: 'info', format: 'json', destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
}

export interface SessionScope {
  readonly url: string;
  readonly prefix: string;
  readonly sessionDir: string;
  /** Extra environment for `loadConfig()`, e.g. `{ SEND_INTERVAL_MS: '0' }`. */
  readonly env?: Readonly<Record<string, string>>;
}

export function scopeConfig(scope: SessionScope): Config {
  return loadConfig({ REDIS_URL: scope.url, WAQ_PREFIX: scope.prefix, SESSION_DIR: scope.sessionDir, LOG_LEVEL: 'info', ...scope.env });
}

export type { RunningOwner } from '../../apps/worker/src/worker.js';

let workerCount = 0;

export function startOwner(scope: SessionScope, createDriver: DriverFactory, logger: Logger = sinkLogger('worker')): RunningOwner {
  const config = scopeConfig(scope);
  workerCount += 1;
  const workerId = `bench-worker-${process.pid}-${workerCount}`;
  return startSessionOwner({ redisUrl: scope.url, prefix: scope.prefix, connectionName: workerId, config, workerId, createDriver, logger });
}

/** The producer side (what the API and other services use) and a plain connection to read state. */
export interface SessionClient {
  readonly producer: Producer;
  readonly keys: SessionKeys;
  readonly observer: RedisClient;
  status(): Promise<SessionStatus | undefined>;
  waitForStatus(status: SessionStatus, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function sessionClient(scope: SessionScope): Promise<SessionClient> {
  const config = scopeConfig(scope);
  const observer = createRedis({ url: scope.url, role: 'consumer', name: 'bench-observer' });
  const producerRedis = createRedis({ url: scope.url, role: 'producer', name: 'bench-producer' });
  await Promise.all([observer.ping(), new Promise<void>((resolve) => (producerRedis.status === 'ready' ? resolve() : producerRedis.once('ready', () => resolve())))]);
  // As a worker does on an installation's first start: the configured session is registered.
  await new SessionRegistry(observer, scope.prefix).seed(config.SESSION_ID);
  const producer = createProducer({
    redis: producerRedis,
    prefix: scope.prefix,
    session: config.SESSION_ID,
    sendMaxAttempts: config.SEND_MAX_ATTEMPTS,
    retentionSeconds: config.MESSAGE_RETENTION_S,
  });
  await producer.queues.outbox.waitUntilReady();
  const keys = sessionKeys({ prefix: scope.prefix, sessionId: config.SESSION_ID });
  const status = async (): Promise<SessionStatus | undefined> => decodeState(await observer.get(keys.state))?.status;
  return {
    producer,
    keys,
    observer,
    status,
    async waitForStatus(wanted, timeoutMs) {
      await pollUntil(async () => (await status()) === wanted, { timeoutMs, intervalMs: 10, what: `session status ${wanted}` });
    },
    async close() {
      await producer.close();
      await producerRedis.quit().catch(() => producerRedis.disconnect());
      await observer.quit().catch(() => observer.disconnect());
    },
  };
}
