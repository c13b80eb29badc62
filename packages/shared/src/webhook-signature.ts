/**
 * Webhook signatures as the Standard Webhooks specification defines them (standardwebhooks.com), so a
 * receiver verifies waq's deliveries with any of that spec's libraries:
 *
 *   webhook-id:        the delivery's id, the same on every redelivery of one event to one subscription
 *   webhook-timestamp: seconds since the epoch, when this attempt was signed
 *   webhook-signature: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`
 *
 * The secret is `whsec_` followed by the base64 of the key (24 to 64 random bytes; waq generates 32).
 * During a secret rotation the header may carry several signatures separated by spaces.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';

import { z } from 'zod';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
const KEY_BYTES = { min: 24, max: 64, generated: 32 } as const;

/** Base64 of a key: what follows `whsec_`. */
function decodeKey(secret: string): Buffer | undefined {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return undefined;
  const key = Buffer.from(encoded, 'base64');
  return key.length >= KEY_BYTES.min && key.length <= KEY_BYTES.max ? key : undefined;
}

export const webhookSecretSchema = z.string().refine((secret) => decodeKey(secret) !== undefined, {
  error: `must be "${WEBHOOK_SECRET_PREFIX}" followed by the base64 of ${KEY_BYTES.min} to ${KEY_BYTES.max} random bytes (leave it out and waq generates one)`,
});

/** A new secret: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(KEY_BYTES.generated).toString('base64')}`;
}

export interface WebhookHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

export interface SignInput {
  /** The delivery id (`webhookDeliveryId`). */
  readonly id: string;
  /** When this attempt is signed. */
  readonly at: Date;
  /** The exact bytes posted. */
  readonly body: string;
  /** One secret, or the new and the old one during a rotation (each signs). */
  readonly secrets: readonly string[];
}

export function signWebhook({ id, at, body, secrets }: SignInput): WebhookHeaders {
  if (secrets.length === 0) throw new Error('signWebhook: no secret');
  const timestamp = String(Math.floor(at.getTime() / 1_000));
  const signatures = secrets.map((secret) => {
    const key = decodeKey(secret);
    if (key === undefined) throw new Error('signWebhook: a secret is not a valid whsec_ secret');
    return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
  });
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') };
}

/**
 * The id of one event's delivery to one subscription: derived from both, so a redelivery (a retry, a
 * redrive, a crash before the answer was recorded) carries the same id and a receiver can drop it.
 */
export function webhookDeliveryId(subscriptionId: string, sessionId: string, eventId: string): string {
  return `msg_${createHash('sha256').update(`${sessionId}\n${subscriptionId}\n${eventId}`).digest('base64url').slice(0, 27)}`;
}
