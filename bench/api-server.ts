/**
 * Child process for the API ingest case: serves either waq's real API (`createApi`, as apps/api/src/main.ts
 * composes it) or the baseline, a bare Express 5 route doing only `queue.add`. The load generator runs in
 * the parent, so it does not share this event loop. Prints `{"url": …}` once listening; exits on SIGTERM.
 *
 *   node --conditions=waq-source --import tsx bench/api-server.ts <waq|baseline> <redisUrl> <prefix>
 */
import { randomUUID } from 'node:crypto';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createRedis, jobCatalog, loadConfig, sessionKeys, QUEUE_NAMES } from '@waq/shared';
import { Queue } from 'bullmq';
import express from 'express';

import { createApi } from '../apps/api/src/app.js';
import { BENCH_API_KEY } from './lib/child.js';
import { sinkLogger } from './lib/waq-session.js';

const [kind, redisUrl, prefix] = process.argv.slice(2);
if ((kind !== 'waq' && kind !== 'baseline') || redisUrl === undefined || prefix === undefined) {
  throw new Error('usage: api-server.ts <waq|baseline> <redisUrl> <prefix>');
}

// Files by URL come from the bench's own server on 127.0.0.1 (the media case).
const config = loadConfig({ REDIS_URL: redisUrl, WAQ_PREFIX: prefix, API_KEY: BENCH_API_KEY, LOG_LEVEL: 'info', WEBHOOK_ALLOW_PRIVATE: 'true' });
// Both sides use the API's fail-fast producer connection policy.
const redis = createRedis({ url: redisUrl, role: 'producer', name: `bench-api-${kind}` });
await new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));

let listener: RequestListener;
let close: () => Promise<void>;
if (kind === 'waq') {
  const api = createApi({ config, redis, logger: sinkLogger('api'), version: 'bench', apiKey: BENCH_API_KEY });
  await api.producer.queues.outbox.waitUntilReady();
  listener = api.app;
  close = () => api.close();
} else {
  // The same queue (name, prefix) and job options as waq's send; no auth, no validation, no idempotency.
  const queue = new Queue(QUEUE_NAMES.outbox, { connection: redis, prefix: sessionKeys({ prefix, sessionId: config.SESSION_ID }).bullPrefix });
  queue.on('error', () => undefined);
  await queue.waitUntilReady();
  const jobOptions = jobCatalog.send.options({ sendMaxAttempts: config.SEND_MAX_ATTEMPTS, retentionSeconds: config.MESSAGE_RETENTION_S }, { to: '', text: '' }, Date.now());
  const app = express();
  app.post('/v1/messages', express.json(), async (req, res) => {
    const jobId = randomUUID();
    await queue.add('send', req.body as unknown, { ...jobOptions, jobId });
    res.status(202).json({ id: jobId, status: 'queued' });
  });
  listener = app;
  close = () => queue.close();
}

const server = createServer(listener);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void close().finally(() => {
    redis.disconnect();
    process.exit(0);
  });
});
