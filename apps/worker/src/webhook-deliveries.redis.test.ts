/**
 * Webhook deliveries on real Redis against a real local receiver: events of the session's stream
 * posted in seq order, signed (verified with the standardwebhooks library), retried in place through a
 * receiver outage, given up as dead letters and redriven in order.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { CONFIGURED_WEBHOOK_ID, encodeEvent, listDeadLetters, redriveDeadLetters, sessionKeys, webhookHealth, webhookQueueKeys, WebhookRegistry, type SessionEvent, type SessionKeys } from '@waq/shared';
import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { silentLogger } from './testing/owner-harness.js';
import { WebhookDeliveries, type WebhookDeliveriesOptions } from './webhook-deliveries.js';

interface Received {
  readonly webhookId: string;
  readonly seq: number;
  readonly type: string;
  readonly id: string;
  readonly verified: boolean;
}

let fixture: RedisFixture;
let keys: SessionKeys;
let registry: WebhookRegistry;
let server: ReturnType<typeof createServer>;
let url: string;
let received: Received[];
/** What the receiver answers now (its status). */
let answer: number;
let deliveries: WebhookDeliveries[];
let secret: string;

beforeEach(async () => {
  fixture = await createRedisFixture();
  keys = sessionKeys({ prefix: fixture.prefix, sessionId: 'sales' });
  registry = new WebhookRegistry(fixture.redis, fixture.prefix);
  received = [];
  answer = 200;
  deliveries = [];
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (answer !== 200) {
        res.writeHead(answer).end('receiver down');
        return;
      }
      let verified = true;
      try {
        new Webhook(secret).verify(body, req.headers as Record<string, string>);
      } catch {
        verified = false;
      }
      const envelope = JSON.parse(body) as { seq: number; type: string; id: string };
      received.push({ webhookId: String(req.headers['webhook-id']), seq: envelope.seq, type: envelope.type, id: envelope.id, verified });
      res.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterEach(async () => {
  await Promise.all(deliveries.map((d) => d.stop()));
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await fixture.cleanup();
});

function start(overrides: Partial<WebhookDeliveriesOptions> = {}): WebhookDeliveries {
  const d = new WebhookDeliveries({
    redis: fixture.redis,
    prefix: fixture.prefix,
    sessionId: 'sales',
    keys,
    registry,
    logger: silentLogger,
    timeoutMs: 2_000,
    retryPeriodMs: 60_000,
    maxBodyBytes: 1_048_576,
    allowPrivate: true,
    userAgent: 'waq/test',
    pollMs: 50,
    lockMs: 2_000,
    retry: { baseMs: 50, maxMs: 200 },
    ...overrides,
  });
  deliveries.push(d);
  d.start();
  return d;
}

const at = (): string => new Date().toISOString();
async function append(events: SessionEvent[]): Promise<string[]> {
  const ids: string[] = [];
  for (const event of events) ids.push((await fixture.redis.xadd(keys.events, '*', ...encodeEvent(event))) as string);
  return ids;
}
const incoming = (n: number, from = 0): SessionEvent[] => Array.from({ length: n }, (_, i) => ({ type: 'message.incoming', at: at(), waMessageId: `w${from + i}`, from: '+4915123456789', body: `hello ${from + i}`, timestamp: 1 }));

async function subscribe(events?: ('message.incoming' | 'message.ack' | 'session.status')[]): Promise<string> {
  const created = await registry.create('sales', { url, ...(events === undefined ? {} : { events }) });
  secret = created.secret;
  return created.subscription.id;
}

/** A webhook whose receiver answers 410 to 7 events: 5 dead letters, then paused, 6 and 7 waiting. */
async function pausedAfterFiveOfSeven(overrides: Partial<WebhookDeliveriesOptions> = {}): Promise<{ webhookId: string; scope: { redis: RedisFixture['redis']; prefix: string; sessionId: string } }> {
  const webhookId = await subscribe(['message.incoming']);
  answer = 410;
  start(overrides);
  await append(incoming(7));
  await vi.waitFor(async () => expect((await registry.get('sales', webhookId))?.paused).not.toBeNull(), { timeout: 20_000, interval: 20 });
  return { webhookId, scope: { redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' } };
}

/**
 * A registry whose reads of a subscription by the deliveries wait, once it has paused a webhook, until
 * `open()`: a delivery taken as the webhook was paused is held before it looks at its subscription.
 */
class GatedRegistry extends WebhookRegistry {
  private gate: Promise<void> | undefined;
  private release: () => void = () => undefined;
  private reached: () => void = () => undefined;
  /** Resolves when a delivery waits at the gate. */
  readonly held = new Promise<void>((resolve) => {
    this.reached = resolve;
  });

  override async pause(...args: Parameters<WebhookRegistry['pause']>): ReturnType<WebhookRegistry['pause']> {
    const paused = await super.pause(...args);
    this.gate ??= new Promise((resolve) => {
      this.release = resolve;
    });
    return paused;
  }

  override async getStored(...args: Parameters<WebhookRegistry['getStored']>): ReturnType<WebhookRegistry['getStored']> {
    if (this.gate !== undefined) {
      this.reached();
      await this.gate;
    }
    return super.getStored(...args);
  }

  open(): void {
    this.release();
  }
}

/** The seqs of a webhook's waiting deliveries, the head first. */
async function waitingSeqs(webhookId: string): Promise<number[]> {
  const queue = webhookQueueKeys(keys, webhookId);
  const ids = (await fixture.redis.lrange(queue.wait, 0, -1)).reverse();
  const data = await Promise.all(ids.map((id) => fixture.redis.hget(`${queue.jobPrefix}${id}`, 'data')));
  return data.map((json) => (JSON.parse(json ?? '{}') as { envelope?: { seq?: number } }).envelope?.seq ?? 0);
}

describe('webhook deliveries', () => {
  it('posts the events after the subscription was made, of its types, signed, in seq order', async () => {
    await append(incoming(3)); // before the subscription: not posted
    await subscribe(['message.incoming', 'session.status']);
    start();
    const ids = await append([...incoming(5, 100), { type: 'message.ack', at: at(), waMessageId: 'w100', ack: 'read' }, { type: 'state', at: at(), status: 'DISCONNECTED' }]);
    await vi.waitFor(() => expect(received).toHaveLength(6), { timeout: 20_000, interval: 20 });
    expect(received.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(received.map((r) => r.type)).toEqual([...Array(5).fill('message.incoming'), 'session.status']);
    expect(received.map((r) => r.id)).toEqual([...ids.slice(0, 5), ids[6]]);
    expect(received.every((r) => r.verified)).toBe(true);
    expect(new Set(received.map((r) => r.webhookId)).size).toBe(6);
  });

  it('delivers everything after a receiver outage, in order, repeats only with the same webhook-id', async () => {
    await subscribe(['message.incoming']);
    answer = 503;
    start();
    await append(incoming(50));
    // The head delivery is retried in place while the receiver is down; nothing behind it overtakes it.
    await vi.waitFor(async () => expect(Number(await fixture.redis.hget(keys.webhookSeq((await registry.list('sales'))[0]!.id), '#next'))).toBe(50), { timeout: 20_000, interval: 20 });
    answer = 200;
    await vi.waitFor(() => expect(new Set(received.map((r) => r.seq)).size).toBe(50), { timeout: 30_000, interval: 20 });
    const firsts = received.filter((r, i) => received.findIndex((o) => o.seq === r.seq) === i);
    expect(firsts.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // A repeat (none expected here) would carry its first delivery's id.
    for (const r of received) expect(r.webhookId).toBe(firsts.find((f) => f.seq === r.seq)?.webhookId);
  });

  it('keeps the seq and adds nothing twice when the dispatcher stops mid-way and another takes over', async () => {
    const webhookId = await subscribe(['message.incoming']);
    const first = start();
    await append(incoming(30));
    await vi.waitFor(() => expect(received.length).toBeGreaterThan(5), { timeout: 20_000, interval: 5 });
    await first.stop();
    await append(incoming(30, 30));
    start();
    await vi.waitFor(() => expect(new Set(received.map((r) => r.seq)).size).toBe(60), { timeout: 30_000, interval: 20 });
    const seqs = received.map((r) => r.seq);
    expect([...new Set(seqs)]).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(await fixture.redis.hlen(keys.webhookSeq(webhookId))).toBe(1); // only #next: every assigned seq was dispatched
  });

  it('gives up after the retry period: dead letters in order with the last answer, redriven in order once the receiver is fixed', async () => {
    const webhookId = await subscribe(['message.incoming']);
    answer = 500;
    start({ retryPeriodMs: 300 });
    await append(incoming(4));
    await vi.waitFor(async () => expect(await listDeadLetters({ redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' }, webhookId)).toHaveLength(4), { timeout: 30_000, interval: 50 });
    const dead = await listDeadLetters({ redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' }, webhookId);
    expect(dead.map((d) => d.envelope.seq)).toEqual([1, 2, 3, 4]);
    expect(dead[0]).toMatchObject({ status: 500, reason: 'HTTP 500', answer: 'receiver down' });
    expect(dead[0]!.attempts).toBeGreaterThan(1);
    expect(received).toEqual([]);

    answer = 200;
    expect(await redriveDeadLetters({ redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' }, webhookId)).toBe(4);
    await vi.waitFor(() => expect(received).toHaveLength(4), { timeout: 20_000, interval: 20 });
    expect(received.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(received.map((r) => r.webhookId)).toEqual(dead.map((d) => d.deliveryId));
    expect(await listDeadLetters({ redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' }, webhookId)).toEqual([]);
  });

  it('never posts to an address the policy refuses: a dead letter at once, saying why', async () => {
    const webhookId = await subscribe(['message.incoming']);
    start({ allowPrivate: false });
    await append(incoming(1));
    await vi.waitFor(async () => expect(await listDeadLetters({ redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' }, webhookId)).toHaveLength(1), { timeout: 20_000, interval: 20 });
    expect((await listDeadLetters({ redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' }, webhookId))[0]).toMatchObject({ attempts: 1, status: null, reason: expect.stringMatching(/127\.0\.0\.1, a loopback address/) });
    expect(received).toEqual([]);
  });

  it('fails at once on a 4xx other than 408 and 429', async () => {
    const webhookId = await subscribe(['message.incoming']);
    answer = 410;
    start();
    await append(incoming(1));
    await vi.waitFor(async () => expect(await listDeadLetters({ redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' }, webhookId)).toHaveLength(1), { timeout: 20_000, interval: 20 });
    expect((await listDeadLetters({ redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' }, webhookId))[0]).toMatchObject({ attempts: 1, status: 410 });
  });

  it('delivers to the configured webhook (WEBHOOK_URL) without a subscription made through the API', async () => {
    secret = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
    start({ configured: { url, events: ['message.incoming'], secret } });
    await vi.waitFor(async () => expect(await registry.get('sales', CONFIGURED_WEBHOOK_ID)).not.toBeNull(), { timeout: 20_000, interval: 20 });
    await append(incoming(3));
    await vi.waitFor(() => expect(received).toHaveLength(3), { timeout: 20_000, interval: 20 });
    expect(received.map((r) => [r.seq, r.verified])).toEqual([[1, true], [2, true], [3, true]]);
  });

  it('pauses a webhook after 5 dead letters in a row, says so on the event stream, and resumes where it stopped', async () => {
    const { webhookId, scope } = await pausedAfterFiveOfSeven();
    expect((await listDeadLetters(scope, webhookId)).map((d) => d.envelope.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await registry.get('sales', webhookId))?.paused?.reason).toMatch(/^5 deliveries in a row were given up \(the last: HTTP 410\): once the receiver is fixed, redrive the dead letters, then resume with PATCH enabled=true/);
    const events = await fixture.redis.xrange(keys.events, '-', '+');
    expect(events.filter(([, fields]) => fields[1] === 'webhook.paused')).toHaveLength(1);

    answer = 200;
    await registry.update('sales', webhookId, { enabled: true });
    await vi.waitFor(() => expect(received.map((r) => r.seq)).toEqual([6, 7]), { timeout: 20_000, interval: 20 });
    expect(await redriveDeadLetters(scope, webhookId)).toBe(5);
    await vi.waitFor(() => expect(received.map((r) => r.seq)).toEqual([6, 7, 1, 2, 3, 4, 5]), { timeout: 20_000, interval: 20 });
  });

  it('redrives the dead letters ahead of the deliveries waiting, in order, each once even when two redrives run at once', async () => {
    const { webhookId, scope } = await pausedAfterFiveOfSeven();
    expect(await webhookHealth(scope, webhookId)).toMatchObject({ deadLetters: 5 });

    answer = 200;
    // Paused, 6 and 7 wait; redriven while paused, 1–5 go in front of them.
    expect(await Promise.all([redriveDeadLetters(scope, webhookId), redriveDeadLetters(scope, webhookId)])).toEqual([5, 5]);
    expect(await listDeadLetters(scope, webhookId)).toEqual([]);
    await registry.update('sales', webhookId, { enabled: true });
    await vi.waitFor(() => expect(received.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]), { timeout: 20_000, interval: 20 });
    // Nothing more comes: the second redrive added nothing.
    await vi.waitFor(async () => expect(await webhookHealth(scope, webhookId)).toEqual({ waiting: 0, active: 0, deadLetters: 0 }), { timeout: 20_000, interval: 20 });
    expect(received).toHaveLength(7);
  });

  it('puts a delivery taken as the webhook was paused back behind the letters redriven before it looked', async () => {
    const gated = new GatedRegistry(fixture.redis, fixture.prefix);
    const { webhookId, scope } = await pausedAfterFiveOfSeven({ registry: gated });
    await gated.held; // seq 6 is taken and has not looked at its subscription yet
    answer = 200;
    expect(await redriveDeadLetters(scope, webhookId)).toBe(5);
    gated.open(); // 6 finds the webhook paused and goes back: behind 1–5, not at the head
    await vi.waitFor(async () => expect(await waitingSeqs(webhookId)).toEqual([1, 2, 3, 4, 5, 6, 7]), { timeout: 20_000, interval: 20 });
    await registry.update('sales', webhookId, { enabled: true });
    await vi.waitFor(() => expect(received.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]), { timeout: 20_000, interval: 20 });
  }, 60_000);

  it('does not post a delivery taken as the webhook was paused ahead of the letters redriven before it was resumed', async () => {
    const gated = new GatedRegistry(fixture.redis, fixture.prefix);
    const { webhookId, scope } = await pausedAfterFiveOfSeven({ registry: gated });
    await gated.held;
    answer = 200;
    expect(await redriveDeadLetters(scope, webhookId)).toBe(5);
    await registry.update('sales', webhookId, { enabled: true });
    gated.open(); // 6 finds the webhook enabled, and 1–5 waiting in front of it
    await vi.waitFor(() => expect(received.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]), { timeout: 20_000, interval: 20 });
  }, 60_000);

  it('keeps an event over the body size cap as a dead letter without posting it, and goes on', async () => {
    const webhookId = await subscribe(['message.incoming']);
    start({ maxBodyBytes: 2_000 });
    const [small1, big, small2] = incoming(3);
    await append([small1!, { ...big!, body: 'x'.repeat(5_000) } as SessionEvent, small2!]);
    await vi.waitFor(() => expect(received.map((r) => r.seq)).toEqual([1, 3]), { timeout: 20_000, interval: 20 });
    const scope = { redis: fixture.redis, prefix: fixture.prefix, sessionId: 'sales' };
    const [letter] = await listDeadLetters(scope, webhookId);
    expect(letter).toMatchObject({ attempts: 0, status: null, envelope: { seq: 2 }, reason: expect.stringMatching(/^the body is \d+ bytes, over WEBHOOK_MAX_BODY_BYTES \(2000\): not posted; raise the cap and redrive it$/) });
    expect(await fixture.redis.hget(keys.webhookSeq(webhookId), '#dead-in-a-row')).toBeNull();
  });
});
