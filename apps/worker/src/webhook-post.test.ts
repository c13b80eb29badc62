import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { generateWebhookSecret, signWebhook } from '@waq/shared';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';

import { postWebhook, retryAfterMs, type WebhookPost } from './webhook-post.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;
const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A receiver on 127.0.0.1 that answers with `handler`. */
async function receiver(handler: Handler): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

const secret = generateWebhookSecret();
const body = JSON.stringify({ id: '1-0', type: 'message.incoming', session: 'sales', seq: 1, timestamp: '2026-12-04T18:00:00.000Z', data: { body: 'hi' } });
const post = (url: string, extra: Partial<WebhookPost> = {}) =>
  postWebhook({ url, body, headers: signWebhook({ id: 'msg_1', at: new Date(), body, secrets: [secret] }), timeoutMs: 2_000, policy: { allowPrivate: true }, userAgent: 'waq/test', ...extra });

describe('postWebhook', () => {
  it('posts the signed envelope: the receiver verifies it with the standardwebhooks library', async () => {
    let verified: unknown;
    let seen: IncomingMessage | undefined;
    const url = await receiver((req, res, received) => {
      seen = req;
      verified = new Webhook(secret).verify(received, req.headers as Record<string, string>);
      res.writeHead(204).end();
    });
    expect(await post(url)).toMatchObject({ kind: 'delivered', status: 204 });
    expect(verified).toEqual(JSON.parse(body));
    expect(seen?.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': 'waq/test', 'webhook-id': 'msg_1' });
  });

  it.each([
    [500, 'retry'],
    [503, 'retry'],
    [408, 'retry'],
    [429, 'retry'],
    [400, 'failed'],
    [401, 'failed'],
    [404, 'failed'],
    [410, 'failed'],
    [301, 'failed'],
  ] as const)('HTTP %i → %s', async (status, kind) => {
    const url = await receiver((_req, res) => res.writeHead(status, status === 301 ? { Location: '/elsewhere' } : {}).end('nope'));
    const outcome = await post(url);
    expect(outcome).toMatchObject({ kind, status, reason: expect.stringMatching(new RegExp(`^HTTP ${status}`)), answer: 'nope' });
    if (status === 301) expect(outcome).toMatchObject({ reason: expect.stringMatching(/redirects are not followed/) });
  });

  it('honours Retry-After on 429 and 503, in seconds or as a date', async () => {
    const seconds = await receiver((_req, res) => res.writeHead(429, { 'Retry-After': '120' }).end());
    expect(await post(seconds)).toMatchObject({ kind: 'retry', retryAfterMs: 120_000 });
    expect(retryAfterMs(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThan(28_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it('retries a receiver that does not answer in time, or refuses the connection', async () => {
    const silent = await receiver(() => undefined);
    const slow = await post(silent, { timeoutMs: 200 });
    expect(slow).toMatchObject({ kind: 'retry', status: null, reason: 'no answer within 200 ms' });
    expect(slow.ms).toBeGreaterThanOrEqual(190);
    const closed = await receiver((_req, res) => res.end());
    const port = new URL(closed).port;
    await new Promise((resolve) => servers.pop()?.close(resolve));
    expect(await post(`http://127.0.0.1:${port}/hook`)).toMatchObject({ kind: 'retry', status: null, reason: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('fails at once for an address the policy refuses, by literal or by name', async () => {
    const url = await receiver((_req, res) => res.end());
    expect(await post(url, { policy: { allowPrivate: false } })).toMatchObject({ kind: 'failed', status: null, reason: expect.stringMatching(/127\.0\.0\.1, a loopback address/) });
    const byName = url.replace('127.0.0.1', 'localhost');
    expect(await post(byName, { policy: { allowPrivate: false } })).toMatchObject({ kind: 'failed', reason: expect.stringMatching(/localhost resolves to .*, a loopback address/) });
  });

  it('keeps only the first bytes of a long answer', async () => {
    const url = await receiver((_req, res) => res.writeHead(500).end('x'.repeat(100_000)));
    const outcome = await post(url, { maxAnswerBytes: 64 });
    expect(outcome).toMatchObject({ kind: 'retry', status: 500 });
    expect(outcome.kind !== 'delivered' && outcome.answer).toBe('x'.repeat(64));
  });
});
