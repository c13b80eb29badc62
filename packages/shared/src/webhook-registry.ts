/**
 * Webhook subscriptions, per session: where a session's events are posted (`url`), which ones
 * (`events`), signed with which secret (Standard Webhooks, webhook-signature.ts), and whether they are
 * posted now (`enabled`, and `paused` when deliveries kept failing). Kept in the session's hash slot
 * (`SessionKeys.webhooks`, one hash: id → JSON), so a session's deletion removes them with its other keys.
 *
 * The secret is stored (waq signs with it) and shown once, in the answer to the create; reads return
 * the subscription without it. Every change is one command or script: two API processes changing one
 * subscription do not lose either change.
 */
import { randomBytes } from 'node:crypto';

import { z } from 'zod';

import { sessionKeys } from './keys.js';
import { RedisScript } from './redis-script.js';
import type { RedisClient } from './redis.js';
import { generateWebhookSecret, webhookSecretSchema } from './webhook-signature.js';

/** The events a subscription can ask for. `session.qr` is opt-in: a QR code is a credential while it is shown. */
export const WEBHOOK_EVENT_TYPES = ['message.incoming', 'message.sent', 'message.ack', 'message.failed', 'message.cancelled', 'session.status', 'session.qr'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const webhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);
/** What a subscription gets when it names no events: everything but `session.qr`. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = WEBHOOK_EVENT_TYPES.filter((type) => type !== 'session.qr');

export const WEBHOOK_URL_MAX_LENGTH = 2_048;

export const webhookUrlSchema = z
  .string()
  .max(WEBHOOK_URL_MAX_LENGTH, { error: `must be at most ${WEBHOOK_URL_MAX_LENGTH} characters` })
  .superRefine((raw, context) => {
    const url = URL.parse(raw);
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') {
      context.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL, e.g. https://example.com/hooks/waq' });
    } else if (url.username !== '' || url.password !== '') {
      context.addIssue({ code: 'custom', message: 'must not carry credentials (user:password@): receivers authenticate waq by the webhook-signature header' });
    } else if (url.hash !== '') {
      context.addIssue({ code: 'custom', message: 'must not have a #fragment (it is never sent)' });
    }
  });

const eventsSchema = z.array(webhookEventTypeSchema).min(1, { error: 'name at least one event, or leave events out for all but session.qr' });

const pausedSchema = z.object({ at: z.iso.datetime(), reason: z.string() });

export const webhookSubscriptionSchema = z.object({
  id: z.string(),
  session: z.string(),
  url: webhookUrlSchema,
  events: eventsSchema,
  enabled: z.boolean(),
  /** Set when deliveries kept failing; cleared when the subscription is enabled again. */
  paused: pausedSchema.nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type WebhookSubscription = z.infer<typeof webhookSubscriptionSchema>;

const storedSchema = webhookSubscriptionSchema.extend({
  secret: webhookSecretSchema,
  /** Creation order within the session (several can be created in one millisecond). */
  order: z.number().int().positive(),
});
/** A subscription as stored: with its secret. Only the delivery side reads it. */
export type StoredWebhookSubscription = z.infer<typeof storedSchema>;

export const createWebhookInputSchema = z
  .object({
    url: webhookUrlSchema,
    events: eventsSchema.optional(),
    secret: webhookSecretSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .strict();
export type CreateWebhookInput = z.input<typeof createWebhookInputSchema>;

export const updateWebhookInputSchema = z
  .object({
    url: webhookUrlSchema.optional(),
    events: eventsSchema.optional(),
    /** true also resumes a paused subscription. */
    enabled: z.boolean().optional(),
  })
  .strict()
  .refine((patch) => Object.keys(patch).length > 0, { error: 'change at least one of url, events, enabled' });
export type UpdateWebhookInput = z.input<typeof updateWebhookInputSchema>;

/** Subscription ids: `wh_` and 16 lowercase base32 characters (safe in keys, queue names and paths). */
export const webhookIdSchema = z.string().regex(/^wh_[a-z2-7]{16}$/, { error: 'is not a webhook id (wh_ and 16 characters)' });

function newWebhookId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `wh_${[...randomBytes(16)].map((byte) => alphabet[byte % 32]).join('')}`;
}

/** The id of the subscription WEBHOOK_URL makes for every session. */
export const CONFIGURED_WEBHOOK_ID = 'wh_configured222222';

export interface ConfiguredWebhook {
  readonly url: string;
  readonly events: readonly WebhookEventType[];
  readonly secret: string;
}

/** KEYS[1] the hash; ARGV: id, the JSON read before, the JSON to write. 1 when written, 0 when it changed meanwhile, -1 when gone. */
const COMPARE_AND_SET = new RedisScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return -1 end
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`);

const withoutSecret = ({ secret: _secret, order: _order, ...subscription }: StoredWebhookSubscription): WebhookSubscription => subscription;

export class WebhookRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private key(session: string): string {
    return sessionKeys({ prefix: this.prefix, sessionId: session }).webhooks;
  }

  /**
   * A new subscription's record, with the next order of the session's subscriptions; its cursor is set at
   * the session's newest event, so its deliveries start with the events after it (none of the history).
   */
  private async newRecord(session: string, id: string, fields: Pick<StoredWebhookSubscription, 'url' | 'events' | 'enabled' | 'secret'>): Promise<StoredWebhookSubscription> {
    const keys = sessionKeys({ prefix: this.prefix, sessionId: session });
    const at = this.now().toISOString();
    const order = await this.redis.incr(keys.webhookOrder);
    const [newest] = await this.redis.xrevrange(keys.events, '+', '-', 'COUNT', 1);
    await this.redis.set(keys.webhookCursor(id), newest?.[0] ?? '0-0', 'NX');
    return storedSchema.parse({ id, session, ...fields, paused: null, order, createdAt: at, updatedAt: at });
  }

  /** Creates a subscription; the answer is the only one that carries its secret (generated when not given). */
  async create(session: string, input: CreateWebhookInput): Promise<{ subscription: WebhookSubscription; secret: string }> {
    const { url, events = DEFAULT_WEBHOOK_EVENTS, secret = generateWebhookSecret(), enabled = true } = createWebhookInputSchema.parse(input);
    const stored = await this.newRecord(session, newWebhookId(), { url, events: [...new Set(events)], enabled, secret });
    if ((await this.redis.hsetnx(this.key(session), stored.id, JSON.stringify(stored))) !== 1) throw new Error(`webhook id ${stored.id} already taken`);
    return { subscription: withoutSecret(stored), secret };
  }

  async list(session: string): Promise<WebhookSubscription[]> {
    return (await this.listStored(session)).map(withoutSecret);
  }

  /** With secrets: for the delivery side. Entries that do not parse are left out. */
  async listStored(session: string): Promise<StoredWebhookSubscription[]> {
    const entries = await this.redis.hgetall(this.key(session));
    return Object.values(entries)
      .flatMap((raw) => decodeStored(raw) ?? [])
      .sort((a, b) => a.order - b.order);
  }

  async get(session: string, id: string): Promise<WebhookSubscription | null> {
    const stored = await this.getStored(session, id);
    return stored === null ? null : withoutSecret(stored);
  }

  async getStored(session: string, id: string): Promise<StoredWebhookSubscription | null> {
    const raw = await this.redis.hget(this.key(session), id);
    return raw === null ? null : decodeStored(raw);
  }

  /** Changes url, events or enabled (`enabled: true` also resumes a paused one); null when there is no such subscription. */
  async update(session: string, id: string, patch: UpdateWebhookInput): Promise<WebhookSubscription | null> {
    const changes = updateWebhookInputSchema.parse(patch);
    return this.change(session, id, (stored) => ({
      ...stored,
      ...changes,
      ...(changes.events === undefined ? {} : { events: [...new Set(changes.events)] }),
      ...(changes.enabled === true ? { paused: null } : {}),
    }));
  }

  /**
   * Makes the session's subscription `CONFIGURED_WEBHOOK_ID` say what the configuration says (url,
   * events, secret), creating it the first time; whether it is enabled or paused is left as it is.
   */
  async ensureConfigured(session: string, configured: ConfiguredWebhook): Promise<void> {
    for (;;) {
      const raw = await this.redis.hget(this.key(session), CONFIGURED_WEBHOOK_ID);
      const stored = raw === null ? null : decodeStored(raw);
      if (stored === null) {
        const created = await this.newRecord(session, CONFIGURED_WEBHOOK_ID, { url: configured.url, events: [...configured.events], enabled: true, secret: configured.secret });
        if (raw === null ? (await this.redis.hsetnx(this.key(session), CONFIGURED_WEBHOOK_ID, JSON.stringify(created))) === 1 : Number(await COMPARE_AND_SET.run(this.redis, [this.key(session)], [CONFIGURED_WEBHOOK_ID, raw, JSON.stringify(created)])) === 1) return;
        continue;
      }
      if (stored.url === configured.url && stored.secret === configured.secret && stored.events.join() === configured.events.join()) return;
      const next = storedSchema.parse({ ...stored, url: configured.url, events: [...configured.events], secret: configured.secret, updatedAt: this.now().toISOString() });
      if (Number(await COMPARE_AND_SET.run(this.redis, [this.key(session)], [CONFIGURED_WEBHOOK_ID, raw as string, JSON.stringify(next)])) === 1) return;
    }
  }

  /** Pauses a subscription whose deliveries keep failing (the delivery side calls it); null when gone. */
  async pause(session: string, id: string, reason: string): Promise<WebhookSubscription | null> {
    return this.change(session, id, (stored) => ({ ...stored, paused: { at: this.now().toISOString(), reason } }));
  }

  /** Whether it existed. Its cursor and seq go with it; its queue and dead letters stay until the session is deleted. */
  async remove(session: string, id: string): Promise<boolean> {
    const keys = sessionKeys({ prefix: this.prefix, sessionId: session });
    const removed = (await this.redis.hdel(this.key(session), id)) === 1;
    await this.redis.del(keys.webhookCursor(id), keys.webhookSeq(id));
    return removed;
  }

  private async change(session: string, id: string, apply: (stored: StoredWebhookSubscription) => StoredWebhookSubscription): Promise<WebhookSubscription | null> {
    for (;;) {
      const raw = await this.redis.hget(this.key(session), id);
      const stored = raw === null ? null : decodeStored(raw);
      if (raw === null || stored === null) return null;
      const next = storedSchema.parse({ ...apply(stored), updatedAt: this.now().toISOString() });
      const written = Number(await COMPARE_AND_SET.run(this.redis, [this.key(session)], [id, raw, JSON.stringify(next)]));
      if (written === 1) return withoutSecret(next);
      if (written === -1) return null;
      // Changed by someone else since it was read: apply the change to what is there now.
    }
  }
}

function decodeStored(raw: string): StoredWebhookSubscription | null {
  try {
    const parsed = storedSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
