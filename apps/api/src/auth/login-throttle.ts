/**
 * Brute-force throttle of the login form, per client address, in Redis (every API process of an
 * installation shares it).
 *
 * Every attempt counts as a failure the moment it starts (one atomic script: locked? else count it),
 * and a right key then clears the count. Counting up front is what makes a burst of parallel guesses
 * no faster than guesses in a row: none of them can slip between "checked" and "recorded".
 *
 * The first `freeAttempts` wrong keys cost nothing (people mistype). From then on each wrong key locks
 * the address out for `baseMs`, doubling per further wrong key, up to `maxMs`. While locked, an attempt
 * is refused before the key is looked at (429 + Retry-After) and does not count, so waiting is the only
 * way on. The count is forgotten `idleResetMs` after the last attempt. Time is Redis's own (`TIME`), so
 * API processes on hosts with skewed clocks agree.
 */
import { loginThrottleKey, type RedisClient, RedisScript } from '@waq/shared';

export interface LoginThrottlePolicy {
  /** Wrong keys before the first lockout. @defaultValue 5 */
  readonly freeAttempts: number;
  /** First lockout, in ms; doubles per further wrong key. @defaultValue 1000 */
  readonly baseMs: number;
  /** Longest lockout, in ms. @defaultValue 900000 (15 min) */
  readonly maxMs: number;
  /** An address with no attempt for this long starts again from zero, in ms. @defaultValue 3600000 (1 h) */
  readonly idleResetMs: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePolicy = { freeAttempts: 5, baseMs: 1_000, maxMs: 15 * 60_000, idleResetMs: 60 * 60_000 };

/** The lockout that follows the `failures`-th wrong key in a row (0 while still free). */
export function lockoutMs(failures: number, { freeAttempts, baseMs, maxMs }: LoginThrottlePolicy): number {
  if (failures <= freeAttempts) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - freeAttempts - 1, 40));
}

/**
 * KEYS[1] the address's hash; ARGV: freeAttempts, baseMs, maxMs, idleResetMs.
 * Returns { 0, retryMs } when locked out, else { 1, failures } with this attempt counted.
 * The lockout formula is `lockoutMs` above (a unit test keeps the two in step).
 */
const ATTEMPT = new RedisScript(`
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lockedUntil = tonumber(redis.call('HGET', KEYS[1], 'lockedUntil') or '0')
if lockedUntil > now then return { 0, lockedUntil - now } end
local free, base, max, idle = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local lock = 0
if failures > free then lock = math.floor(math.min(max, base * 2 ^ math.min(failures - free - 1, 40))) end
redis.call('HSET', KEYS[1], 'lockedUntil', now + lock)
redis.call('PEXPIRE', KEYS[1], lock + idle)
return { 1, failures }
`);

/** `failures`: wrong keys in a row from this address, this attempt included (until it proves right). */
export type LoginAttempt = { readonly allowed: true; readonly failures: number } | { readonly allowed: false; readonly retryAfterMs: number };

export class LoginThrottle {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly policy: LoginThrottlePolicy = DEFAULT_LOGIN_THROTTLE,
  ) {}

  /** Starts an attempt from `address`: refused while it is locked out, else counted as a failure until `succeeded`. */
  async attempt(address: string): Promise<LoginAttempt> {
    const { freeAttempts, baseMs, maxMs, idleResetMs } = this.policy;
    const [allowed, value] = (await ATTEMPT.run(this.redis, [this.key(address)], [freeAttempts, baseMs, maxMs, idleResetMs])) as [number, number];
    return allowed === 1 ? { allowed: true, failures: value } : { allowed: false, retryAfterMs: value };
  }

  /** The right key: the address starts again from zero. */
  async succeeded(address: string): Promise<void> {
    await this.redis.del(this.key(address));
  }

  private key(address: string): string {
    return loginThrottleKey(this.prefix, clientAddressKey(address));
  }
}

/**
 * The throttled unit of a client address: an IPv4 address (also when IPv4-mapped, `::ffff:a.b.c.d`),
 * or the /64 network of an IPv6 address (one subscriber usually holds a whole /64).
 */
export function clientAddressKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!address.includes(':')) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

function expandIpv6(address: string): string[] {
  const [head = '', tail] = (address.toLowerCase().split('%', 1)[0] ?? '').split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array.from({ length: Math.max(0, missing) }, () => '0'), ...right].map((group) => group.replace(/^0+(?=.)/, ''));
}
