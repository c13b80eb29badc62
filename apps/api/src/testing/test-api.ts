/**
 * Test harness: a real API on a free port over real Redis, under a unique prefix, plus helpers that
 * publish what the worker would (state, lease, events). `close()` removes everything it created.
 */
import { Writable } from 'node:stream';

import { createLogger, createRedis, encodeEvent, holderConnectionName, loadConfig, type Logger, type RedisClient, type SessionEvent, sessionKeys, type SessionKeys, type SessionState } from '@waq/shared';
import { createRedisFixture, listen, type RedisFixture } from '@waq/test-utils';

import { createApi, type Api, type ApiLimits } from '../app.js';
import { onTestFinished } from 'vitest';

export const TEST_API_KEY = 'test-key-0123456789abcdef0123456789abcdef';

/** The stand-in worker that "owns" the session in `publishState`. */
export const TEST_WORKER_ID = 'worker-test';

export interface TestApiOptions {
  /** Environment for `loadConfig()` (prefix, REDIS_URL are set by the harness unless given). */
  readonly env?: Record<string, string>;
  readonly limits?: ApiLimits;
  /** Connect the API to this URL instead of the test Redis (e.g. a dead port, a proxy). */
  readonly apiRedisUrl?: string;
}

export interface TestApi {
  readonly url: string;
  /** WAQ_PREFIX of this API. */
  readonly prefix: string;
  readonly api: Api;
  readonly fixture: RedisFixture;
  readonly keys: SessionKeys;
  /** The API's own (fail-fast) connection. */
  readonly apiRedis: RedisClient;
  /** fetch with the API key. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Publishes a state of the SESSION_ID session, or of `options.sessionId`, as its owner would. */
  publishState(status: SessionState['status'], extra?: Partial<SessionState>, options?: { lease?: boolean; sessionId?: string }): Promise<SessionState>;
  publishEvent(event: SessionEvent): Promise<string>;
  close(): Promise<void>;
}

export const silentLogger: Logger = createLogger({ service: 'api', version: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

export async function startTestApi({ env = {}, limits, apiRedisUrl }: TestApiOptions = {}): Promise<TestApi> {
  const fixture = await createRedisFixture();
  const config = loadConfig({ WAQ_PREFIX: fixture.prefix, REDIS_URL: fixture.url, ...env });
  const apiRedis = createRedis({ url: apiRedisUrl ?? fixture.url, role: 'producer', name: 'waq-api-test' });
  const api = createApi({ config, redis: apiRedis, logger: silentLogger, version: '9.9.9', apiKey: TEST_API_KEY, ...(limits === undefined ? {} : { limits }) });
  const server = await listen(api.app);
  const keys = sessionKeys({ prefix: fixture.prefix, sessionId: config.SESSION_ID });
  // The stand-in owner's sign of life (owner-liveness.ts): without it the API reports WORKER_OFFLINE.
  let ownerPresence: RedisClient | undefined;
  if (apiRedisUrl === undefined) await new Promise<void>((resolve) => (apiRedis.status === 'ready' ? resolve() : apiRedis.once('ready', () => resolve())));
  return {
    url: server.url,
    prefix: fixture.prefix,
    api,
    fixture,
    keys,
    apiRedis,
    fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('Authorization')) headers.set('Authorization', `Bearer ${TEST_API_KEY}`);
      return fetch(`${server.url}${path}`, { ...init, headers });
    },
    async publishState(status, extra = {}, { lease = true, sessionId = config.SESSION_ID } = {}) {
      const now = new Date().toISOString();
      const state: SessionState = { sessionId, status, since: now, owner: { workerId: TEST_WORKER_ID, heartbeatAt: now }, ...extra };
      const session = sessionKeys({ prefix: fixture.prefix, sessionId });
      await fixture.redis.set(session.state, JSON.stringify(state));
      if (lease) {
        ownerPresence ??= createRedis({ url: fixture.url, role: 'consumer', name: holderConnectionName(TEST_WORKER_ID) });
        await ownerPresence.set(session.lease, TEST_WORKER_ID, 'PX', 60_000);
      } else {
        await fixture.redis.del(session.lease);
      }
      return state;
    },
    async publishEvent(event) {
      return (await fixture.redis.xadd(keys.events, '*', ...encodeEvent(event))) as string;
    },
    async close() {
      await server.close();
      await api.close();
      apiRedis.disconnect();
      ownerPresence?.disconnect();
      await fixture.cleanup();
    },
  };
}

/** A QR state as the worker publishes it. */
export function qrState(value = 'qr-ref-1,abc,def,ghi', expiresInMs = 60_000): Partial<SessionState> {
  return { qr: { value, expiresAt: new Date(Date.now() + expiresInMs).toISOString() } };
}

/** Starts a test API that is closed when the current test finishes (pass or fail). */
export async function startTestApiForTest(options?: TestApiOptions): Promise<TestApi> {
  const api = await startTestApi(options);
  onTestFinished(() => api.close());
  return api;
}
