/** Composition root of the API: config → dependencies → listen → shutdown. */
import { createServer } from 'node:http';

import { createLogger, createRedis, createShutdown, exitOnConfigError, loadConfigOrExit, WAQ_VERSION } from '@waq/shared';

import { resolveApiKey } from './api-key.js';
import { createApi } from './app.js';

const config = loadConfigOrExit('api');
const logger = createLogger({ service: 'api', version: WAQ_VERSION, level: config.LOG_LEVEL, format: config.LOG_FORMAT });
const shutdown = createShutdown({ logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
shutdown.installSignalHandlers();

const apiKey = await resolveApiKey(config.API_KEY, config.DATA_DIR).catch((error: unknown) => exitOnConfigError('api', error));
if (apiKey.source === 'generated') {
  // Deliberately not through the logger, which redacts keys: this is the one time the key is shown.
  process.stderr.write(`\nwaq: generated an API key (stored in ${apiKey.file}):\n\n    ${apiKey.key}\n\n`);
}
logger.info({ source: apiKey.source, file: apiKey.file }, 'API key loaded');

const redis = createRedis({ url: config.REDIS_URL, role: 'producer', name: 'waq-api', logger });
shutdown.add('redis', () => redis.quit().then(() => undefined, () => redis.disconnect()));

const api = createApi({ config, redis, logger, version: WAQ_VERSION, apiKey: apiKey.key });
shutdown.add('queues and event streams', () => api.close());

const server = createServer(api.app);
shutdown.add('http server', () => new Promise<void>((resolve) => {
  server.close(() => resolve());
  server.closeIdleConnections();
  api.endStreams();
}));
server.on('error', (error: NodeJS.ErrnoException) => {
  logger.fatal({ err: error }, error.code === 'EADDRINUSE' ? `port ${config.API_PORT} is in use: stop what holds it or set API_PORT` : 'HTTP server failed');
  void shutdown.run('http server error').then(() => process.exit(1));
});
server.listen(config.API_PORT, config.API_HOST, () => {
  logger.info({ host: config.API_HOST, port: config.API_PORT }, `API listening on http://localhost:${config.API_PORT}/ (status page, /docs, /admin/queues)`);
});
