/**
 * The worker's small HTTP port: `/healthz` (process up), `/readyz` (Redis reachable). Plain node:http:
 * the worker serves three routes and should not pull in a web framework for them.
 */
import { createServer, type Server } from 'node:http';

import type { Redis } from 'ioredis';

export interface HealthServerOptions {
  readonly redis: Redis;
  readonly version: string;
}

export function createHealthServer({ redis, version }: HealthServerOptions): Server {
  return createServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://worker');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { error: { code: 'method_not_allowed', message: 'only GET is supported here' } });
    switch (url.pathname) {
      case '/healthz':
        return reply(200, { status: 'ok', version });
      case '/readyz':
        return void redis.ping().then(
          () => reply(200, { status: 'ready', redis: 'up' }),
          () => reply(503, { error: { code: 'redis_unavailable', message: 'Redis is not reachable; the worker keeps retrying' } }),
        );
      default:
        return reply(404, { error: { code: 'not_found', message: `no route ${url.pathname}: try /healthz, /readyz` } });
    }
  });
}
