/**
 * Recipients: the one place where user-supplied phone numbers and WhatsApp ids are normalised.
 *
 * Accepted forms:
 * - E.164 phone numbers with a leading `+`: `+49 151 2345 6789`, `+1 (415) 555-0100` (spaces, dashes,
 *   dots and parentheses are ignored). A leading `+` is required: `0151…` is a national number whose
 *   country cannot be guessed, and guessing wrong sends a message to a stranger.
 * - WhatsApp user ids: `4915123456789@c.us` (also `@s.whatsapp.net`, the wire form, mapped to `@c.us`)
 *   and linked ids `…@lid`.
 * - Group ids: `120363025343454321@g.us` (current) or `4915123456789-1612345678@g.us` (legacy).
 *
 * Everything is normalised to the id whatsapp-web.js expects (`<digits>@c.us`, `…@lid`, `…@g.us`).
 */
import { z } from 'zod';

export type RecipientKind = 'user' | 'group';

export interface Recipient {
  /** WhatsApp id as whatsapp-web.js expects it, e.g. `4915123456789@c.us`. */
  readonly wid: string;
  readonly kind: RecipientKind;
}

/** Digits of an international number, country code first, without `+` (E.164 without its `+`). */
export const PHONE_DIGITS = /^[1-9]\d{6,14}$/;
const USER_ID = /^([1-9]\d{6,14})@(c\.us|s\.whatsapp\.net)$/;
const LID = /^\d{6,20}@lid$/;
const GROUP_ID = /^(\d{15,25}|[1-9]\d{6,14}-\d{9,11})@g\.us$/;
const PHONE_PUNCTUATION = /[\s\-.()\u00a0]/g;

export const RECIPIENT_HINT =
  'use an international number with a leading + (e.g. "+49 151 23456789"), a WhatsApp id ' +
  '("4915123456789@c.us") or a group id ("120363025343454321@g.us")';

/** Returns the normalised recipient, or a message saying what is wrong with `input`. */
export function parseRecipient(input: string): { ok: true; value: Recipient } | { ok: false; message: string } {
  const raw = input.trim();
  if (raw === '') return { ok: false, message: `recipient is empty: ${RECIPIENT_HINT}` };

  if (raw.includes('@')) {
    const lower = raw.toLowerCase();
    const user = USER_ID.exec(lower);
    if (user) return { ok: true, value: { wid: `${user[1]}@c.us`, kind: 'user' } };
    if (LID.test(lower)) return { ok: true, value: { wid: lower, kind: 'user' } };
    if (GROUP_ID.test(lower)) return { ok: true, value: { wid: lower, kind: 'group' } };
    return { ok: false, message: `not a valid WhatsApp id: ${RECIPIENT_HINT}` };
  }

  const compact = raw.replace(PHONE_PUNCTUATION, '');
  if (!compact.startsWith('+')) {
    return {
      ok: false,
      message: /^\d+$/.test(compact)
        ? `phone number has no country code: write it with a leading + (e.g. "+49 151 23456789")`
        : `not a phone number or WhatsApp id: ${RECIPIENT_HINT}`,
    };
  }
  const digits = compact.slice(1);
  if (!/^\d+$/.test(digits)) return { ok: false, message: `phone number contains characters other than digits: ${RECIPIENT_HINT}` };
  if (!PHONE_DIGITS.test(digits)) {
    return { ok: false, message: 'phone number must have 7 to 15 digits after the +, and cannot start with +0' };
  }
  return { ok: true, value: { wid: `${digits}@c.us`, kind: 'user' } };
}

/** zod schema: a recipient string in, the normalised WhatsApp id out; the issue names the field. */
export const recipientSchema = z
  .string({ error: 'must be a string: ' + RECIPIENT_HINT })
  .max(64, { error: 'is too long for a phone number or WhatsApp id' })
  .transform((input, ctx) => {
    const parsed = parseRecipient(input);
    if (parsed.ok) return parsed.value.wid;
    ctx.addIssue({ code: 'custom', message: parsed.message, input });
    return z.NEVER;
  });
