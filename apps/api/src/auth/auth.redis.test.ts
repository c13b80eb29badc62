import { request } from 'node:http';

import { loadConfig, loginThrottleKey } from '@waq/shared';
import { listen } from '@waq/test-utils';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';

import { createApi } from '../app.js';
import { OPERATIONS } from '../openapi/openapi-document.js';
import { silentLogger, startTestApi, startTestApiForTest, TEST_API_KEY, type TestApi } from '../testing/test-api.js';
import { lockoutMs, type LoginThrottlePolicy } from './login-throttle.js';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
});
afterAll(async () => {
  await t.close();
});

const PROTECTED_API = OPERATIONS.filter((op) => op.public !== true).map((op) => ({ method: op.method.toUpperCase(), path: op.path.replace('{id}', 'some-id') }));
const PAGES = ['/', '/sessions/default', '/docs', '/openapi.json', '/admin/queues', '/admin/queues/api/queues'];

function call(method: string, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${t.url}${path}`, { method, headers, redirect: 'manual' });
}

async function login(key = TEST_API_KEY, next = '/'): Promise<Response> {
  return fetch(`${t.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key, next }), redirect: 'manual' });
}

async function sessionCookie(): Promise<string> {
  const response = await login();
  const cookie = response.headers.get('set-cookie') ?? '';
  return cookie.split(';')[0] ?? '';
}

describe('API key', () => {
  it.each(PROTECTED_API)('$method $path answers 401 without a key, and with a wrong one', async ({ method, path }) => {
    for (const headers of [{}, { Authorization: 'Bearer not-the-key-0123456789' }, { 'X-Api-Key': 'not-the-key-0123456789' }] as Record<string, string>[]) {
      const response = await call(method, path, headers);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="waq"');
      expect(await response.json()).toMatchObject({ error: { code: 'unauthorized', message: expect.stringContaining('X-Api-Key') } });
    }
  });

  it('accepts the key as a bearer token, an X-Api-Key header, or a basic-auth password', async () => {
    for (const headers of [{ Authorization: `Bearer ${TEST_API_KEY}` }, { 'X-Api-Key': TEST_API_KEY }, { Authorization: `Basic ${Buffer.from(`admin:${TEST_API_KEY}`).toString('base64')}` }] as Record<string, string>[]) {
      expect((await call('GET', '/v1/session', headers)).status).toBe(200);
    }
  });

  it('leaves /healthz and /readyz open', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/readyz')).status).toBe(200);
  });

  it.each(PAGES)('%s answers 401 to a script and redirects a browser to the login form', async (path) => {
    expect((await call('GET', path, { Accept: 'application/json' })).status).toBe(401);
    const browser = await call('GET', path, { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe(`/login?next=${encodeURIComponent(path)}`);
    expect((await call('GET', path, { 'X-Api-Key': TEST_API_KEY })).status).toBe(200);
  });
});

describe('login form', () => {
  it('shows the form with the next path, without script', async () => {
    const response = await call('GET', '/login?next=%2Fadmin%2Fqueues');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('content-security-policy')).not.toContain('script-src');
    const body = await response.text();
    expect(body).toContain('<form method="post" action="/login">');
    expect(body).toContain('name="next" value="/admin/queues"');
  });

  it('sets an HttpOnly, SameSite=Strict session cookie for the right key, then pages and the API accept it', async () => {
    const response = await login(TEST_API_KEY, '/admin/queues');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/admin/queues');
    const setCookie = response.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^waq_session=\d+\.[\w-]{43}; Max-Age=604800; Path=\/; Expires=.*; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(TEST_API_KEY);
    const cookie = await sessionCookie();
    for (const path of ['/', '/docs', '/admin/queues', '/v1/session']) expect((await call('GET', path, { Cookie: cookie })).status).toBe(200);
    expect((await call('POST', '/v1/session/connect', { Cookie: cookie, Origin: t.url })).status).toBe(202);
  });

  it('refuses a wrong key with 401 and the form again, and never redirects off-site', async () => {
    const wrong = await login('wrong-key-0123456789');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('That key is not right.');
    expect((await login(TEST_API_KEY, '//evil.example/')).headers.get('location')).toBe('/');
  });

  it('refuses a cookie-authenticated change from another origin (CSRF)', async () => {
    const cookie = await sessionCookie();
    for (const headers of [{ Origin: 'http://evil.example' }, { 'Sec-Fetch-Site': 'cross-site' }, { Origin: 'null' }] as Record<string, string>[]) {
      const response = await call('POST', '/v1/session/logout', { Cookie: cookie, ...headers });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: { code: 'cross_origin' } });
    }
    // Reads are harmless, and an API key is not a browser credential: no origin check for either.
    expect((await call('GET', '/v1/session', { Cookie: cookie, Origin: 'http://evil.example' })).status).toBe(200);
    expect((await call('POST', '/v1/session/logout', { 'X-Api-Key': TEST_API_KEY, Origin: 'http://evil.example' })).status).toBe(202);
  });

  it('signs out by clearing the cookie', async () => {
    const response = await call('POST', '/logout', { Cookie: await sessionCookie() });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/login');
    expect(response.headers.get('set-cookie')).toMatch(/^waq_session=; Path=\/; Expires=Thu, 01 Jan 1970/);
  });

  it('answers a too large login form with 413', async () => {
    const response = await fetch(`${t.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `key=${'x'.repeat(20_000)}` });
    expect(response.status).toBe(413);
  });
});

interface LoginAnswer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly setCookie: boolean;
  readonly body: string;
}

/** `POST /login` from a chosen loopback source address (every 127.0.0.0/8 address is this host's). */
function loginFrom(url: string, key: string, localAddress = '127.0.0.1'): Promise<LoginAnswer> {
  const body = new URLSearchParams({ key, next: '/' }).toString();
  return new Promise((resolve, reject) => {
    const req = request(`${url}/login`, { method: 'POST', localAddress, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, setCookie: res.headers['set-cookie'] !== undefined, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const WRONG_KEY = 'wrong-key-0123456789abcdef0123456789';

describe('login throttle', () => {
  it('locks an address out after the free attempts, doubling per wrong key, before the key is even looked at', async () => {
    // The base is long enough that a loaded machine cannot let a lock lapse between two requests.
    const policy: LoginThrottlePolicy = { freeAttempts: 2, baseMs: 4_000, maxMs: 60_000, idleResetMs: 60_000 };
    const a = await startTestApiForTest({ limits: { loginThrottle: policy } });
    const throttleKey = loginThrottleKey(a.fixture.prefix, '127.0.0.1');
    for (let attempt = 1; attempt <= 3; attempt++) expect((await loginFrom(a.url, WRONG_KEY)).status).toBe(401);
    // The third wrong key locked the address for baseMs: even the right key is refused now.
    const locked = await loginFrom(a.url, TEST_API_KEY);
    expect(locked).toMatchObject({ status: 429, setCookie: false });
    expect(Number(locked.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(locked.retryAfter)).toBeLessThanOrEqual(lockoutMs(3, policy) / 1000);
    expect(locked.body).toContain('Too many wrong keys from your address: try again in');
    // Refused attempts do not count: the address has three failures, not four.
    expect(await a.fixture.redis.hget(throttleKey, 'failures')).toBe('3');

    // Once the lock lapses, the next wrong key locks for twice as long.
    await vi.waitFor(async () => expect((await loginFrom(a.url, WRONG_KEY)).status).toBe(401), { timeout: 30_000, interval: 250 });
    const longer = await loginFrom(a.url, TEST_API_KEY);
    expect(longer.status).toBe(429);
    expect(Number(longer.retryAfter)).toBeGreaterThan(lockoutMs(3, policy) / 1000);
    expect(Number(longer.retryAfter)).toBeLessThanOrEqual(lockoutMs(4, policy) / 1000);
    expect(await a.fixture.redis.hget(throttleKey, 'failures')).toBe('4');
    const pttl = await a.fixture.redis.pttl(throttleKey);
    expect(pttl).toBeGreaterThan(policy.idleResetMs);
    expect(pttl).toBeLessThanOrEqual(lockoutMs(4, policy) + policy.idleResetMs);
  });

  it('holds across API processes, leaves other addresses alone, and forgets an address on a right key', async () => {
    const policy: LoginThrottlePolicy = { freeAttempts: 1, baseMs: 60_000, maxMs: 60_000, idleResetMs: 60_000 };
    const a = await startTestApiForTest({ limits: { loginThrottle: policy } });
    // A second API process of the same installation (same prefix, same Redis).
    const b = createApi({ config: loadConfig({ WAQ_PREFIX: a.fixture.prefix, REDIS_URL: a.fixture.url }), redis: a.apiRedis, logger: silentLogger, version: '9.9.9', apiKey: TEST_API_KEY, limits: { loginThrottle: policy } });
    const bServer = await listen(b.app);
    onTestFinished(async () => {
      await bServer.close();
      await b.close();
    });

    expect((await loginFrom(a.url, WRONG_KEY, '127.0.0.2')).status).toBe(401);
    expect((await loginFrom(a.url, WRONG_KEY, '127.0.0.2')).status).toBe(401);
    expect((await loginFrom(bServer.url, TEST_API_KEY, '127.0.0.2')).status).toBe(429);

    // Another address: two wrong keys, then the right one clears its count.
    expect((await loginFrom(bServer.url, WRONG_KEY, '127.0.0.3')).status).toBe(401);
    const signedIn = await loginFrom(a.url, TEST_API_KEY, '127.0.0.3');
    expect(signedIn).toMatchObject({ status: 303, setCookie: true });
    expect(await a.fixture.redis.exists(loginThrottleKey(a.fixture.prefix, '127.0.0.3'))).toBe(0);
    expect((await loginFrom(bServer.url, WRONG_KEY, '127.0.0.3')).status).toBe(401);
    expect((await loginFrom(bServer.url, TEST_API_KEY, '127.0.0.3')).status).toBe(303);
    // The first address is still locked out.
    expect((await loginFrom(a.url, TEST_API_KEY, '127.0.0.2')).status).toBe(429);
  });

  it('makes a burst of parallel guesses no faster than guesses in a row', async () => {
    const policy: LoginThrottlePolicy = { freeAttempts: 3, baseMs: 60_000, maxMs: 60_000, idleResetMs: 60_000 };
    const a = await startTestApiForTest({ limits: { loginThrottle: policy } });
    const answers = await Promise.all(Array.from({ length: 20 }, () => loginFrom(a.url, WRONG_KEY, '127.0.0.4')));
    const statuses = answers.map((answer) => answer.status).sort();
    // Three free attempts and the fourth, which set the lock; every other one refused unread.
    expect(statuses).toEqual([...Array<number>(4).fill(401), ...Array<number>(16).fill(429)]);
  });
});
