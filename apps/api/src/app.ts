/**
 * The Express app: a thin adapter around plain handlers that return `{ status, body }`.
 */
import { randomUUID } from 'node:crypto';

import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import { pinoHttp } from 'pino-http';

import type { Logger } from '@waq/shared';

import { errorResponse, type HttpResult } from './http/error-response.js';
import { healthz, readyz } from './http/health.js';

export interface AppDependencies {
  readonly redis: Redis;
  readonly logger: Logger;
  readonly version: string;
}

type Handler = (req: Request) => HttpResult | Promise<HttpResult>;

function send(res: Response, result: HttpResult): void {
  if (result.headers) res.set(result.headers);
  res.status(result.status).json(result.body);
}

/** Adapts a plain handler to Express; a throw becomes a 500 without internals. */
function route(handler: Handler) {
  return async (req: Request, res: Response): Promise<void> => {
    send(res, await handler(req));
  };
}

export function createApp({ redis, logger, version }: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(helmet());
  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // One short line per request; headers (which carry the API key) are never logged.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url.split('?')[0] }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customSuccessMessage: (req, res, responseTime) => `${req.method} ${req.url?.split('?')[0]} ${res.statusCode} ${Math.round(responseTime)}ms`,
      customErrorMessage: (req, res) => `${req.method} ${req.url?.split('?')[0]} ${res.statusCode}`,
      // Health probes every few seconds would drown the access log.
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
      customLogLevel: (_req, res, error) => (error !== undefined || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    }),
  );

  app.get('/healthz', route(() => healthz(version)));
  app.get('/readyz', route(() => readyz(redis)));

  app.use((req: Request, res: Response) => {
    send(res, errorResponse(404, 'not_found', `no route for ${req.method} ${req.path}: see /openapi.json for the API`));
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    req.log.error({ err: error }, 'unhandled error');
    send(res, errorResponse(500, 'internal', 'internal error: the request was not completed; try again, and check the API logs if it persists'));
  });
  return app;
}
