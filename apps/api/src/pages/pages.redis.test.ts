import { describe, expect, it, vi } from 'vitest';

import { CSP } from './csp.js';
import { OPERATIONS } from '../openapi/openapi-document.js';
import { startTestApiForTest, type TestApi } from '../testing/test-api.js';

const start = (env: Record<string, string> = {}): Promise<TestApi> => startTestApiForTest({ env });

describe('status pages', () => {
  it('is served with a CSP that allows only its own script, stylesheet, QR blobs and same-origin fetch/SSE', async () => {
    const t = await start();
    const response = await t.fetch('/sessions/default');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
    );
    expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    const html = await response.text();
    expect(html).toContain('<script src="/assets/status.js" defer></script>');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/); // no inline script
    expect(html).not.toMatch(/\sstyle=|<style/); // no inline style
    expect(html).not.toContain('id="scan"');
    expect(html).toContain('data-sandbox="false"');
    expect(html).toContain('data-session="/v1/sessions/default"');
  });

  it('lists the sessions at / (the overview), and answers 404 for the page of a session that does not exist', async () => {
    const t = await start();
    const overview = await t.fetch('/');
    expect(overview.status).toBe(200);
    expect(overview.headers.get('content-security-policy')).toBe(CSP.statusPage);
    const html = await overview.text();
    expect(html).toContain('<script src="/assets/sessions.js" defer></script>');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/);
    expect(html).not.toMatch(/\sstyle=|<style/);
    const missing = await t.fetch('/sessions/nope');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('No session <span class="mono">nope</span>');
    expect((await t.fetch('/sessions/%3Cimg%3E')).status).toBe(404);
    expect(await (await t.fetch('/sessions/%3Cimg%3E')).text()).not.toContain('<img>');
  });

  it('shows the simulate-scan button only in sandbox mode', async () => {
    const t = await start({ WAQ_SANDBOX: '1', WAQ_SIM_URL: 'http://127.0.0.1:1' });
    const html = await (await t.fetch('/sessions/default')).text();
    expect(html).toContain('id="scan"');
    expect(html).toContain('Sandbox mode');
  });

  it('serves its assets publicly with their types, and 404 for others', async () => {
    const t = await start();
    for (const [name, type] of [['waq.css', 'text/css'], ['status.js', 'text/javascript'], ['sessions.js', 'text/javascript'], ['favicon.svg', 'image/svg+xml']] as const) {
      const response = await fetch(`${t.url}/assets/${name}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain(type);
    }
    expect((await fetch(`${t.url}/assets/../app.ts`)).status).toBe(404);
    expect(await (await fetch(`${t.url}/assets/nope.js`)).json()).toMatchObject({ error: { code: 'not_found' } });
  });
});

describe('docs and OpenAPI', () => {
  it('documents exactly the routes the app serves', async () => {
    const t = await start();
    const served = new Set<string>();
    const stack = (t.api.app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }).router.stack;
    for (const layer of stack) {
      if (layer.route === undefined) continue;
      for (const method of Object.keys(layer.route.methods)) served.add(`${method.toUpperCase()} ${layer.route.path.replace(/:(\w+)/g, '{$1}')}`);
    }
    const pages = ['GET /', 'GET /sessions/{session}', 'GET /docs', 'GET /openapi.json', 'GET /assets/{name}', 'GET /login', 'POST /login', 'POST /logout'];
    const documented = OPERATIONS.map((op) => `${op.method.toUpperCase()} ${op.path}`);
    expect([...served].filter((r) => !pages.includes(r)).sort()).toEqual([...documented].sort());
  });

  it('serves an OpenAPI 3.1 document whose references all resolve', async () => {
    const t = await start();
    const doc = (await (await t.fetch('/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe('3.1.0');
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs) expect(doc.components.schemas).toHaveProperty(ref as string);
    // A text, or a file with `text` as its caption: only `to` is always required.
    expect(doc.components.schemas['SendMessageRequest']).toMatchObject({ type: 'object', required: ['to'], properties: { idempotencyKey: { pattern: expect.any(String) }, media: expect.any(Object) } });
    expect(doc.paths['/v1/messages']).toHaveProperty('post.requestBody.content.multipart/form-data');
  });

  it('renders the document as a page without script', async () => {
    const t = await start();
    const response = await t.fetch('/docs');
    expect(response.headers.get('content-security-policy')).toBe(CSP.staticPage);
    const html = await response.text();
    for (const op of OPERATIONS) expect(html).toContain(`<code>${op.path}</code>`);
    expect(html).toContain('id="schema-SendMessageRequest"');
    expect(html).not.toContain('<script');
  });
});

describe('Bull Board', () => {
  it('serves the UI with its CSP and lists the control and outbox queues of every session, following the registry', async () => {
    const t = await start();
    const page = await t.fetch('/admin/queues');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(CSP.bullBoard);
    expect(await page.text()).toContain('<title>waq queues</title>');
    const { queues } = (await (await t.fetch('/admin/queues/api/queues')).json()) as { queues: { name: string }[] };
    expect(queues.map((q) => q.name).sort()).toEqual(['default/control', 'default/outbox']);
    expect((await t.fetch('/v1/sessions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id: 'sales' }) })).status).toBe(201);
    // The board re-reads the registry at most every 2 s.
    await vi.waitFor(async () => {
      const listed = (await (await t.fetch('/admin/queues/api/queues')).json()) as { queues: { name: string }[] };
      expect(listed.queues.map((q) => q.name).sort()).toEqual(['default/control', 'default/outbox', 'sales/control', 'sales/outbox']);
    }, { timeout: 15_000, interval: 250 });
    // A webhook's delivery queue shows up with its session's, and goes with the webhook.
    const hook = (await (await t.fetch('/v1/sessions/sales/webhooks', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ url: 'https://receiver.example/' }) })).json()) as { id: string };
    await vi.waitFor(async () => {
      const listed = (await (await t.fetch('/admin/queues/api/queues')).json()) as { queues: { name: string }[] };
      expect(listed.queues.map((q) => q.name)).toContain(`sales/webhook-${hook.id}`);
    }, { timeout: 15_000, interval: 250 });
    expect((await t.fetch(`/v1/sessions/sales/webhooks/${hook.id}`, { method: 'DELETE' })).status).toBe(204);
    await vi.waitFor(async () => {
      const listed = (await (await t.fetch('/admin/queues/api/queues')).json()) as { queues: { name: string }[] };
      expect(listed.queues.map((q) => q.name).sort()).toEqual(['default/control', 'default/outbox', 'sales/control', 'sales/outbox']);
    }, { timeout: 15_000, interval: 250 });
  });
});

describe('bad input never gets a 500', () => {
  it('answers a malformed percent-encoding in a path with 400', async () => {
    const t = await start();
    const response = await t.fetch('/v1/messages/%E0%A4%A');
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).not.toMatch(/at .*\.(js|ts):\d+/);
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'bad_request' } });
  });
});
