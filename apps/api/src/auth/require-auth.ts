/**
 * Authentication middleware. API routes answer 401 (JSON); browser pages redirect to the login form.
 *
 * Cookie-authenticated requests that change something must come from this origin: the cookie is
 * `SameSite=Strict` already, and the `Origin` check is the second lock (CSRF).
 */
import type { NextFunction, Request, Response } from 'express';

import { errorResponse, type HttpResult } from '../http/error-response.js';
import { authenticate } from './credentials.js';

export interface AuthOptions {
  readonly apiKey: string;
  readonly reply: (res: Response, result: HttpResult) => void;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function unauthorized(): HttpResult {
  return errorResponse(401, 'unauthorized', 'missing or wrong API key: send "Authorization: Bearer <key>" or "X-Api-Key: <key>" (the key is API_KEY, or DATA_DIR/api-key)', undefined, {
    'WWW-Authenticate': 'Bearer realm="waq"',
  });
}

function crossOrigin(req: Request): boolean {
  const origin = req.get('Origin');
  if (origin === undefined) return req.get('Sec-Fetch-Site') === 'cross-site';
  try {
    return new URL(origin).host !== req.get('Host');
  } catch {
    return true;
  }
}

function check(req: Request, res: Response, apiKey: string, reply: AuthOptions['reply']): 'ok' | 'missing' | 'answered' {
  const source = authenticate(req.headers, apiKey);
  if (source === undefined) return 'missing';
  if (source === 'cookie' && !SAFE_METHODS.has(req.method) && crossOrigin(req)) {
    reply(res, errorResponse(403, 'cross_origin', 'this request comes from another site: use the API key instead of the browser session'));
    return 'answered';
  }
  return 'ok';
}

/** For API routes: a key, or the browser session of the status page. */
export function requireApiKey({ apiKey, reply }: AuthOptions) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const outcome = check(req, res, apiKey, reply);
    if (outcome === 'ok') return next();
    if (outcome === 'missing') reply(res, unauthorized());
  };
}

/** For browser pages: the same credentials; a browser asking for HTML is sent to the login form instead of a 401. */
export function requirePageAuth({ apiKey, reply }: AuthOptions) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const outcome = check(req, res, apiKey, reply);
    if (outcome === 'ok') return next();
    if (outcome === 'answered') return;
    if (req.method === 'GET' && req.accepts(['html', 'json']) === 'html') {
      res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    reply(res, unauthorized());
  };
}
