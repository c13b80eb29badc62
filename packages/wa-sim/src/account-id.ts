/**
 * Accounts of one phone server. Glossary (the same words everywhere in this package):
 * - **account**: one simulated WhatsApp number, i.e. one {@link SimPhone} (its own linked devices, QR,
 *   messages, online switch); a phone server holds many, each created on first use.
 * - **account id**: the name in its routes, `^[A-Za-z0-9_-]{1,64}$`; the gateway's session id fits.
 * - **default account**: the account `default`, served at the root (`/phone/*`, `/ws`) as well as at
 *   `/accounts/default/*`; the only account of a phone server used the single-account way.
 * - **account URL**: the base URL of an account ({@link simAccountUrl}); `phoneUrl` for the page and the
 *   base of its phone API (`<account URL>/phone/scan`).
 *
 * Route grammar: `/accounts` (the list), `/accounts/<id>/phone/*` and `/accounts/<id>/ws`; every other
 * path is the default account's.
 */
import { InvalidAccountIdError } from './errors.js';
import type { SimPhone } from './sim-phone.js';

export const DEFAULT_ACCOUNT_ID = 'default';

const ACCOUNT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isAccountId(id: string): boolean {
  return ACCOUNT_ID_PATTERN.test(id);
}

/** @throws InvalidAccountIdError */
export function assertAccountId(id: string): string {
  if (!isAccountId(id)) throw new InvalidAccountIdError(id);
  return id;
}

/**
 * The base URL of an account of the phone server at `phoneUrl`: `phoneUrl` itself for `default`, else
 * `<phoneUrl>/accounts/<id>`. Give it as `phoneUrl` to `prepareSimClientOptions` (the page opens
 * `<account URL>/ws`) and call its phone API at `<account URL>/phone/...`.
 * @throws InvalidAccountIdError
 */
export function simAccountUrl(phoneUrl: string, accountId: string): string {
  assertAccountId(accountId);
  // String joining, not `new URL('accounts/…', phoneUrl)`: a base that already has a path would lose it.
  return accountId === DEFAULT_ACCOUNT_ID ? phoneUrl : `${phoneUrl.replace(/\/+$/, '')}/accounts/${accountId}`;
}

/** The account a path under `/accounts/` addresses and the path within it (`/phone/scan`, `/ws`), or the bad id. */
export type AccountPath = { accountId: string; path: string } | { invalidId: string };

/**
 * `/accounts/sales/phone/scan` → `{ accountId: 'sales', path: '/phone/scan' }`; `null` for a path not under
 * `/accounts/` (the default account's, at the root). Not for `/accounts` itself (the list).
 */
export function parseAccountPath(pathname: string): AccountPath | null {
  const match = /^\/accounts\/([^/]*)(\/.*)?$/.exec(pathname);
  if (match === null) return null;
  const id = match[1] ?? '';
  return isAccountId(id) ? { accountId: id, path: match[2] ?? '' } : { invalidId: id };
}

/** One line of `GET /accounts`. */
export interface AccountSummary {
  id: string;
  me: string;
  linked: boolean;
  online: boolean;
  devices: { id: string; linkedAt: number; connected: boolean }[];
}

/** The accounts of a phone server as the phone API sees them (phone-accounts.ts keeps them). */
export interface AccountDirectory {
  /** The account `id`, created on first use. @throws InvalidAccountIdError */
  account(id: string): SimPhone;
  /** Every account, sorted by id. */
  list(): AccountSummary[];
}
