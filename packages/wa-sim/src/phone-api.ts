/**
 * The phone API as plain functions returning `{ status, body }` (the HTTP adapter in phone-server.ts is
 * thin). Routes:
 *   GET  /phone                  state and the QR ref on screen
 *   POST /phone/scan   {ref?}    scan the QR on screen (or that ref) → the page links
 *   POST /phone/logout           unlink every device → whatsapp-web.js sees LOGOUT
 *   POST /phone/offline|online   drop/restore the network → reconnect path
 *   POST /phone/incoming {from, body}
 *   GET  /phone/messages?to=     what the gateway sent, in order, with WA ids
 *   POST /phone/reset
 */
import { z } from 'zod';
import { PhoneApiError } from './errors.js';
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
export const incomingBodySchema = z.object({ from: numberField, body: z.string().min(1).max(65_536) }).strict();

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

/** Dispatch one phone API request. `body` is the parsed JSON body (undefined when empty). */
export function handlePhoneRequest(phone: SimPhone, method: string, url: URL, body: unknown): ApiResponse {
  try {
    const route = `${method} ${url.pathname.replace(/\/$/, '')}`;
    switch (route) {
      case 'GET /phone':
        return { status: 200, body: phone.snapshot() };
      case 'POST /phone/scan': {
        const { ref } = parse(scanBodySchema, body);
        return { status: 200, body: phone.scan(ref) };
      }
      case 'POST /phone/logout':
        return { status: 200, body: phone.logout() };
      case 'POST /phone/offline':
        return { status: 200, body: phone.setOnline(false) };
      case 'POST /phone/online':
        return { status: 200, body: phone.setOnline(true) };
      case 'POST /phone/incoming': {
        const { from, body: text } = parse(incomingBodySchema, body);
        const rec = phone.addIncoming(from, text);
        return { status: 200, body: { id: rec.id, from: rec.from, t: rec.t } };
      }
      case 'GET /phone/messages': {
        const toParam = url.searchParams.get('to');
        const to = toParam === null ? undefined : normalizeNumber(toParam);
        if (to === null) return errorResponse(400, 'VALIDATION', 'Query "to" must be a phone number.', [{ path: 'to' }]);
        return { status: 200, body: { messages: phone.messages(to) } };
      }
      case 'POST /phone/reset':
        phone.reset();
        return { status: 200, body: { ok: true } };
      case 'GET /healthz':
        return { status: 200, body: { ok: true } };
      default:
        return errorResponse(404, 'NOT_FOUND', `No route ${method} ${url.pathname}; see the wa-sim README for the phone API.`);
    }
  } catch (err) {
    if (err instanceof PhoneApiError) return errorResponse(err.status, err.code, err.message, err.details);
    throw err;
  }
}
