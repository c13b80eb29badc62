/**
 * Whether a phone number has a WhatsApp account, as WhatsApp answered it to a session's worker, kept in
 * the session's slot for NUMBER_CHECK_TTL_S (NUMBER_CHECK_NEGATIVE_TTL_S for a "no"). The worker asks
 * (a `check` job, or a send to a number it has no answer for) and writes it; the API reads it
 * (`GET …/contacts/:number`), and the send script refuses a number known to have no account.
 */
import { z } from 'zod';

import type { SessionKeys } from './keys.js';
import { PHONE_DIGITS } from './recipient.js';
import type { RedisClient } from './redis.js';

export const numberCheckSchema = z.object({
  /** The number asked about, E.164 (`+4915123456789`). */
  number: z.string(),
  onWhatsApp: z.boolean(),
  /** Its WhatsApp id, when it has an account (it may differ from `<digits>@c.us`). */
  wid: z.string().optional(),
  checkedAt: z.iso.datetime(),
});
export type NumberCheck = z.infer<typeof numberCheckSchema>;

/** The digits of a user id `<digits>@c.us`, or undefined for any other recipient (a group, a linked id). */
export function phoneDigitsOf(wid: string): string | undefined {
  const match = /^(\d+)@c\.us$/.exec(wid);
  return match !== null && PHONE_DIGITS.test(match[1] ?? '') ? match[1] : undefined;
}

/** The cached answer for `digits`, or null (never asked, expired, or unreadable). */
export async function readNumberCheck(redis: RedisClient, keys: SessionKeys, digits: string): Promise<NumberCheck | null> {
  const raw = await redis.get(keys.numberCheck(digits));
  if (raw === null) return null;
  try {
    const parsed = numberCheckSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export interface NumberCheckTtls {
  /** NUMBER_CHECK_TTL_S */
  readonly positiveSeconds: number;
  /** NUMBER_CHECK_NEGATIVE_TTL_S */
  readonly negativeSeconds: number;
}

/** Keeps WhatsApp's answer for `digits`; returns it. */
export async function writeNumberCheck(redis: RedisClient, keys: SessionKeys, digits: string, wid: string | null, ttls: NumberCheckTtls): Promise<NumberCheck> {
  const check: NumberCheck = { number: `+${digits}`, onWhatsApp: wid !== null, ...(wid === null ? {} : { wid }), checkedAt: new Date().toISOString() };
  await redis.set(keys.numberCheck(digits), JSON.stringify(check), 'EX', wid === null ? ttls.negativeSeconds : ttls.positiveSeconds);
  return check;
}
