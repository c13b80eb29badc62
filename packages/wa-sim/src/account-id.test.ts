import { describe, expect, it } from 'vitest';
import { isAccountId, parseAccountPath, simAccountUrl } from './account-id.js';
import { InvalidAccountIdError } from './errors.js';
import { accountNumber, DEFAULT_ME } from './numbers.js';

describe('account ids and URLs', () => {
  it('accepts 1–64 of A–Z a–z 0–9 _ - and nothing else', () => {
    for (const id of ['default', 'sales', 'Sales-1', 'support_de', 'a', 'x'.repeat(64)]) expect(isAccountId(id), id).toBe(true);
    for (const id of ['', 'a.b', 'a b', 'a/b', 'a%20b', 'ü', 'x'.repeat(65)]) expect(isAccountId(id), id).toBe(false);
  });

  it('simAccountUrl: the phone URL itself for default, <phoneUrl>/accounts/<id> for the others', () => {
    expect(simAccountUrl('http://127.0.0.1:4100', 'default')).toBe('http://127.0.0.1:4100');
    expect(simAccountUrl('http://127.0.0.1:4100', 'sales')).toBe('http://127.0.0.1:4100/accounts/sales');
    expect(simAccountUrl('http://127.0.0.1:4100/', 'sales')).toBe('http://127.0.0.1:4100/accounts/sales');
    expect(() => simAccountUrl('http://127.0.0.1:4100', 'a/b')).toThrow(InvalidAccountIdError);
    expect(() => simAccountUrl('http://127.0.0.1:4100', '')).toThrow(/1–64 characters/);
  });

  it('parseAccountPath: the account and the path within it; null at the root; the bad id', () => {
    expect(parseAccountPath('/phone/scan')).toBeNull();
    expect(parseAccountPath('/ws')).toBeNull();
    expect(parseAccountPath('/accountsx/a/phone')).toBeNull();
    expect(parseAccountPath('/accounts/sales/phone/scan')).toEqual({ accountId: 'sales', path: '/phone/scan' });
    expect(parseAccountPath('/accounts/sales/ws')).toEqual({ accountId: 'sales', path: '/ws' });
    expect(parseAccountPath('/accounts/sales')).toEqual({ accountId: 'sales', path: '' });
    expect(parseAccountPath('/accounts/a.b/phone')).toEqual({ invalidId: 'a.b' });
    expect(parseAccountPath('/accounts//phone')).toEqual({ invalidId: '' });
  });

  it('accountNumber: stable for an id, 11 digits under 1555, never in the hand-picked 15550… range', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `session-${i}`);
    const numbers = ids.map((id) => accountNumber(id));
    expect(ids.map((id) => accountNumber(id))).toEqual(numbers);
    for (const n of numbers) expect(n).toMatch(/^1555[1-9]\d{6}$/);
    expect(new Set(numbers).size).toBe(ids.length);
    expect(numbers).not.toContain(DEFAULT_ME);
    // The next candidate, for when two ids meet on one number.
    expect(accountNumber('sales', 1)).not.toBe(accountNumber('sales'));
  });
});
