/**
 * helmet's security headers, worked out once. Without a Content-Security-Policy (set per kind of response
 * by app.ts) every header helmet sets is the same for every request, so the middleware runs helmet once
 * against a recording response at start-up and then sets the recorded headers: the same headers as
 * `app.use(helmet(...))` without running helmet's thirteen middlewares on every message (docs/benchmarks.md,
 * case 1). A test compares the two.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { RequestHandler } from 'express';
import helmet from 'helmet';

type HelmetOptions = Exclude<Parameters<typeof helmet>[0], undefined>;

/** What `helmet(options)` does to a response: the headers it sets and the ones it removes. */
export function recordHelmet(options: HelmetOptions): { readonly set: ReadonlyMap<string, string>; readonly removed: readonly string[] } {
  const set = new Map<string, string>();
  const removed: string[] = [];
  const recorder = {
    setHeader(name: string, value: number | string | readonly string[]) {
      set.set(name, Array.isArray(value) ? value.join(', ') : String(value));
      return recorder;
    },
    removeHeader(name: string) {
      set.delete(name);
      removed.push(name);
    },
  };
  let done = false;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error !== undefined) throw error instanceof Error ? error : new Error(String(error));
    done = true;
  });
  // A helmet that answered later, or depended on the request, could not be recorded: fail at start-up.
  if (!done) throw new Error('helmet did not finish synchronously: its headers cannot be precomputed');
  return { set, removed };
}

/** Sets helmet's headers for `options` (which must not include a CSP: it may differ per request). */
export function securityHeaders(options: HelmetOptions & { readonly contentSecurityPolicy: false }): RequestHandler {
  const { set, removed } = recordHelmet(options);
  const headers = [...set];
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}
