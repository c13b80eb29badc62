/**
 * Credentials: the API key in a header (`Authorization: Bearer <key>`, `X-Api-Key: <key>`, or HTTP basic
 * auth with the key as password), or a signed session cookie set by the login form for browser pages.
 *
 * Every comparison is constant-time: both sides are hashed first, so neither the length nor the content
 * of the key leaks through timing. The cookie holds no key, only an expiry and an HMAC of it keyed by
 * the API key, so changing the key logs every browser out.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'waq_session';
/** How long a browser stays logged in. */
export const SESSION_TTL_S = 7 * 24 * 3600;

const sha256 = (value: string): Buffer => hash('sha256', value, 'buffer');
/** The digest of the last `expected` key: on every API request that is the API key. */
let expected: { readonly key: string; readonly digest: Buffer } | undefined;

export function keysEqual(given: string, expectedKey: string): boolean {
  if (expected?.key !== expectedKey) expected = { key: expectedKey, digest: sha256(expectedKey) };
  return timingSafeEqual(sha256(given), expected.digest);
}

export interface CredentialHeaders {
  readonly authorization?: string | undefined;
  readonly 'x-api-key'?: string | string[] | undefined;
  readonly cookie?: string | undefined;
}

export type CredentialSource = 'bearer' | 'x-api-key' | 'basic' | 'cookie';

/** The source of valid credentials in `headers`, or undefined when there are none (or they are wrong). */
export function authenticate(headers: CredentialHeaders, apiKey: string, now = Date.now()): CredentialSource | undefined {
  const authorization = headers.authorization ?? '';
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (bearer?.[1] !== undefined) return keysEqual(bearer[1], apiKey) ? 'bearer' : undefined;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (basic?.[1] !== undefined) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    return keysEqual(password, apiKey) ? 'basic' : undefined;
  }
  const headerKey = headers['x-api-key'];
  if (typeof headerKey === 'string') return keysEqual(headerKey, apiKey) ? 'x-api-key' : undefined;
  const cookie = readCookie(headers.cookie, SESSION_COOKIE);
  if (cookie !== undefined && verifySessionCookie(cookie, apiKey, now)) return 'cookie';
  return undefined;
}

function sign(expiresAt: number, apiKey: string): string {
  return createHmac('sha256', apiKey).update(`waq-session:${expiresAt}`).digest('base64url');
}

/** A cookie value valid until `now + ttl`. */
export function createSessionCookie(apiKey: string, now = Date.now(), ttlSeconds = SESSION_TTL_S): string {
  const expiresAt = Math.floor(now / 1000) + ttlSeconds;
  return `${expiresAt}.${sign(expiresAt, apiKey)}`;
}

export function verifySessionCookie(value: string, apiKey: string, now = Date.now()): boolean {
  const match = /^(\d{1,12})\.([\w-]{43})$/.exec(value);
  if (match?.[1] === undefined || match[2] === undefined) return false;
  const expiresAt = Number(match[1]);
  if (expiresAt * 1000 <= now) return false;
  return keysEqual(match[2], sign(expiresAt, apiKey));
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Only same-site paths may follow a login: `//evil.example` and `https://…` are refused. */
export function safeNextPath(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[^\s]*$/.test(next) && next.length <= 2_000 ? next : '/';
}
