/**
 * The Express app: a thin adapter around plain handlers that return `{ status, body }`. Routes,
 * who may call them, and which parser and CSP each gets are all listed here, in one place.
 */

import { type Config, createProducer, type Logger, type PacingConfig, type Producer, type RedisClient, SessionRegistry, toFieldProblems, WebhookRegistry, WorkerRegistry } from '@waq/shared';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

import { createSessionCookie, keysEqual, safeNextPath, SESSION_COOKIE, SESSION_TTL_S } from './auth/credentials.js';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle, type LoginThrottlePolicy } from './auth/login-throttle.js';
import { requireApiKey, requirePageAuth } from './auth/require-auth.js';
import { BULL_BOARD_PATH, createQueueBoard } from './bull-board.js';
import { accessLog } from './http/access-log.js';
import { BlockingConnections } from './http/blocking-connections.js';
import { errorResponse, redisUnavailable, type HttpResult } from './http/error-response.js';
import { healthz, readyz } from './http/health.js';
import { MediaInputError, multipartBody, readMultipart, serveMedia, uploadMedia, type MediaDependencies } from './http/media.js';
import { cancelMessage, getMessage, listMessages, sendMessage } from './http/messages.js';
import { getQr } from './http/qr.js';
import { simulateScan } from './http/sandbox.js';
import { connectBodySchema, connectQuerySchema, deleteSessionQuerySchema, qrQuerySchema } from './http/schemas.js';
import { securityHeaders } from './http/security-headers.js';
import { sessionEvents } from './http/session-events.js';
import { connect, getSession, logout, restart } from './http/session.js';
import { createSession, deleteSession, describeSession, listSessions, sessionIdParam, sessionNotFound, setDesired, updateSession } from './http/sessions.js';
import { KnownSessions } from './http/known-sessions.js';
import { createWebhook, deleteWebhook, describeWebhook, listWebhookFailures, listWebhooks, redriveWebhook, updateWebhook } from './http/webhooks.js';
import { drainWorker, listWorkers } from './http/workers.js';
import { errorFromThrown, internalError } from './http/thrown-error.js';
import { createMetrics } from './metrics.js';
import { openApiDocument } from './openapi/openapi-document.js';
import { ASSETS } from './pages/assets.js';
import { CSP } from './pages/csp.js';
import { docsPage } from './pages/docs-page.js';
import { loginPage } from './pages/login-page.js';
import { missingSessionPage, sessionsPage } from './pages/sessions-page.js';
import { statusPage } from './pages/status-page.js';

export type ApiConfig = Pick<Config, 'WAQ_PREFIX' | 'SESSION_ID' | 'SEND_MAX_ATTEMPTS' | 'MESSAGE_RETENTION_S' | 'QR_WAIT_MS' | 'WAQ_SANDBOX' | 'WAQ_SIM_URL' | 'SESSION_STORE' | 'SESSION_BACKUP_MAX_AGE_MS' | 'WEBHOOK_ALLOW_PRIVATE' | 'MEDIA_MAX_BYTES' | 'MEDIA_RETENTION_S' | 'EVENTS_MAX_LEN'> & PacingConfig;

export interface ApiLimits {
  /** Most open event streams and connect waits at once (each holds a Redis connection). @defaultValue 50 */
  readonly maxStreams?: number;
  /** Longest silence on an event stream before a heartbeat, in ms. @defaultValue 15000 */
  readonly heartbeatMs?: number;
  /** Largest JSON body. @defaultValue '512kb' (a 65 536-character text, escaped, fits) */
  readonly jsonLimit?: string;
  /** Brute-force throttle of `POST /login`. @defaultValue DEFAULT_LOGIN_THROTTLE */
  readonly loginThrottle?: LoginThrottlePolicy;
  /** Longest wait of `DELETE /v1/sessions/:session` for a worker to finish the deletion, in ms. @defaultValue 30000 */
  readonly deleteWaitMs?: number;
  /** Longest download of a send's file by URL, in ms. @defaultValue 60000 */
  readonly mediaFetchTimeoutMs?: number;
  /** Longest wait of `GET …/contacts/:number` for WhatsApp's answer, in ms. @defaultValue 10000 */
  readonly numberCheckWaitMs?: number;
}

export interface ApiDependencies {
  readonly config: ApiConfig;
  /** The fail-fast producer connection (`createRedis({ role: 'producer' })`). */
  readonly redis: RedisClient;
  readonly logger: Logger;
  readonly version: string;
  readonly apiKey: string;
  readonly limits?: ApiLimits;
}

export interface Api {
  readonly app: Express;
  readonly producer: Producer;
  /** Ends every open event stream and connect wait (they would otherwise hold `server.close()` open). */
  endStreams(): void;
  /** Ends the streams and closes the queues; the Redis connection stays the caller's. Idempotent. */
  close(): Promise<void>;
}

type Handler = (req: Request, res: Response) => HttpResult | Promise<HttpResult>;

/** What a per-session route acts on: the session, and the URLs its answers name. */
interface SessionScope {
  /** The session's producer. */
  readonly producer: Producer;
  readonly sessionId: string;
  /** `/v1/sessions/sales`, or `/v1/session` on the aliases of the SESSION_ID session. */
  readonly sessionPath: string;
  /** `/v1/sessions/sales/messages`, or `/v1/messages`. */
  readonly messagesPath: string;
}

/**
 * A route of one session, served at `/v1/sessions/:session<path>` and, for the configured SESSION_ID
 * session (the only one of waq 0.1), at its 0.1 URL `alias`: one handler, two addresses.
 */
interface SessionRoute {
  readonly method: 'get' | 'post' | 'delete';
  readonly path: string;
  readonly alias: string;
  /** Takes a JSON body (`or-multipart`: or a multipart/form-data one, read by the handler; `optional`: a JSON body or none). */
  readonly json?: boolean | 'or-multipart' | 'optional';
  /** Answers, or (the event stream) writes the response itself and returns nothing. */
  readonly handle: (scope: SessionScope, req: Request, res: Response) => HttpResult | Promise<HttpResult | void>;
}


function send(res: Response, result: HttpResult): void {
  if (res.headersSent) return;
  if (result.headers) res.set(result.headers);
  res.status(result.status);
  if (result.status === 204) {
    res.end();
    return;
  }
  const raw = typeof result.body === 'string' || Buffer.isBuffer(result.body);
  if (raw && res.get('Content-Type') !== undefined) res.send(result.body);
  else if (res.req.method === 'GET' || res.req.method === 'HEAD') res.json(result.body);
  else {
    // Only GET and HEAD answers can be conditional: the rest skip res.json's ETag (a hash of the body).
    const json = JSON.stringify(result.body);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(json));
    res.end(json);
  }
}

/** Adapts a plain handler to Express; thrown domain and Redis errors get their answer, anything else a 500. */
function route(handler: Handler): RequestHandler {
  return async (req, res, next) => {
    try {
      send(res, await handler(req, res));
    } catch (error) {
      const mapped = errorFromThrown(error);
      if (mapped === undefined) next(error);
      else send(res, mapped);
    }
  };
}

const csp = (policy: string): RequestHandler => (_req, res, next) => {
  res.setHeader('Content-Security-Policy', policy);
  next();
};

const page = (body: string): HttpResult => ({ status: 200, body, headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' } });

function invalidQuery(error: import('zod').ZodError): HttpResult {
  return errorResponse(422, 'invalid_query', 'invalid query parameter: see details', toFieldProblems(error));
}

export function createApi({ config, redis, logger, version, apiKey, limits = {} }: ApiDependencies): Api {
  const producer = createProducer({
    redis,
    prefix: config.WAQ_PREFIX,
    session: config.SESSION_ID,
    sendMaxAttempts: config.SEND_MAX_ATTEMPTS,
    retentionSeconds: config.MESSAGE_RETENTION_S,
    mediaMaxBytes: config.MEDIA_MAX_BYTES,
    mediaRetentionSeconds: config.MEDIA_RETENTION_S,
    eventsMaxLen: config.EVENTS_MAX_LEN,
    logger,
  });
  const registry = new SessionRegistry(redis, config.WAQ_PREFIX);
  const workers = new WorkerRegistry(redis, config.WAQ_PREFIX);
  const known = new KnownSessions({ registry, redis, defaultSessionId: config.SESSION_ID });
  const blocking = new BlockingConnections(redis, limits.maxStreams ?? 50);
  const liveSessions = async (): Promise<string[]> => {
    await known.seeded();
    return (await registry.list()).sessions.filter((record) => record.desired !== 'deleted').map((record) => record.id);
  };
  const webhookRegistry = new WebhookRegistry(redis, config.WAQ_PREFIX);
  const metrics = createMetrics({ producer, sessions: liveSessions, redis, activeStreams: () => blocking.active, webhooks: { registry: webhookRegistry, prefix: config.WAQ_PREFIX } });
  const board = createQueueBoard({ producer, registry, webhooks: { registry: webhookRegistry, redis, prefix: config.WAQ_PREFIX }, seeded: () => known.seeded() });

  const sessionsDeps = {
    registry,
    producer,
    redis,
    deleteWaitMs: limits.deleteWaitMs ?? 30_000,
    backups: { store: config.SESSION_STORE, maxAgeMs: config.SESSION_BACKUP_MAX_AGE_MS },
    onDeleted: (id: string) => known.forget(id),
    pacing: config,
  };
  const webhooksDeps = { registry, webhooks: webhookRegistry, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, redis, prefix: config.WAQ_PREFIX };
  const events = sessionEvents({ redis, blocking, heartbeatMs: limits.heartbeatMs ?? 15_000, reply: send });
  const openapi = openApiDocument(version);
  const auth = { apiKey, reply: send };
  const loginThrottle = new LoginThrottle(redis, config.WAQ_PREFIX, limits.loginThrottle ?? DEFAULT_LOGIN_THROTTLE);
  const apiAuth = requireApiKey(auth);
  const pageAuth = requirePageAuth(auth);
  // BullMQ waits (instead of failing) on a connection that was never ready; the fail-fast promise
  // only holds once connected, so answer 503 up front while it is not.
  const redisReady: RequestHandler = (_req, res, next) => (redis.status === 'ready' ? next() : send(res, redisUnavailable()));
  const requireJson: RequestHandler = (req, res, next) =>
    req.is('application/json') ? next() : send(res, errorResponse(415, 'unsupported_media_type', 'send the body as JSON with "Content-Type: application/json"'));
  // Not strict: a JSON scalar parses, and the handler then says the body must be an object (422).
  const json = express.json({ limit: limits.jsonLimit ?? '512kb', strict: false, type: 'application/json' });

  const jsonUnlessMultipart: RequestHandler = (req, res, next) => (req.is('multipart/form-data') ? next() : requireJson(req, res, () => void json(req, res, next)));
  const mediaDeps = (session: Producer): MediaDependencies => ({
    producer: session,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    maxBytes: config.MEDIA_MAX_BYTES,
    fetchTimeoutMs: limits.mediaFetchTimeoutMs ?? 60_000,
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  // CSP is set per kind of response below (API: nothing may load; pages: only what they use).
  app.use(securityHeaders({ contentSecurityPolicy: false }), csp(CSP.api));
  app.use(accessLog(logger));
  app.use(metrics.middleware);

  // Public: probes, the login form and the static assets it uses.
  app.get('/healthz', route(() => healthz(version)));
  app.get('/readyz', route(() => readyz(redis)));
  app.get('/assets/:name', route((req) => {
    const asset = ASSETS[String(req.params['name'])];
    if (asset === undefined) return errorResponse(404, 'not_found', 'no such asset');
    return { status: 200, body: asset.body, headers: { 'Content-Type': asset.type, 'Cache-Control': 'no-cache' } };
  }));
  app.get('/login', csp(CSP.staticPage), route((req) => page(loginPage({ next: safeNextPath(req.query['next']), failed: false }))));
  app.post('/login', csp(CSP.staticPage), redisReady, express.urlencoded({ extended: false, limit: '8kb' }), route(async (req, res) => {
    const form = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNextPath(form['next']);
    // `trust proxy` is off: the peer's address, which a client cannot choose (behind a reverse proxy,
    // every browser shares the proxy's address, and with it the throttle).
    const address = req.socket.remoteAddress ?? '';
    const attempt = await loginThrottle.attempt(address);
    if (!attempt.allowed) {
      const retryAfterS = Math.max(1, Math.ceil(attempt.retryAfterMs / 1000));
      const answer = page(loginPage({ next, failed: false, retryAfterS }));
      return { ...answer, status: 429, headers: { ...answer.headers, 'Retry-After': String(retryAfterS) } };
    }
    if (typeof form['key'] !== 'string' || !keysEqual(form['key'], apiKey)) {
      req.log.warn({ failures: attempt.failures }, 'sign-in with a wrong API key');
      return { ...page(loginPage({ next, failed: true })), status: 401 };
    }
    await loginThrottle.succeeded(address);
    res.cookie(SESSION_COOKIE, createSessionCookie(apiKey), { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/', maxAge: SESSION_TTL_S * 1000 });
    return { status: 303, body: '', headers: { Location: next, 'Content-Type': 'text/plain' } };
  }));
  app.post('/logout', route((req, res) => {
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
    return { status: 303, body: '', headers: { Location: '/login', 'Content-Type': 'text/plain' } };
  }));

  // API: an API key (or the status page's session cookie).
  // The session registry, and the worker pool that runs it.
  app.post('/v1/sessions', apiAuth, redisReady, requireJson, json, route((req) => createSession(sessionsDeps, req.body as unknown)));
  app.get('/v1/sessions', apiAuth, redisReady, route(async () => {
    await known.seeded();
    return listSessions(sessionsDeps);
  }));
  app.get('/v1/sessions/:session', apiAuth, redisReady, route(async (req) => {
    // Right after start, the configured session may not be registered yet: it is, once this resolves.
    await known.seeded();
    return describeSession(sessionsDeps, req.params['session']);
  }));
  app.patch('/v1/sessions/:session', apiAuth, redisReady, requireJson, json, route((req) => updateSession(sessionsDeps, req.params['session'], req.body as unknown)));
  app.delete('/v1/sessions/:session', apiAuth, redisReady, route((req) => {
    const query = deleteSessionQuerySchema.safeParse(req.query);
    if (!query.success) return invalidQuery(query.error);
    const client = new AbortController();
    req.once('close', () => client.abort());
    return deleteSession(sessionsDeps, req.params['session'], { wait: query.data.wait ?? true, signal: client.signal });
  }));
  app.post('/v1/sessions/:session/start', apiAuth, redisReady, route((req) => setDesired(sessionsDeps, req.params['session'], 'running')));
  app.post('/v1/sessions/:session/stop', apiAuth, redisReady, route((req) => setDesired(sessionsDeps, req.params['session'], 'stopped')));
  // A session's webhook subscriptions (right after start the configured session may not be registered yet: each waits for it).
  const seededFirst = (handler: (req: Request) => Promise<HttpResult>) => route(async (req) => {
    await known.seeded();
    return handler(req);
  });
  app.post('/v1/sessions/:session/webhooks', apiAuth, redisReady, requireJson, json, seededFirst((req) => createWebhook(webhooksDeps, req.params['session'], req.body as unknown)));
  app.get('/v1/sessions/:session/webhooks', apiAuth, redisReady, seededFirst((req) => listWebhooks(webhooksDeps, req.params['session'])));
  app.get('/v1/sessions/:session/webhooks/:webhook', apiAuth, redisReady, seededFirst((req) => describeWebhook(webhooksDeps, req.params['session'], req.params['webhook'])));
  app.patch('/v1/sessions/:session/webhooks/:webhook', apiAuth, redisReady, requireJson, json, seededFirst((req) => updateWebhook(webhooksDeps, req.params['session'], req.params['webhook'], req.body as unknown)));
  app.delete('/v1/sessions/:session/webhooks/:webhook', apiAuth, redisReady, seededFirst((req) => deleteWebhook(webhooksDeps, req.params['session'], req.params['webhook'])));
  app.get('/v1/sessions/:session/webhooks/:webhook/failures', apiAuth, redisReady, seededFirst((req) => listWebhookFailures(webhooksDeps, req.params['session'], req.params['webhook'])));
  app.post('/v1/sessions/:session/webhooks/:webhook/redrive', apiAuth, redisReady, seededFirst((req) => redriveWebhook(webhooksDeps, req.params['session'], req.params['webhook'])));
  app.get('/v1/workers', apiAuth, redisReady, route(() => listWorkers(workers)));
  app.post('/v1/workers/:id/drain', apiAuth, redisReady, route((req) => drainWorker(workers, String(req.params['id']))));

  // Everything of one session, at /v1/sessions/:session/… and at the 0.1 URLs for SESSION_ID.
  const sessionRoutes: readonly SessionRoute[] = [
    {
      method: 'post',
      path: '/messages',
      alias: '/v1/messages',
      json: 'or-multipart',
      handle: async ({ producer: session, messagesPath }, req) => {
        const media = mediaDeps(session);
        const idempotencyKeyHeader = req.get('Idempotency-Key');
        if (!req.is('multipart/form-data')) return sendMessage(session, { body: req.body as unknown, idempotencyKeyHeader, messagesPath, media });
        const upload = await readMultipart(media, req).catch((error: unknown) => (error instanceof MediaInputError ? error : Promise.reject(error)));
        if (upload instanceof MediaInputError) return upload.result;
        return sendMessage(session, { body: multipartBody(upload.fields), idempotencyKeyHeader, messagesPath, media, uploaded: upload.media });
      },
    },
    { method: 'post', path: '/media', alias: '/v1/media', json: 'or-multipart', handle: ({ producer: session }, req) => uploadMedia(mediaDeps(session), req) },
    { method: 'get', path: '/media/:mediaId', alias: '/v1/media/:mediaId', handle: ({ producer: session }, req, res) => serveMedia(session, String(req.params['mediaId']), req, res) },
    { method: 'get', path: '/messages', alias: '/v1/messages', handle: ({ producer: session }, req) => listMessages(session, req.query) },
    { method: 'get', path: '/messages/:id', alias: '/v1/messages/:id', handle: ({ producer: session }, req) => getMessage(session, String(req.params['id'])) },
    { method: 'delete', path: '/messages/:id', alias: '/v1/messages/:id', handle: ({ producer: session }, req) => cancelMessage(session, String(req.params['id'])) },
    {
      method: 'get',
      path: '/contacts/:number',
      alias: '/v1/contacts/:number',
      handle: async ({ producer: session }, req) => ({ status: 200, body: await session.checkNumber(String(req.params['number']), { timeoutMs: limits.numberCheckWaitMs ?? 10_000 }) }),
    },
    {
      method: 'post',
      path: '/connect',
      alias: '/v1/session/connect',
      json: 'optional',
      handle: ({ producer: session }, req) => {
        const query = connectQuerySchema.safeParse(req.query);
        if (!query.success) return invalidQuery(query.error);
        const body = connectBodySchema.safeParse(req.body ?? {});
        if (!body.success) return errorResponse(422, 'invalid_payload', 'the request is invalid: see details for the fields at fault', toFieldProblems(body.error));
        const { method, phoneNumber } = body.data;
        const client = new AbortController();
        req.once('close', () => client.abort());
        const code = method === 'code' ? { pairingCodeFor: phoneNumber } : {};
        return connect({ producer: session, redis, blocking, waitMs: config.QR_WAIT_MS }, { wait: query.data.wait ?? method === 'code', signal: client.signal, ...code });
      },
    },
    { method: 'post', path: '/logout', alias: '/v1/session/logout', handle: ({ producer: session }) => logout(session) },
    { method: 'post', path: '/restart', alias: '/v1/session/restart', handle: ({ producer: session }) => restart(session) },
    {
      method: 'get',
      path: '/qr',
      alias: '/v1/session/qr',
      handle: ({ producer: session, sessionPath }, req) => {
        const query = qrQuerySchema.safeParse(req.query);
        return query.success ? getQr(session, query.data.format, sessionPath) : invalidQuery(query.error);
      },
    },
    { method: 'get', path: '/events', alias: '/v1/session/events', handle: ({ producer: session }, req, res) => events(req, res, session.queues.keys.events) },
    {
      method: 'post',
      path: '/sandbox/scan',
      alias: '/v1/sandbox/scan',
      handle: async ({ producer: session, sessionId, sessionPath }) => {
        const state = config.WAQ_SANDBOX ? await session.getState() : undefined;
        const pairingCode = state?.status === 'QR' ? state.pairingCode?.code : undefined;
        return simulateScan({ enabled: config.WAQ_SANDBOX, simUrl: config.WAQ_SIM_URL, defaultSessionId: config.SESSION_ID }, { sessionId, sessionPath, pairingCode });
      },
    },
  ];
  const inSession = (handle: SessionRoute['handle'], alias: boolean): RequestHandler => async (req, res, next) => {
    try {
      const id = alias ? config.SESSION_ID : sessionIdParam(req.params['session']);
      if (id === null || !(await known.exists(id))) return send(res, sessionNotFound(alias ? config.SESSION_ID : String(req.params['session'])));
      const sessionPath = alias ? '/v1/session' : `/v1/sessions/${id}`;
      const result = await handle({ producer: producer.session(id), sessionId: id, sessionPath, messagesPath: alias ? '/v1/messages' : `${sessionPath}/messages` }, req, res);
      if (result !== undefined) send(res, result);
    } catch (error) {
      const mapped = errorFromThrown(error);
      if (mapped === undefined) next(error);
      else send(res, mapped);
    }
  };
  app.get('/v1/session', apiAuth, redisReady, inSession(({ producer: session }) => getSession(session), true));
  for (const { method, path, alias, json: takesJson, handle } of sessionRoutes) {
    const body = takesJson === true ? [requireJson, json] : takesJson === 'or-multipart' ? [jsonUnlessMultipart] : takesJson === 'optional' ? [json] : [];
    app[method](`/v1/sessions/:session${path}`, apiAuth, redisReady, ...body, inSession(handle, false));
    app[method](alias, apiAuth, redisReady, ...body, inSession(handle, true));
  }
  app.get('/metrics', apiAuth, route(async () => ({ status: 200, body: await metrics.registry.metrics(), headers: { 'Content-Type': metrics.registry.contentType } })));

  // Browser pages: the same credentials, or a redirect to the login form.
  app.get('/', pageAuth, csp(CSP.statusPage), route(() => page(sessionsPage({ sandbox: config.WAQ_SANDBOX }))));
  app.get('/sessions/:session', pageAuth, redisReady, csp(CSP.statusPage), route(async (req) => {
    const id = sessionIdParam(req.params['session']);
    if (id === null || !(await known.exists(id))) return { ...page(missingSessionPage(String(req.params['session']).slice(0, 64))), status: 404 };
    return page(statusPage({ sessionId: id, sandbox: config.WAQ_SANDBOX }));
  }));
  app.get('/docs', pageAuth, csp(CSP.staticPage), route(() => page(docsPage(openapi))));
  app.get('/openapi.json', pageAuth, route(() => ({ status: 200, body: openapi })));
  app.use(BULL_BOARD_PATH, pageAuth, csp(CSP.bullBoard), board.sync, board.router);

  app.use((req: Request, res: Response) => {
    send(res, errorResponse(404, 'not_found', `no route for ${req.method} ${req.path}: see /openapi.json for the API`));
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const mapped = errorFromThrown(error);
    if (mapped !== undefined) return send(res, mapped);
    req.log.error({ err: error }, 'unhandled error');
    send(res, internalError());
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    producer,
    endStreams: () => blocking.closeAll(),
    close() {
      closing ??= (async () => {
        blocking.closeAll();
        await Promise.all([board.close(), producer.close()]);
      })();
      return closing;
    },
  };
}
