/**
 * Where a webhook may be posted: not to loopback, private, link-local or otherwise reserved addresses
 * (the gateway's own network: Redis, the worker's health port, a cloud metadata service), unless the
 * installation allows it (`WEBHOOK_ALLOW_PRIVATE=true`: a receiver on the same host or network).
 *
 * The check is made on the address connected to, not only on the name: `guardedLookup` is the `lookup`
 * of the delivery's socket, so a name that resolved to a public address when the subscription was made
 * and to a private one now (DNS rebinding) is refused at connect time. An IP literal in the URL is
 * never looked up: `assertAllowedHost` checks it before connecting.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

export type AddressClass = 'public' | 'loopback' | 'private' | 'link-local' | 'reserved';

const RANGES: readonly (readonly [AddressClass, 'ipv4' | 'ipv6', string, number])[] = [
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['loopback', 'ipv6', '::1', 128],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['private', 'ipv4', '192.168.0.0', 16],
  ['private', 'ipv4', '100.64.0.0', 10], // carrier-grade NAT
  ['private', 'ipv6', 'fc00::', 7], // unique local
  ['link-local', 'ipv4', '169.254.0.0', 16], // cloud metadata services live here
  ['link-local', 'ipv6', 'fe80::', 10],
  ['reserved', 'ipv4', '0.0.0.0', 8],
  ['reserved', 'ipv4', '192.0.0.0', 24],
  ['reserved', 'ipv4', '198.18.0.0', 15],
  ['reserved', 'ipv4', '224.0.0.0', 4], // multicast
  ['reserved', 'ipv4', '240.0.0.0', 4], // reserved, broadcast
  ['reserved', 'ipv6', '::', 128],
  ['reserved', 'ipv6', 'ff00::', 8], // multicast
  ['reserved', 'ipv6', '64:ff9b::', 96], // NAT64: reaches IPv4 addresses, checked by what they map to below
];

const lists = new Map<AddressClass, BlockList>();
for (const [kind, family, network, prefix] of RANGES) {
  let list = lists.get(kind);
  if (list === undefined) lists.set(kind, (list = new BlockList()));
  list.addSubnet(network, prefix, family);
}

/** The class of an IP address (v4, v6, or v4 mapped into v6). Throws on a string that is not an IP. */
export function classifyAddress(address: string): AddressClass {
  const family = isIP(address);
  if (family === 0) throw new Error(`"${address}" is not an IP address`);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return classifyAddress(mapped);
  for (const [kind, list] of lists) if (list.check(address, family === 4 ? 'ipv4' : 'ipv6')) return kind;
  return 'public';
}

export class AddressRefusedError extends Error {
  readonly code = 'address_refused';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly kind: AddressClass,
  ) {
    super(`${host === address ? address : `${host} resolves to ${address}`}, a ${kind} address: webhooks are not posted there (set WEBHOOK_ALLOW_PRIVATE=true to allow it)`);
    this.name = 'AddressRefusedError';
  }
}

export interface AddressPolicy {
  /** WEBHOOK_ALLOW_PRIVATE */
  readonly allowPrivate: boolean;
}

/** Throws `AddressRefusedError` for an IP literal that the policy refuses (names are checked at connect time). */
export function assertAllowedHost(host: string, { allowPrivate }: AddressPolicy): void {
  const literal = host.replace(/^\[(.*)\]$/, '$1');
  if (allowPrivate || isIP(literal) === 0) return;
  const kind = classifyAddress(literal);
  if (kind !== 'public') throw new AddressRefusedError(literal, literal, kind);
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
/** The `lookup` option of `net.connect` / `http.request`. */
export type LookupFunction = (hostname: string, options: { family?: number | string; all?: boolean; hints?: number }, callback: LookupCallback) => void;
type Resolver = (hostname: string, options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * A socket `lookup` that resolves like `dns.lookup` and fails the connection with `AddressRefusedError`
 * when any address of the name is one the policy refuses (one bad answer is enough: the socket may try
 * each in turn). `resolve` replaces the system resolver in tests.
 */
export function guardedLookup({ allowPrivate }: AddressPolicy, resolve: Resolver = dnsLookup as unknown as Resolver): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
    resolve(hostname, { all: true, family, ...(options.hints === undefined ? {} : { hints: options.hints }) }, (error, addresses) => {
      if (error) return callback(error, []);
      if (!allowPrivate) {
        for (const { address } of addresses) {
          const kind = classifyAddress(address);
          if (kind !== 'public') return callback(Object.assign(new AddressRefusedError(hostname, address, kind), { errno: 0, syscall: 'lookup' }) as NodeJS.ErrnoException, []);
        }
      }
      if (options.all === true) return callback(null, addresses);
      const [first] = addresses;
      if (first === undefined) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
