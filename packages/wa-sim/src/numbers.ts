/**
 * Phone numbers on the simulated network. A number is digits only (country code first, no `+`), as in a
 * WhatsApp user id `<number>@c.us`.
 *
 * Plan: `1555 0…` (`15550100001`, the default account, and the peers tests write to, `15550100002`…) is
 * for hand-picked numbers; `1555 1000000`–`1555 9999999` for the accounts of a phone server other than
 * `default` ({@link accountNumber}); `999…` is not on WhatsApp. NANP area code 555 is not assigned, so
 * none of them is anybody's real number, and all are 11 digits like a real `+1` number.
 */
import { createHash } from 'node:crypto';

/** Country code 999 is unassigned in E.164, so no real number starts with it: the default "not on WhatsApp". */
export const UNREGISTERED_PREFIX = '999';

/** The default account's number (`--me` changes it). */
export const DEFAULT_ME = '15550100001';

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

const ACCOUNT_NUMBER_PREFIX = '1555';
const ACCOUNT_NUMBER_SPAN = 9_000_000;

/**
 * The number of account `id` (not `default`): the same for the same id on every run, `1555` and 7 digits
 * from 1000000, so never in the hand-picked `15550…` range. Two ids can hash to one number (about 1 in
 * 9 million per pair): the caller then asks again with `attempt` 1, 2, … (phone-accounts.ts does).
 */
export function accountNumber(id: string, attempt = 0): string {
  const digest = createHash('sha256').update(attempt === 0 ? id : `${id}#${attempt}`).digest();
  return `${ACCOUNT_NUMBER_PREFIX}${1_000_000 + (digest.readUInt32BE(0) % ACCOUNT_NUMBER_SPAN)}`;
}
