import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';

import { generateWebhookSecret, signWebhook, webhookDeliveryId, webhookSecretSchema } from './webhook-signature.js';

/** What a receiver does with the official Standard Webhooks library (not waq's code). */
function verify(secret: string, body: string, headers: Record<string, string>): unknown {
  return new Webhook(secret).verify(body, headers);
}

const body = JSON.stringify({ id: 'evt', type: 'message.incoming', session: 'sales', seq: 1, timestamp: '2026-12-04T18:00:00.000Z', data: { from: '+4915123456789' } });

describe('webhook signatures (Standard Webhooks)', () => {
  it('are verified by the standardwebhooks library', () => {
    const secret = generateWebhookSecret();
    const headers = signWebhook({ id: webhookDeliveryId('wh1', 'sales', '1-0'), at: new Date(), body, secrets: [secret] });
    expect(verify(secret, body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('fail that verification for a tampered body, an old timestamp, or another secret', () => {
    const secret = generateWebhookSecret();
    const headers = { ...signWebhook({ id: 'msg_1', at: new Date(), body, secrets: [secret] }) };
    expect(() => verify(secret, body.replace('sales', 'other'), headers)).toThrow(WebhookVerificationError);
    expect(() => verify(generateWebhookSecret(), body, headers)).toThrow(WebhookVerificationError);
    const old = { ...signWebhook({ id: 'msg_1', at: new Date(Date.now() - 10 * 60_000), body, secrets: [secret] }) };
    expect(() => verify(secret, body, old)).toThrow(/timestamp too old/i);
  });

  it('carry one signature per secret during a rotation: either secret verifies', () => {
    const [next, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = { ...signWebhook({ id: 'msg_2', at: new Date(), body, secrets: [next, previous] }) };
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verify(next, body, headers)).toBeTruthy();
    expect(verify(previous, body, headers)).toBeTruthy();
  });

  it('use a delivery id derived from the event and the subscription: the same on every redelivery', () => {
    expect(webhookDeliveryId('wh1', 'sales', '1-0')).toBe(webhookDeliveryId('wh1', 'sales', '1-0'));
    expect(webhookDeliveryId('wh1', 'sales', '1-0')).not.toBe(webhookDeliveryId('wh2', 'sales', '1-0'));
    expect(webhookDeliveryId('wh1', 'sales', '1-0')).not.toBe(webhookDeliveryId('wh1', 'sales', '1-1'));
    expect(webhookDeliveryId('wh1', 'sales', '1-0')).toMatch(/^msg_[A-Za-z0-9_-]{27}$/);
  });

  it('accept only whsec_ secrets of 24 to 64 bytes, and say what a secret looks like', () => {
    expect(webhookSecretSchema.safeParse(generateWebhookSecret()).success).toBe(true);
    expect(webhookSecretSchema.safeParse(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).success).toBe(true);
    for (const bad of ['secret', `whsec_${Buffer.alloc(16, 1).toString('base64')}`, `whsec_${Buffer.alloc(65, 1).toString('base64')}`, 'whsec_not base64!']) {
      const result = webhookSecretSchema.safeParse(bad);
      expect(result.success, bad).toBe(false);
      expect(result.error?.issues[0]?.message).toMatch(/must be "whsec_" followed by the base64 of 24 to 64 random bytes/);
    }
    expect(() => signWebhook({ id: 'msg_3', at: new Date(), body, secrets: [] })).toThrow(/no secret/);
  });
});
