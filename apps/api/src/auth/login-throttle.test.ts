import { describe, expect, it } from 'vitest';

import { clientAddressKey, DEFAULT_LOGIN_THROTTLE, lockoutMs } from './login-throttle.js';

describe('lockoutMs', () => {
  it('lets the first wrong keys go, then doubles from the base up to the cap', () => {
    const policy = { ...DEFAULT_LOGIN_THROTTLE, freeAttempts: 5, baseMs: 1_000, maxMs: 900_000 };
    expect([1, 2, 3, 4, 5].map((failures) => lockoutMs(failures, policy))).toEqual([0, 0, 0, 0, 0]);
    expect([6, 7, 8, 9, 10].map((failures) => lockoutMs(failures, policy))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
    expect(lockoutMs(15, policy)).toBe(512_000);
    expect(lockoutMs(16, policy)).toBe(900_000);
    expect(lockoutMs(10_000, policy)).toBe(900_000);
  });
});

describe('clientAddressKey', () => {
  it('throttles an IPv4 address as itself, also when IPv4-mapped', () => {
    expect(clientAddressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('::FFFF:127.0.0.1')).toBe('127.0.0.1');
  });

  it('throttles an IPv6 address by its /64, however it is written', () => {
    const key = '2001:db8:0:1::/64';
    expect(clientAddressKey('2001:db8:0:1::1')).toBe(key);
    expect(clientAddressKey('2001:0db8:0000:0001:ffff:ffff:ffff:ffff')).toBe(key);
    expect(clientAddressKey('2001:DB8:0:1:a:b:c:d%eth0')).toBe(key);
    expect(clientAddressKey('2001:db8:0:2::1')).not.toBe(key);
    expect(clientAddressKey('::1')).toBe('0:0:0:0::/64');
    expect(clientAddressKey('fe80::1%lo')).toBe('fe80:0:0:0::/64');
  });

  it('puts a peer without an address in one bucket', () => {
    expect(clientAddressKey(undefined)).toBe('unknown');
    expect(clientAddressKey('')).toBe('unknown');
  });
});
