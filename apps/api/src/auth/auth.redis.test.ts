import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { OPERATIONS } from '../openapi/openapi-document.js';
import { startTestApi, TEST_API_KEY, type TestApi } from '../testing/test-api.js';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
});
afterAll(async () => {
  await t.close();
});

const PROTECTED_API = OPERATIONS.filter((op) => op.public !== true).map((op) => ({ method: op.method.toUpperCase(), path: op.path.replace('{id}', 'some-id') }));
const PAGES = ['/', '/docs', '/openapi.json', '/admin/queues', '/admin/queues/api/queues'];

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
