/**
 * Whether a number has WhatsApp, asked of WhatsApp Web once and then kept (number-check.ts in shared):
 * the `check` job and every send to a phone number go through here, so a number without an account
 * fails fast, and one whose WhatsApp id differs from `<digits>@c.us` is sent to under its real id.
 */
import { phoneDigitsOf, readNumberCheck, UnregisteredRecipientError, writeNumberCheck, type NumberCheck, type NumberCheckTtls, type RedisClient, type SessionKeys } from '@waq/shared';

import type { WhatsAppDriver } from './driver/driver.js';

export interface NumberLookupOptions {
  readonly redis: RedisClient;
  readonly keys: SessionKeys;
  readonly ttls: NumberCheckTtls;
}

export class NumberLookup {
  constructor(private readonly options: NumberLookupOptions) {}

  /** Asks WhatsApp about `digits` now and keeps the answer. */
  async check(client: WhatsAppDriver, digits: string): Promise<NumberCheck> {
    const { redis, keys, ttls } = this.options;
    return writeNumberCheck(redis, keys, digits, await client.numberId(digits), ttls);
  }

  /**
   * The WhatsApp id to send to: `to` itself for a group or a linked id; for a phone number, the id
   * WhatsApp gave for it (kept, or asked now). Throws `UnregisteredRecipientError` for a number without
   * an account.
   */
  async resolve(client: WhatsAppDriver, to: string): Promise<string> {
    const digits = phoneDigitsOf(to);
    if (digits === undefined) return to;
    const known = (await readNumberCheck(this.options.redis, this.options.keys, digits)) ?? (await this.check(client, digits));
    if (!known.onWhatsApp) throw new UnregisteredRecipientError();
    return known.wid ?? to;
  }
}
