/**
 * The access log and request ids. Every response carries `X-Request-Id` (the caller's, when it is a
 * plain token, else a new UUID), and every request but the health probes logs one line when its
 * response is done: `POST /v1/messages 202 3ms`, with the id, method, path (never the query: it can carry
 * values; never headers: they carry the key), status and time. 5xx log at `error`, 4xx at `warn`.
 *
 * Lighter than pino-http, which builds a child logger and runs serializers for every request: the
 * ingest path pays this on every message (docs/benchmarks.md). `req.log` (the logger bound to the
 * request id) is built only when a handler asks for it, by a getter on Express's request prototype (a
 * getter defined on each request would turn every request object into a slow dictionary object).
 */
import { randomUUID } from 'node:crypto';

import type { Logger } from '@waq/shared';
import express, { type Request, type RequestHandler } from 'express';

declare global {
  // Express's own extension point for request properties.
  namespace Express {
    interface Request {
      /** The request id (`X-Request-Id`). */
      id: string;
      /** The logger bound to this request's id. */
      readonly log: Logger;
    }
  }
}

const BASE_LOGGER = Symbol('waq.accessLog.logger');
const BOUND_LOGGER = Symbol('waq.accessLog.boundLogger');
type LoggedRequest = Request & { [BASE_LOGGER]?: Logger; [BOUND_LOGGER]?: Logger };

Object.defineProperty(express.request, 'log', {
  configurable: true,
  get(this: LoggedRequest): Logger {
    const base = this[BASE_LOGGER];
    if (base === undefined) throw new Error('req.log is set by the accessLog() middleware: install it before the routes');
    return (this[BOUND_LOGGER] ??= base.child({ reqId: this.id }));
  },
});

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const QUIET_PATHS = new Set(['/healthz', '/readyz']);

export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    req.id = id;
    (req as LoggedRequest)[BASE_LOGGER] = logger;
    res.setHeader('X-Request-Id', id);
    const path = pathOf(req);
    if (QUIET_PATHS.has(path)) return next();
    const started = performance.now();
    res.once('close', () => {
      const ms = Math.round(performance.now() - started);
      const status = res.statusCode;
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
      const finished = res.writableFinished ? '' : ' (connection closed before the response was complete)';
      logger[level]({ reqId: id, method: req.method, path, status, ms }, `${req.method} ${path} ${status} ${ms}ms${finished}`);
    });
    next();
  };
}

function pathOf(req: Request): string {
  const url = req.originalUrl;
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
