/** Composition root of the worker: config → driver → a pool of sessions → health server → shutdown. */
import { createLogger, createShutdown, loadConfigOrExit, WAQ_VERSION } from '@waq/shared';

import { chooseDriver } from './create-driver.js';
import { createWorker } from './create-worker.js';
import { createHealthServer } from './health-server.js';
import { printTerminalQr } from './terminal-qr.js';

const config = loadConfigOrExit('worker');
const logger = createLogger({ service: 'worker', version: WAQ_VERSION, level: config.LOG_LEVEL, format: config.LOG_FORMAT });
const shutdown = createShutdown({ logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
shutdown.installSignalHandlers();
// whatsapp-web.js lets some page-side promises reject unobserved (e.g. while a page reloads after a
// logout); Node would exit on them. Log them instead: the watchdog notices a client that really broke.
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection; continuing'));

const driver = await chooseDriver(config, logger);
const drawQr = config.LOG_FORMAT === 'pretty' || (config.LOG_FORMAT === 'auto' && process.stdout.isTTY);
const worker = createWorker(config, {
  logger,
  createDriver: driver.createDriver,
  sessionDir: driver.sessionDir,
  ...(drawQr ? { pool: { ownerOptions: { onQrCode: (value: string) => void printTerminalQr(value) } } } : {}),
});

const health = createHealthServer({ redis: worker.redis, version: WAQ_VERSION, registry: worker.metrics.registry, health: worker.health });
shutdown.add('health server', () => new Promise<void>((resolve) => health.close(() => resolve())));
health.on('error', (error: NodeJS.ErrnoException) => {
  logger.fatal({ err: error }, error.code === 'EADDRINUSE' ? `port ${config.WORKER_PORT} is in use: stop what holds it or set WORKER_PORT` : 'health server failed');
  void shutdown.run('health server error').then(() => process.exit(1));
});
// Steps run last-registered first: the sessions stop (active jobs finished, WhatsApp closed, leases
// released, connections closed) while the health server still answers.
shutdown.add('sessions', () => worker.stop());
health.listen(config.WORKER_PORT, config.WORKER_HOST, () => logger.info({ port: config.WORKER_PORT }, `worker health on http://localhost:${config.WORKER_PORT}/healthz`));

logger.info({ workerId: worker.workerId, capacity: config.WORKER_MAX_SESSIONS }, 'worker started: running the sessions of the registry');
