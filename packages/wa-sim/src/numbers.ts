/**
 * Phone numbers on the simulated network. A number is digits only (country code first, no `+`), as in a
 * WhatsApp user id `<number>@c.us`.
 */

/** Country code 999 is unassigned in E.164, so no real number starts with it: the default "not on WhatsApp". */
export const UNREGISTERED_PREFIX = '999';

/** An example number that is not registered on the simulated network by default. */
export const UNREGISTERED_NUMBER = '99900000001';

/** `+1 555-010 0002`, `15550100002@c.us` or `15550100002@s.whatsapp.net` → `15550100002`; `null` if not a number. */
export function normalizeNumber(input: string): string | null {
  const bare = input.trim().replace(/@(c\.us|s\.whatsapp\.net)$/, '').replace(/[\s+\-()]/g, '');
  return /^\d{5,20}$/.test(bare) ? bare : null;
}

/** Default registration rule: every number is on WhatsApp except those under {@link UNREGISTERED_PREFIX}. */
export function defaultIsRegistered(number: string): boolean {
  return !number.startsWith(UNREGISTERED_PREFIX);
}

export const toJid = (number: string): string => `${number}@c.us`;
