/**
 * The session owner delivers its session's webhooks (fake driver, real Redis, a real local receiver):
 * incoming messages and send outcomes reach the receiver in seq order, and a receiver that takes a
 * second per request does not hold up the session's sends.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { WebhookRegistry } from '@waq/shared';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';

import { OwnerHarness } from './testing/owner-harness.js';

let h: OwnerHarness;
let server: ReturnType<typeof createServer>;
let url: string;
const received: { seq: number; type: string; at: number }[] = [];
const SLOW_MS = 1_000;

beforeEach(async () => {
  h = await OwnerHarness.create();
  received.length = 0;
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const envelope = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { seq: number; type: string };
      setTimeout(() => {
        received.push({ ...envelope, at: Date.now() });
        res.writeHead(200).end();
      }, SLOW_MS);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterEach(async () => {
  await h.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const ALICE = '+49 151 00000001';
const ALICE_WID = '4915100000001@c.us';

it('posts incoming messages and send outcomes in seq order, and a slow receiver does not hold up the sends', async () => {
  await new WebhookRegistry(h.fixture.redis, h.fixture.prefix).create('default', { url, events: ['message.incoming', 'message.sent'] });
  h.startOwner();
  await h.producer.connect();
  await h.waitForStatus('QR');
  h.world.scan();
  await h.waitForStatus('READY');
  h.world.receive(ALICE_WID, 'hello');
  const started = Date.now();
  const ids = [];
  for (let i = 0; i < 5; i += 1) ids.push((await h.producer.send({ to: ALICE, text: `slow receiver ${i}` })).id);
  for (const id of ids) await h.producer.waitForMessage(id, { timeoutMs: 20_000 });
  const sendsMs = Date.now() - started;
  // Six deliveries at a second each are still going when the five sends are out.
  expect(sendsMs).toBeLessThan(3 * SLOW_MS);
  expect(received.length).toBeLessThan(6);
  await vi.waitFor(() => expect(received).toHaveLength(6), { timeout: 30_000, interval: 50 });
  expect(received.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(new Set(received.map((r) => r.type))).toEqual(new Set(['message.incoming', 'message.sent']));
  console.info(`[webhooks] 5 sends done in ${sendsMs} ms while the receiver took ${SLOW_MS} ms per delivery (6 deliveries, the last at +${received[5]!.at - started} ms)`);
});
