import { once } from 'node:events';
import { request, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { describe, expect, it } from 'vitest';

import { AddressRefusedError, assertAllowedHost, classifyAddress, guardedLookup } from './webhook-address.js';

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', 'reserved'],
    ['::', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
  ] as const)('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it('refuses what is not an IP', () => {
    expect(() => classifyAddress('example.com')).toThrow(/not an IP address/);
  });
});

describe('assertAllowedHost', () => {
  it('refuses private IP literals, names what to set, and leaves names to the connect-time check', () => {
    expect(() => assertAllowedHost('127.0.0.1', { allowPrivate: false })).toThrow(/127\.0\.0\.1, a loopback address: webhooks are not posted there \(set WEBHOOK_ALLOW_PRIVATE=true/);
    expect(() => assertAllowedHost('[::1]', { allowPrivate: false })).toThrow(AddressRefusedError);
    expect(() => assertAllowedHost('127.0.0.1', { allowPrivate: true })).not.toThrow();
    expect(() => assertAllowedHost('8.8.8.8', { allowPrivate: false })).not.toThrow();
    expect(() => assertAllowedHost('receiver.example', { allowPrivate: false })).not.toThrow();
  });
});

describe('guardedLookup', () => {
  /** A name whose answers the test controls, as a rebinding DNS server would. */
  const answering = (addresses: string[]) => (_host: string, _options: unknown, callback: (error: null, addresses: { address: string; family: number }[]) => void) =>
    callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));

  /** A real HTTP request to a local server through the guarded lookup: what the delivery does. */
  async function post(lookup: ReturnType<typeof guardedLookup>): Promise<number> {
    const server = createServer((_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      return await new Promise<number>((resolve, reject) => {
        const req = request({ host: 'receiver.test', port, method: 'POST', lookup, path: '/' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('{}');
      });
    } finally {
      server.close();
    }
  }

  it('refuses the connection when the name resolves to a private address (a rebinding name included)', async () => {
    await expect(post(guardedLookup({ allowPrivate: false }, answering(['127.0.0.1'])))).rejects.toThrow(/receiver\.test resolves to 127\.0\.0\.1, a loopback address/);
    // One bad answer among good ones is enough: the socket may try each.
    await expect(post(guardedLookup({ allowPrivate: false }, answering(['8.8.8.8', '10.0.0.7'])))).rejects.toBeInstanceOf(AddressRefusedError);
  });

  it('connects when private addresses are allowed', async () => {
    expect(await post(guardedLookup({ allowPrivate: true }, answering(['127.0.0.1'])))).toBe(200);
  });

  it('passes resolver errors through', async () => {
    const failing = (_host: string, _options: unknown, callback: (error: NodeJS.ErrnoException, addresses: never[]) => void) => callback(Object.assign(new Error('getaddrinfo ENOTFOUND receiver.test'), { code: 'ENOTFOUND' }), []);
    await expect(post(guardedLookup({ allowPrivate: false }, failing))).rejects.toThrow(/ENOTFOUND/);
  });

  it('resolves real names with the system resolver', async () => {
    await expect(
      new Promise((resolve, reject) => guardedLookup({ allowPrivate: false })('localhost', { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)))),
    ).rejects.toThrow(/localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
  });
});
