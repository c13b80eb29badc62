/**
 * The status pages in a real browser (Debian Chromium via playwright-core): the overview of every
 * session; a session's page: sign in, watch the QR code appear and the state turn READY without a
 * reload, on a laptop and a phone; open Bull Board.
 * Screenshots go to a temp dir, or to the README's docs/img/ with `WAQ_UPDATE_SCREENSHOTS=1`
 * (a test run must not rewrite tracked files).
 */
import { createServer } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { recordDeadLetter, SessionStore, WebhookRegistry, WorkerRegistry } from '@waq/shared';
import { listen } from '@waq/test-utils';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { qrState, startTestApi, TEST_API_KEY, TEST_WORKER_ID, type TestApi } from '../testing/test-api.js';

const IMG_DIR =
  process.env['WAQ_UPDATE_SCREENSHOTS'] === '1'
    ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs/img')
    : path.join(tmpdir(), 'waq-screenshots');
// A realistic WhatsApp Web QR payload (ref, public keys, secret): long enough for a dense code.
const QR_VALUE = '2@Xk3hQ9vZbRt7LmP1sW8yN4cJ6dF0gH2kA5eU9iO3pQ7rT1vX,Yq8bN2mL5kJ7hG4fD1sA9pO6iU3yT0rE8wQ2zX5c=,Hq4mB7nV1cX8zL5kJ2gF9dS6aP3oI0uY7tR4eW1qZ=,N7vB4nM1xC8zL5kJ2hG9fD6sA3pO0iU=';

let browser: Browser;
const opened: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  await mkdir(IMG_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function start(env: Record<string, string> = {}): Promise<TestApi> {
  const t = await startTestApi({ env });
  opened.push(t);
  return t;
}

/** Signs in on the way to `at` (a session's page unless said otherwise) and waits for it to be live. */
async function signedIn(t: TestApi, options: Parameters<Browser['newContext']>[0] = {}, at = '/sessions/default'): Promise<{ context: BrowserContext; page: Page; cspViolations: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 }, colorScheme: 'light', ...options });
  opened.push(context);
  const page = await context.newPage();
  const cspViolations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  await page.goto(`${t.url}${at}`);
  await page.waitForURL(/\/login\?next=/);
  await page.fill('#key', TEST_API_KEY);
  await page.click('button[type=submit]');
  await page.waitForURL(`${t.url}${at}`);
  await page.locator(at === '/' ? '#refreshed[data-on="true"]' : '#live[data-on="true"]').waitFor();
  return { context, page, cspViolations };
}

const now = () => new Date().toISOString();

async function showQr(t: TestApi): Promise<void> {
  await t.publishState('STARTING');
  await t.publishEvent({ type: 'state', at: now(), status: 'STARTING' });
  const state = await t.publishState('QR', qrState(QR_VALUE, 60_000));
  await t.publishEvent({ type: 'state', at: now(), status: 'QR' });
  await t.publishEvent({ type: 'qr', at: now(), expiresAt: state.qr?.expiresAt ?? now() });
}

async function qrVisible(page: Page): Promise<void> {
  await page.locator('#qr-image').waitFor({ state: 'visible' });
  await expect.poll(() => page.locator('#qr-image').evaluate((element) => {
    const img = element as unknown as { complete: boolean; naturalWidth: number; src: string };
    return img.complete && img.naturalWidth > 0 && img.src.startsWith('blob:');
  })).toBe(true);
}

describe('status page', () => {
  it('shows the QR code when one is published and turns READY without a reload (laptop and phone)', async () => {
    const t = await start();
    await t.publishState('STOPPED');
    // Two webhooks: one posting, one paused after failing deliveries (with a dead letter).
    const webhooks = new WebhookRegistry(t.fixture.redis, t.prefix);
    await webhooks.create('default', { url: 'https://crm.example.com/hooks/waq', events: ['message.incoming', 'message.ack'] });
    const failing = (await webhooks.create('default', { url: 'https://old-receiver.example.net/whatsapp' })).subscription;
    await recordDeadLetter({ redis: t.fixture.redis, prefix: t.prefix, sessionId: 'default' }, failing.id, {
      deliveryId: 'msg_1',
      envelope: { id: '1-0', type: 'message.incoming', session: 'default', seq: 1, timestamp: now(), data: {} },
      attempts: 12,
      firstAttemptAt: now(),
      lastAttemptAt: now(),
      status: 410,
      reason: 'HTTP 410',
      answer: '',
    });
    await webhooks.pause('default', failing.id, '5 deliveries in a row were given up (the last: HTTP 410): once the receiver is fixed, redrive the dead letters, then resume with PATCH enabled=true');
    const { page, cspViolations } = await signedIn(t);
    await expect.poll(() => page.locator('#webhooks li').count()).toBe(2);
    expect(await page.locator(`#webhooks li[data-webhook="${failing.id}"] .badge`).textContent()).toBe('Paused');
    expect(await page.locator(`#webhooks li[data-webhook="${failing.id}"] .detail`).textContent()).toMatch(/HTTP 410.* — 0 waiting · 1 dead letters/);
    await expect.poll(() => page.locator('#status').getAttribute('data-status')).toBe('STOPPED');
    // How the session sends: the configured defaults, and what it used of its budgets.
    await expect.poll(() => page.locator('#pacing dd[data-pacing="daily-cap"]').textContent()).toBe('0 of 1000 in the last 24 h');
    expect(await page.locator('#pacing dd[data-pacing="new-chats"]').textContent()).toBe('0 of 50 in the last 24 h');
    expect(await page.locator('#pacing dd[data-pacing="warm-up"]').textContent()).toMatch(/the next 20 messages after 15 min away go slower/);
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));

    await showQr(t);
    await qrVisible(page);
    await expect.poll(() => page.locator('#status').textContent()).toBe('Waiting for scan');
    await expect.poll(() => page.locator('#events li').count()).toBeGreaterThanOrEqual(3);
    await page.screenshot({ path: path.join(IMG_DIR, 'status-qr.png') });

    // The same moment on a phone.
    const phone = await signedIn(t, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await qrVisible(phone.page);
    await phone.page.screenshot({ path: path.join(IMG_DIR, 'status-phone.png'), fullPage: true });
    const fits = await phone.page.evaluate(() => {
      const g = globalThis as unknown as { innerWidth: number; document: { documentElement: { scrollWidth: number } } };
      return g.document.documentElement.scrollWidth <= g.innerWidth;
    });
    expect(fits).toBe(true); // nothing wider than the phone

    // The phone scans: the worker publishes AUTHENTICATED, then READY.
    await t.publishState('AUTHENTICATED');
    await t.publishEvent({ type: 'state', at: now(), status: 'AUTHENTICATED' });
    await t.publishState('READY', { me: { wid: '4915123456789@c.us', pushname: 'Shop front desk' } });
    await t.publishEvent({ type: 'state', at: now(), status: 'READY' });
    await t.publishEvent({ type: 'message.sent', at: now(), id: 'order-1042-confirmation', waMessageId: 'true_4915123456789@c.us_3EB0A1' });
    await t.publishEvent({ type: 'message.ack', at: now(), id: 'order-1042-confirmation', waMessageId: 'true_4915123456789@c.us_3EB0A1', ack: 'read' });
    await expect.poll(() => page.locator('#status').getAttribute('data-status')).toBe('READY');
    await page.locator('#linked').waitFor({ state: 'visible' });
    await page.locator('#qr').waitFor({ state: 'hidden' });
    await expect.poll(() => page.locator('#events li').first().textContent()).toContain('read');
    expect(await page.locator('#linked-as').textContent()).toBe('Linked as Shop front desk · +4915123456789');
    expect(await page.locator('#connect').isVisible()).toBe(false);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42); // no reload
    await page.screenshot({ path: path.join(IMG_DIR, 'status-ready.png') });
    expect(cspViolations).toEqual([]);
    expect(phone.cspViolations).toEqual([]);
  });

  it('lists every session and the workers on the overview, and opens a session from it', async () => {
    const t = await start({ SESSION_STORE: 'redis', SESSION_BACKUP_MAX_AGE_MS: '1800000' });
    await t.publishState('READY', { me: { wid: '4915123456789@c.us', pushname: 'Shop front desk' } });
    for (const id of ['sales', 'support']) expect((await t.fetch('/v1/sessions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id }) })).status).toBe(201);
    await t.publishState('QR', qrState(QR_VALUE), { sessionId: 'sales' });
    for (const i of [1, 2, 3]) await t.fetch('/v1/sessions/sales/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to: '+33 6 12 34 56 78', text: `Your order ${i} has shipped` }) });
    await t.fetch('/v1/sessions/support/stop', { method: 'POST' });
    const at = now();
    await new WorkerRegistry(t.fixture.redis, t.prefix).heartbeat({ id: TEST_WORKER_ID, host: 'gateway-1', pid: 4242, capacity: 10, sessions: ['default', 'sales'], startedAt: at, heartbeatAt: at, heartbeatEveryMs: 5_000 });
    // The READY session was last backed up 40 minutes ago (past SESSION_BACKUP_MAX_AGE_MS), the one waiting for a scan never.
    const backup = async function* (): AsyncGenerator<Buffer> {
      yield Buffer.alloc(48 * 1024, 1);
    };
    await new SessionStore(t.fixture.redis, t.keys, 'default').write(TEST_WORKER_ID, backup(), () => ({ rawBytes: 200_000, files: 12 }));
    await t.fixture.redis.hset(t.keys.storeGeneration(1), 'completedAt', String(Date.now() - 40 * 60_000));
    const { page, cspViolations } = await signedIn(t, {}, '/');
    await expect.poll(() => page.locator('#sessions tbody tr').count()).toBe(3);
    const status = (id: string) => page.locator(`#sessions tr[data-session="${id}"] .badge[data-status]`);
    await expect.poll(() => status('default').getAttribute('data-status')).toBe('READY');
    expect(await status('sales').textContent()).toBe('Waiting for scan');
    expect(await status('support').textContent()).toBe('Stopped');
    expect(await page.locator('#sessions tr[data-session="default"]').textContent()).toContain('Shop front desk · +4915123456789');
    expect(await page.locator('#workers tbody').textContent()).toContain('2 / 10 (default, sales)');
    expect(await page.locator('#sessions tr[data-session="sales"] .count').textContent()).toBe('3 held');
    expect(await page.locator('#sessions tr[data-session="default"] .badge.backup').textContent()).toBe('Stale · 40 min ago');
    expect(await page.locator('#sessions tr[data-session="default"] .badge.backup').getAttribute('data-tone')).toBe('warn');
    expect(await page.locator('#sessions tr[data-session="sales"] .badge.backup').count()).toBe(0);

    // Creating one from the form; a bad id is refused with the rule.
    await page.fill('#new-id', 'billing');
    await page.click('#create button');
    await expect.poll(() => page.locator('#sessions tbody tr').count()).toBe(4);
    await page.screenshot({ path: path.join(IMG_DIR, 'sessions.png') });
    await page.evaluate(() => {
      const input = (globalThis as unknown as { document: { getElementById(id: string): { removeAttribute(name: string): void } } }).document.getElementById('new-id');
      input.removeAttribute('pattern');
    });
    await page.fill('#new-id', 'Billing Two');
    await page.click('#create button');
    await expect.poll(() => page.locator('#message').textContent()).toContain('lowercase letters');

    await page.click('#sessions tr[data-session="sales"] a');
    await page.waitForURL(`${t.url}/sessions/sales`);
    await qrVisible(page);
    expect(await page.locator('h1').textContent()).toContain('sales');
    expect(cspViolations).toEqual([]);
  });

  it('connects, logs out, and (sandbox) simulates a scan from its buttons', async () => {
    const scans: string[] = [];
    let api: TestApi | undefined;
    // The simulator phone: a scan links the session (here the test plays the worker's part too).
    const sim = await listen(
      createServer((req, res) => {
        scans.push(`${req.method} ${req.url}`);
        void (async () => {
          await api?.publishState('READY', { me: { wid: '4915123456789@c.us' } });
          await api?.publishEvent({ type: 'state', at: now(), status: 'READY' });
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
        })();
      }),
    );
    opened.push(sim);
    const t = await start({ WAQ_SANDBOX: '1', WAQ_SIM_URL: sim.url });
    api = t;
    await t.publishState('STOPPED');
    const { page } = await signedIn(t);

    await page.click('#connect');
    await expect.poll(() => t.api.producer.queues.control.getJobs(['waiting']).then((jobs) => jobs.map((j) => j.name))).toEqual(['connect']);
    await showQr(t);
    await qrVisible(page);
    await page.locator('#scan').click();
    await expect.poll(() => page.locator('#status').getAttribute('data-status')).toBe('READY');
    expect(scans).toEqual(['POST /phone/scan']);

    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#logout');
    await expect.poll(async () => (await t.api.producer.queues.control.getJobs(['waiting'])).map((j) => j.name).sort()).toEqual(['connect', 'logout']);
  });

  it('asks for a pairing code from its form and shows the code to enter on the phone', async () => {
    const t = await start();
    await t.publishState('STOPPED');
    const { page, cspViolations } = await signedIn(t);
    await page.fill('#code-phone', '+49 151 23456789');
    await page.click('#by-code button');
    await expect.poll(async () => (await t.api.producer.queues.control.getJobs(['waiting'])).map((job) => job.data)).toEqual([{ method: 'code', phoneNumber: '4915123456789', requestedBy: 'api' }]);
    const expiresAt = new Date(Date.now() + 170_000).toISOString();
    await t.publishState('QR', { pairingCode: { code: 'K7QX2M9P', phoneNumber: '+4915123456789', expiresAt } });
    await t.publishEvent({ type: 'pairing_code', at: now(), expiresAt });
    await expect.poll(() => page.locator('#pairing-code').textContent()).toBe('K7QX-2M9P');
    expect(await page.locator('#pairing-phone').textContent()).toBe('+4915123456789');
    expect(await page.locator('#by-code').isHidden()).toBe(true);
    await page.screenshot({ path: path.join(IMG_DIR, 'status-pairing-code.png') });
    expect(cspViolations).toEqual([]);
  });

  it('opens Bull Board with the control and outbox queues', async () => {
    const t = await start();
    await t.publishState('QR', qrState(QR_VALUE));
    for (const [i, to] of ['+49 151 23456789', '+33 6 12 34 56 78', '+1 415 555 0100'].entries()) {
      await t.fetch('/v1/messages', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to, text: `Order #10${42 + i} is ready for pickup`, idempotencyKey: `order-10${42 + i}` }) });
    }
    await t.fetch('/v1/session/connect', { method: 'POST' });
    const { page } = await signedIn(t);
    await page.goto(`${t.url}/admin/queues`);
    await page.getByText('default outbox').first().waitFor();
    await page.getByText('default control').first().waitFor();
    await page.screenshot({ path: path.join(IMG_DIR, 'bull-board.png') });
    await page.goto(`${t.url}/admin/queues/queue/${encodeURIComponent('default/outbox')}?status=prioritized`);
    await page.getByText('order-1042').first().waitFor();
    await page.screenshot({ path: path.join(IMG_DIR, 'bull-board-outbox.png') });
  });

  it('renders the API docs page from /openapi.json', async () => {
    const t = await start();
    const { page } = await signedIn(t);
    await page.goto(`${t.url}/docs`);
    await page.locator('#post-v1-messages').waitFor();
    expect(await page.locator('section.endpoint h3').count()).toBeGreaterThan(10);
    await page.screenshot({ path: path.join(IMG_DIR, 'api-docs.png') });
  });
});
