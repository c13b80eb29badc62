import { describe, expect, it } from 'vitest';

import { authenticate, createSessionCookie, keysEqual, readCookie, safeNextPath, SESSION_COOKIE, verifySessionCookie } from './credentials.js';

const KEY = 'waq_0123456789abcdefghijklmnop';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('keysEqual', () => {
  it('compares whole keys, whatever their lengths', () => {
    expect(keysEqual(KEY, KEY)).toBe(true);
    expect(keysEqual(`${KEY}x`, KEY)).toBe(false);
    expect(keysEqual(KEY.slice(0, -1), KEY)).toBe(false);
    expect(keysEqual('', KEY)).toBe(false);
  });
});

describe('authenticate', () => {
  it.each([
    [{ authorization: `Bearer ${KEY}` }, 'bearer'],
    [{ authorization: `bearer   ${KEY}` }, 'bearer'],
    [{ 'x-api-key': KEY }, 'x-api-key'],
    [{ authorization: basic('admin', KEY) }, 'basic'],
    [{ authorization: basic('', KEY) }, 'basic'],
    [{ cookie: `other=1; ${SESSION_COOKIE}=${createSessionCookie(KEY)}` }, 'cookie'],
  ])('accepts %o as %s', (headers, source) => {
    expect(authenticate(headers, KEY)).toBe(source);
  });

  it.each([
    [{}],
    [{ authorization: 'Bearer wrong-key-0123456789' }],
    [{ authorization: `Bearer ${KEY} extra` }],
    [{ authorization: `Token ${KEY}` }],
    [{ authorization: basic(KEY, 'wrong') }],
    [{ 'x-api-key': [KEY, KEY] }],
    [{ 'x-api-key': `${KEY} ` }],
    [{ cookie: `${SESSION_COOKIE}=${createSessionCookie('another-key-0123456789')}` }],
    // A wrong Authorization header is not rescued by a right X-Api-Key: one credential per request.
    [{ authorization: 'Bearer wrong', 'x-api-key': KEY }],
  ])('refuses %o', (headers) => {
    expect(authenticate(headers, KEY)).toBeUndefined();
  });
});

describe('session cookie', () => {
  it('is valid until it expires, and only for the key that signed it', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const cookie = createSessionCookie(KEY, now, 60);
    expect(cookie).not.toContain(KEY);
    expect(verifySessionCookie(cookie, KEY, now + 59_000)).toBe(true);
    expect(verifySessionCookie(cookie, KEY, now + 60_000)).toBe(false);
    expect(verifySessionCookie(cookie, 'other-key-0123456789', now)).toBe(false);
  });

  it('refuses a tampered expiry or signature', () => {
    const now = Date.now();
    const [expiry, signature] = createSessionCookie(KEY, now, 60).split('.') as [string, string];
    expect(verifySessionCookie(`${Number(expiry) + 1_000_000}.${signature}`, KEY, now)).toBe(false);
    expect(verifySessionCookie(`${expiry}.${signature.slice(0, -1)}A`, KEY, now)).toBe(signature.endsWith('A'));
    expect(verifySessionCookie('garbage', KEY, now)).toBe(false);
  });

  it('reads a cookie among others', () => {
    expect(readCookie('a=1; waq_session=x.y; b=2', 'waq_session')).toBe('x.y');
    expect(readCookie('a=1', 'waq_session')).toBeUndefined();
    expect(readCookie(undefined, 'waq_session')).toBeUndefined();
  });
});

describe('safeNextPath', () => {
  it.each([
    ['/admin/queues', '/admin/queues'],
    ['/docs#x', '/docs#x'],
    ['//evil.example/', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['/a b', '/'],
    [undefined, '/'],
    [['/x'], '/'],
  ])('%o → %s', (next, expected) => {
    expect(safeNextPath(next)).toBe(expected);
  });
});
