/** Composition root of the worker: config → dependencies → stand by / own the session → shutdown. */
import { createLogger, createShutdown, loadConfigOrExit, WAQ_VERSION } from '@waq/shared';

import { chooseDriver } from './create-driver.js';
import { createHealthServer } from './health-server.js';
import { newWorkerId } from './lease.js';
import { WorkerMetrics } from './metrics.js';
import { printTerminalQr } from './terminal-qr.js';
import { startSessionOwner } from './worker.js';

const config = loadConfigOrExit('worker');
const logger = createLogger({ service: 'worker', version: WAQ_VERSION, level: config.LOG_LEVEL, format: config.LOG_FORMAT });
const shutdown = createShutdown({ logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
shutdown.installSignalHandlers();
// whatsapp-web.js lets some page-side promises reject unobserved (e.g. while a page reloads after a
// logout); Node would exit on them. Log them instead: the watchdog notices a client that really broke.
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection; continuing'));
const workerId = newWorkerId();

const driver = await chooseDriver(config, logger);
const drawQr = config.LOG_FORMAT === 'pretty' || (config.LOG_FORMAT === 'auto' && process.stdout.isTTY);
const running = startSessionOwner({
  redisUrl: config.REDIS_URL,
  prefix: config.WAQ_PREFIX,
  config: { ...config, SESSION_DIR: driver.sessionDir },
  workerId,
  createDriver: driver.createDriver,
  logger,
  metrics: (queues) => new WorkerMetrics(queues),
  ...(drawQr ? { onQrCode: (value: string) => void printTerminalQr(value) } : {}),
});
const { owner, redis, metrics } = running;

const health = createHealthServer({
  redis,
  version: WAQ_VERSION,
  registry: metrics?.registry,
  health: () => ({ role: owner.ownership === undefined ? 'standby' : 'owner', ...(owner.ownership ? { sessionStatus: owner.ownership.session.status } : {}) }),
});
shutdown.add('health server', () => new Promise<void>((resolve) => health.close(() => resolve())));
health.on('error', (error: NodeJS.ErrnoException) => {
  logger.fatal({ err: error }, error.code === 'EADDRINUSE' ? `port ${config.WORKER_PORT} is in use: stop what holds it or set WORKER_PORT` : 'health server failed');
  void shutdown.run('health server error').then(() => process.exit(1));
});
// Steps run last-registered first: the session stops (active job finished, WhatsApp closed, lease
// released, connections closed) while the health server still answers.
shutdown.add('session', () => running.stop());
health.listen(config.WORKER_PORT, config.WORKER_HOST, () => logger.info({ port: config.WORKER_PORT }, `worker health on http://localhost:${config.WORKER_PORT}/healthz`));

logger.info({ workerId, sessionId: config.SESSION_ID }, 'worker started');
