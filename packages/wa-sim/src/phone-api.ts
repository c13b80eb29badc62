/**
 * The phone API as plain functions returning `{ status, body }` (the HTTP adapter in phone-server.ts is
 * thin). {@link handleServerRequest} finds the account a path addresses (account-id.ts), then
 * {@link handlePhoneRequest} answers for that account; {@link pageRoute} does the same for a page's
 * WebSocket. Routes, at the root (the default account) and under `/accounts/<id>` (account `<id>`,
 * created by its first valid request to one of them):
 *   GET  /accounts               every account: { accounts: [{ id, me, linked, online, devices }] }
 *   GET  /phone                  state and the QR ref on screen
 *   POST /phone/scan   {ref?}    scan the QR on screen (or that ref) → the page links
 *   POST /phone/link-code {code} enter a pairing code the gateway shows → the page that asked for it links
 *   GET  /phone/pairing-codes     the codes pages are waiting for, with the number each was asked for
 *   POST /phone/logout           unlink every device → whatsapp-web.js sees LOGOUT
 *   POST /phone/offline|online   drop/restore the network → reconnect path
 *   POST /phone/incoming {from, body}
 *   GET  /phone/messages?to=     what the gateway sent, in order, with WA ids
 *   GET  /phone/chatstates?to=   the chat states ("typing…") the gateway showed, in order
 *   POST /phone/reset
 */
import { z } from 'zod';
import { DEFAULT_ACCOUNT_ID, parseAccountPath, type AccountDirectory } from './account-id.js';
import { InvalidAccountIdError, PhoneApiError } from './errors.js';
import { normalizeNumber } from './numbers.js';
import type { SimPhone } from './sim-phone.js';

export interface ApiResponse {
  status: number;
  body: unknown;
}

const numberField = z.string().transform((value, ctx) => {
  const n = normalizeNumber(value);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: 'expected a phone number: digits with country code, e.g. 15550100002' });
    return z.NEVER;
  }
  return n;
});

export const scanBodySchema = z.object({ ref: z.string().min(1).optional() }).strict();
export const linkCodeBodySchema = z.object({ code: z.string().min(8).max(16) }).strict();
export const incomingBodySchema = z.object({ from: numberField, body: z.string().min(1).max(65_536) }).strict();

/** The `to` query parameter: undefined when absent, null when it is no phone number. */
function toQuery(url: URL): string | undefined | null {
  const value = url.searchParams.get('to');
  return value === null ? undefined : normalizeNumber(value);
}

function badToQuery(): ApiResponse {
  return errorResponse(400, 'VALIDATION', 'Query "to" must be a phone number.', [{ path: 'to' }]);
}

export function errorResponse(status: number, code: string, message: string, details?: unknown): ApiResponse {
  return { status, body: { error: { code, message, details: details ?? null } } };
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (!result.success) {
    const details = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new PhoneApiError(422, 'VALIDATION', 'Invalid request body; see details for the field at fault.', details);
  }
  return result.data;
}

function notFound(method: string, url: URL): ApiResponse {
  return errorResponse(404, 'NOT_FOUND', `No route ${method} ${url.pathname}; see the wa-sim README for the phone API.`);
}

/**
 * Dispatch one request to the phone server: `/accounts`, or the account its path addresses.
 * `body` is the parsed JSON body (undefined when empty). Only an existing route with a valid body makes
 * a new account: a typo (`/accounts/sales/phone/scna`, `GET …/scan`) is a 404 that leaves none behind.
 */
export function handleServerRequest(accounts: AccountDirectory, method: string, url: URL, body: unknown): ApiResponse {
  if (url.pathname.replace(/\/$/, '') === '/accounts') {
    return method === 'GET' ? { status: 200, body: { accounts: accounts.list() } } : notFound(method, url);
  }
  const target = parseAccountPath(url.pathname);
  if (target === null) return answer(() => accounts.account(DEFAULT_ACCOUNT_ID), method, url, body, url.pathname);
  if ('invalidId' in target) return invalidAccount(target.invalidId);
  // /healthz and the other root-only paths are no account's.
  if (!/^\/phone(\/|$)/.test(target.path)) return notFound(method, url);
  return answer(() => accounts.account(target.accountId), method, url, body, target.path);
}

/**
 * The account a page's WebSocket upgrade at `pathname` joins: `/ws` the default one, `/accounts/<id>/ws`
 * account `<id>` (created on first use). Else the answer to refuse it with: 404 `INVALID_ACCOUNT_ID` or
 * `NOT_FOUND`, 503 `CLOSING` for a new account while the server shuts down (the page retries).
 */
export function pageRoute(accounts: AccountDirectory, pathname: string): { phone: SimPhone } | { refused: ApiResponse } {
  const target = parseAccountPath(pathname);
  if (target !== null && 'invalidId' in target) return { refused: invalidAccount(target.invalidId) };
  const accountId = target === null ? (pathname === '/ws' ? DEFAULT_ACCOUNT_ID : undefined) : target.path === '/ws' ? target.accountId : undefined;
  if (accountId === undefined) {
    return { refused: errorResponse(404, 'NOT_FOUND', `No WebSocket at ${pathname}: a page connects to /ws or /accounts/<id>/ws.`) };
  }
  try {
    return { phone: accounts.account(accountId) };
  } catch (err) {
    if (err instanceof PhoneApiError) return { refused: apiError(err) };
    throw err;
  }
}

/**
 * Dispatch one phone API request for one account. `body` is the parsed JSON body (undefined when empty);
 * `path` is the route within the account (`/phone/scan`), `url.pathname` when the account is at the root.
 */
export function handlePhoneRequest(phone: SimPhone, method: string, url: URL, body: unknown, path = url.pathname): ApiResponse {
  return answer(() => phone, method, url, body, path);
}

/** `phone()` is called only once the route is known and its body valid, so a 404 or 422 creates no account. */
function answer(phone: () => SimPhone, method: string, url: URL, body: unknown, path: string): ApiResponse {
  try {
    const route = `${method} ${path.replace(/\/$/, '')}`;
    switch (route) {
      case 'GET /phone':
        return { status: 200, body: phone().snapshot() };
      case 'POST /phone/scan': {
        const { ref } = parse(scanBodySchema, body);
        return { status: 200, body: phone().scan(ref) };
      }
      case 'POST /phone/link-code': {
        const { code } = parse(linkCodeBodySchema, body);
        return { status: 200, body: phone().enterCode(code) };
      }
      case 'GET /phone/pairing-codes':
        return { status: 200, body: { codes: phone().pairingCodes() } };
      case 'POST /phone/logout':
        return { status: 200, body: phone().logout() };
      case 'POST /phone/offline':
        return { status: 200, body: phone().setOnline(false) };
      case 'POST /phone/online':
        return { status: 200, body: phone().setOnline(true) };
      case 'POST /phone/incoming': {
        const { from, body: text } = parse(incomingBodySchema, body);
        const rec = phone().addIncoming(from, text);
        return { status: 200, body: { id: rec.id, from: rec.from, t: rec.t } };
      }
      case 'GET /phone/messages': {
        const to = toQuery(url);
        return to === null ? badToQuery() : { status: 200, body: { messages: phone().messages(to) } };
      }
      case 'GET /phone/chatstates': {
        const to = toQuery(url);
        return to === null ? badToQuery() : { status: 200, body: { chatStates: phone().chatStates(to) } };
      }
      case 'POST /phone/reset':
        phone().reset();
        return { status: 200, body: { ok: true } };
      case 'GET /healthz':
        return { status: 200, body: { ok: true } };
      default:
        return notFound(method, url);
    }
  } catch (err) {
    if (err instanceof PhoneApiError) return apiError(err);
    throw err;
  }
}

function apiError(err: PhoneApiError): ApiResponse {
  return errorResponse(err.status, err.code, err.message, err.details);
}

function invalidAccount(id: string): ApiResponse {
  return apiError(new InvalidAccountIdError(id));
}
