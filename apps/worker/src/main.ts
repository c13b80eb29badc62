/** Composition root of the worker: config → dependencies → start → shutdown. */
import { createLogger, createRedis, createShutdown, loadConfig, WAQ_VERSION } from '@waq/shared';

import { createHealthServer } from './health-server.js';

const config = loadConfig();
const logger = createLogger({ service: 'worker', version: WAQ_VERSION, level: config.LOG_LEVEL, format: config.LOG_FORMAT });
const shutdown = createShutdown({ logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
shutdown.installSignalHandlers();

const redis = createRedis({ url: config.REDIS_URL, role: 'consumer', name: 'waq-worker', logger });
shutdown.add('redis', () => redis.quit().then(() => undefined, () => redis.disconnect()));

const health = createHealthServer({ redis, version: WAQ_VERSION });
shutdown.add('health server', () => new Promise<void>((resolve) => health.close(() => resolve())));
health.on('error', (error: NodeJS.ErrnoException) => {
  logger.fatal({ err: error }, error.code === 'EADDRINUSE' ? `port ${config.WORKER_PORT} is in use: stop what holds it or set WORKER_PORT` : 'health server failed');
  void shutdown.run('health server error').then(() => process.exit(1));
});
health.listen(config.WORKER_PORT, config.WORKER_HOST, () => {
  logger.info({ port: config.WORKER_PORT, sessionId: config.SESSION_ID }, `worker health on http://localhost:${config.WORKER_PORT}/healthz`);
});
