/**
 * The worker's small HTTP port: `/healthz` (process up, with the sessions it owns and their status),
 * `/readyz` (Redis reachable) and `/metrics` (Prometheus). Plain node:http: three routes do not need
 * a web framework.
 */
import { createServer, type Server } from 'node:http';

import type { RedisClient } from '@waq/shared';
import type { Registry } from 'prom-client';

export interface WorkerHealth {
  readonly workerId: string;
  /** WORKER_MAX_SESSIONS */
  readonly capacity: number;
  /** True once an operator asked this worker to drain (`POST /v1/workers/:id/drain`). */
  readonly draining: boolean;
  /** The sessions this worker runs, with the status each last published (absent while its lease is not held yet). */
  readonly sessions: readonly { readonly id: string; readonly status?: string }[];
}

export interface HealthServerOptions {
  readonly redis: RedisClient;
  readonly version: string;
  readonly health?: () => WorkerHealth;
  readonly registry?: Registry;
}

export function createHealthServer({ redis, version, health, registry }: HealthServerOptions): Server {
  return createServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://worker');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { error: { code: 'method_not_allowed', message: 'only GET is supported here' } });
    switch (url.pathname) {
      case '/healthz':
        return reply(200, { status: 'ok', version, ...health?.() });
      case '/readyz':
        return void redis.ping().then(
          () => reply(200, { status: 'ready', redis: 'up' }),
          () => reply(503, { error: { code: 'redis_unavailable', message: 'Redis is not reachable; the worker keeps retrying' } }),
        );
      case '/metrics':
        if (registry === undefined) break;
        return void registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': registry.contentType });
            res.end(text);
          },
          (error: unknown) => reply(500, { error: { code: 'metrics_failed', message: `could not collect metrics: ${String(error)}` } }),
        );
    }
    return reply(404, { error: { code: 'not_found', message: `no route ${url.pathname}: try /healthz, /readyz, /metrics` } });
  });
}
