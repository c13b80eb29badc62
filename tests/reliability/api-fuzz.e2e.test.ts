/**
 * Reliability scenarios 8 and 10 (issue 7) against a real API process on real Redis:
 * - 8: property-based fuzzing (fast-check) with malformed requests of every kind — bad JSON, wrong
 *   types, huge bodies, bad phone numbers, bad ids and queries, header tricks, raw malformed HTTP,
 *   unknown routes, missing and wrong credentials → no answer ≥ 500, no job enqueued, memory stable;
 * - 10: every route but the public ones answers 401 without a key (browser pages: a redirect to the
 *   sign-in form), and nothing secret reaches the logs.
 */
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';

import { jobCatalog } from '@waq/shared';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { report, scale } from './scale.js';
import { BODY_MARKER, Stack, type ApiProcess } from './stack.js';

let stack: Stack;
let api: ApiProcess;

beforeAll(async () => {
  stack = await Stack.create();
  api = await stack.startApi('api-fuzz');
});

afterAll(async () => {
  await stack?.close();
});

// ------------------------------------------------------------------ the request generators

interface FuzzRequest {
  readonly kind: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Uint8Array;
  /** Raw bytes written to a socket instead (malformed HTTP). */
  readonly raw?: string;
}

const PROTECTED: readonly [string, string][] = [
  ['POST', '/v1/messages'],
  ['GET', '/v1/messages/x'],
  ['GET', '/v1/session'],
  ['POST', '/v1/session/connect'],
  ['POST', '/v1/session/logout'],
  ['GET', '/v1/session/qr'],
  ['GET', '/v1/session/events'],
  ['POST', '/v1/sandbox/scan'],
  ['POST', '/v1/sessions'],
  ['GET', '/v1/sessions'],
  ['DELETE', '/v1/sessions/default'],
  ['POST', '/v1/sessions/default/stop'],
  ['POST', '/v1/sessions/default/messages'],
  ['GET', '/v1/workers'],
  ['GET', '/metrics'],
  ['GET', '/'],
  ['GET', '/docs'],
  ['GET', '/openapi.json'],
  ['GET', '/admin/queues'],
  ['GET', '/admin/queues/api/queues'],
  ['PUT', '/admin/queues/api/queues/outbox/pause'],
];

const text = fc.string({ maxLength: 40 });
const anyJson = fc.jsonValue({ maxDepth: 3 });
const wrongKey = fc.oneof(text, fc.constant(''), fc.constant('test'), text.map((s) => `k-${s}`));

/** Credentials that are not the key: missing, wrong, the right key mangled. */
const badAuth = (key: string): fc.Arbitrary<Record<string, string>> =>
  fc.oneof(
    fc.constant({}),
    wrongKey.map((k) => ({ Authorization: `Bearer ${k}` })),
    wrongKey.map((k) => ({ 'X-Api-Key': k })),
    fc.constantFrom(key.slice(0, -1), `${key}x`, key.toUpperCase(), ` ${key}x`, `${key.slice(1)}`).map((k) => ({ Authorization: `Bearer ${k}` })),
    fc.constantFrom(`Basic ${key}`, `Bearer`, `Token ${key}`, `bearer${key}`, `Basic ${Buffer.from(`:${key}x`).toString('base64')}`, 'Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`).map((v) => ({ Authorization: v })),
    text.map((c) => ({ Cookie: `waq_session=${c}` })),
    fc.constantFrom('1.9999999999999', 'abc.def', `${Date.now() + 1e9}.${'0'.repeat(64)}`).map((c) => ({ Cookie: `waq_session=${c}` })),
  );

/** A recipient the send schema refuses (checked with the schema itself, so it can never be valid). */
const badPhone = fc
  .oneof(
    text,
    fc.stringMatching(/^\d{1,25}$/),
    fc.stringMatching(/^\+[0-9 ]{0,6}$/),
    fc.stringMatching(/^\+0\d{6,14}$/),
    fc.stringMatching(/^\+\d{16,30}$/),
    fc.stringMatching(/^\+\d{4,10}[a-z]{1,3}\d{0,4}$/),
    fc.stringMatching(/^[a-z0-9.]{1,20}@(c|g|x)\.us$/),
    fc.constantFrom('', ' ', '+', '++49151', '+49 151 2345 6789 0000 1111', '4915123456789@c.us@c.us', '+49\u0000151', '+49 151 23456789\n'),
  )
  .filter((to) => !jobCatalog.send.schema.safeParse({ to, text: 'x' }).success);

const json = (key: string, path: string, value: unknown, extra: Record<string, string> = {}): FuzzRequest => ({
  kind: 'body',
  method: 'POST',
  path,
  headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...extra },
  body: JSON.stringify(value),
});

function requests(key: string): fc.Arbitrary<FuzzRequest> {
  const auth = { Authorization: `Bearer ${key}` };
  const protectedRoute = fc.constantFrom(...PROTECTED);
  return fc.oneof(
    // Missing or wrong credentials on every protected route, with or without a (valid-looking) body.
    { weight: 6, arbitrary: fc.record({ route: protectedRoute, headers: badAuth(key), accept: fc.constantFrom('application/json', 'text/html', '*/*') }).map(({ route, headers, accept }) => ({ kind: 'auth', method: route[0], path: route[1], headers: { ...headers, Accept: accept, 'Content-Type': 'application/json' }, body: route[0] === 'GET' ? undefined : JSON.stringify({ to: '+49 151 23456789', text: `${BODY_MARKER} unauthorised` }) })) },
    // Bodies that are not JSON (filtered: whatever parses is not "bad JSON").
    { weight: 4, arbitrary: fc.string({ maxLength: 200 }).filter((s) => { try { JSON.parse(s); return false; } catch { return true; } }).map((body) => ({ kind: 'bad json', method: 'POST', path: '/v1/messages', headers: { ...auth, 'Content-Type': 'application/json' }, body })) },
    // JSON of the wrong shape: any JSON value that the send schema refuses.
    { weight: 5, arbitrary: anyJson.filter((v) => !jobCatalog.send.schema.safeParse(v).success).map((v) => ({ ...json(key, '/v1/messages', v), kind: 'wrong types' })) },
    { weight: 5, arbitrary: fc.record({ to: fc.oneof(anyJson, badPhone), text: fc.oneof(anyJson, text.map((t) => `${BODY_MARKER} ${t}`)) }).filter((v) => !jobCatalog.send.schema.safeParse(v).success).map((v) => ({ ...json(key, '/v1/messages', v), kind: 'wrong types' })) },
    { weight: 6, arbitrary: badPhone.map((to) => ({ ...json(key, '/v1/messages', { to, text: `${BODY_MARKER} bad phone` }), kind: 'bad phone number' })) },
    // A text over the 65,536-character limit, and bodies over the 512 KiB JSON limit (up to 12 MB).
    { weight: 1, arbitrary: fc.integer({ min: 65_537, max: 70_000 }).map((n) => ({ ...json(key, '/v1/messages', { to: '+49 151 23456789', text: BODY_MARKER + 'y'.repeat(n) }), kind: 'huge body' })) },
    { weight: 1, arbitrary: fc.constantFrom(600 * 1024, 2 * 1024 * 1024, 12 * 1024 * 1024).map((n) => ({ ...json(key, '/v1/messages', { to: '+49 151 23456789', text: BODY_MARKER + 'z'.repeat(n) }), kind: 'huge body' })) },
    // Idempotency keys: invalid ones, and header and body disagreeing on an otherwise valid message.
    { weight: 3, arbitrary: fc.oneof(fc.string({ minLength: 1, maxLength: 5 }).map((s) => `${s} ${s}`), fc.string({ minLength: 300, maxLength: 400 }), fc.constantFrom('a/b', '../x', 'a:b', 'é', ' x')).map((k) => ({ ...json(key, '/v1/messages', { to: '+49 151 23456789', text: `${BODY_MARKER} bad key`, idempotencyKey: k }), kind: 'bad idempotency key' })) },
    { weight: 2, arbitrary: fc.tuple(fc.stringMatching(/^[a-z0-9]{4,12}$/), fc.stringMatching(/^[A-Z]{4,12}$/)).map(([a, b]) => ({ ...json(key, '/v1/messages', { to: '+49 151 23456789', text: `${BODY_MARKER} key clash`, idempotencyKey: a }, { 'Idempotency-Key': b }), kind: 'bad idempotency key' })) },
    // The right body with the wrong content type.
    { weight: 2, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', '').map((type) => ({ kind: 'content type', method: 'POST', path: '/v1/messages', headers: { ...auth, ...(type === '' ? {} : { 'Content-Type': type }) }, body: JSON.stringify({ to: '+49 151 23456789', text: `${BODY_MARKER} wrong type` }) })) },
    // Bad ids, percent-encoding included.
    { weight: 4, arbitrary: fc.oneof(fc.string({ maxLength: 300 }).map(encodeURIComponent), fc.constantFrom('%', '%zz', '%E0%A4%A', '..%2F..%2Fetc', '%00', 'a%2Fb', 'x'.repeat(5_000))).map((id) => ({ kind: 'bad id', method: 'GET', path: `/v1/messages/${id}`, headers: auth })) },
    // Bad query parameters (valid ones would open a stream or enqueue a connect).
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('/v1/session/qr?format=', '/v1/session/connect?wait=', '/v1/session/events?backlog='), fc.string({ minLength: 1, maxLength: 30 }).filter((v) => !['png', 'svg', 'text', 'json', 'true', 'false', '1', '0'].includes(v) && !/^\d+$/.test(v))).map(([p, v]) => ({ kind: 'bad query', method: p.includes('connect') ? 'POST' : 'GET', path: `${p}${encodeURIComponent(v)}`, headers: auth })) },
    // The session registry: bodies it refuses, ids that are not session ids (or name none), bad list queries.
    { weight: 4, arbitrary: anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || !/^[a-z0-9_-]{1,64}$/.test(String((v as { id?: unknown }).id))).map((v) => ({ ...json(key, '/v1/sessions', v), kind: 'bad session' })) },
    { weight: 2, arbitrary: fc.oneof(fc.string({ minLength: 1, maxLength: 80 }), fc.constantFrom('UPPER', 'a b', 'x'.repeat(65), 'é', '..', 'sales%2F..')).map((id) => ({ ...json(key, '/v1/sessions', { id }), kind: 'bad session' })).filter((r) => !/^[a-z0-9_-]{1,64}$/.test(String((JSON.parse(String(r.body)) as { id: string }).id))) },
    { weight: 4, arbitrary: fc.tuple(fc.oneof(fc.string({ maxLength: 80 }).map(encodeURIComponent), fc.constantFrom('%', '%zz', 'a%2Fb', 'x'.repeat(500), 'no-such-session')), fc.constantFrom<[string, string]>(['GET', ''], ['PATCH', ''], ['DELETE', ''], ['POST', '/start'], ['POST', '/stop'], ['POST', '/messages'], ['GET', '/messages'], ['GET', '/messages/x'], ['POST', '/connect'], ['GET', '/qr'], ['GET', '/events'])).filter(([id]) => id !== '' && id !== 'default').map(([id, [method, suffix]]) => ({ kind: 'bad session', method, path: `/v1/sessions/${id}${suffix}`, headers: { ...auth, 'Content-Type': 'application/json' }, body: method === 'GET' ? undefined : JSON.stringify({ to: '+49 151 23456789', text: `${BODY_MARKER} no session`, settings: {} }) })) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('status=', 'limit=', 'cursor=', 'order='), fc.string({ minLength: 1, maxLength: 40 }).filter((v) => !/^\d{1,3}$/.test(v) && !['asc', 'desc', 'queued', 'held', 'scheduled', 'waiting', 'sending', 'sent', 'failed', 'cancelled'].includes(v))).map(([q, v]) => ({ kind: 'bad query', method: 'GET', path: `/v1/sessions/default/messages?${q}${encodeURIComponent(v)}`, headers: auth })) },
    { weight: 2, arbitrary: anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).some((k) => k !== 'settings')).map((v) => ({ ...json(key, '/v1/sessions/default', v), method: 'PATCH', kind: 'bad session' })) },
    // Unknown routes and methods.
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), fc.webPath()).filter(([, p]) => !['/', '/healthz', '/readyz', '/login', '/logout', '/docs', '/metrics', '/openapi.json'].includes(p) && !p.startsWith('/v1/') && !p.startsWith('/admin') && !p.startsWith('/assets')).map(([method, p]) => ({ kind: 'unknown route', method, path: p.startsWith('/') ? p : `/${p}`, headers: auth })) },
    { weight: 2, arbitrary: fc.constantFrom<[string, string]>(['DELETE', '/v1/messages'], ['PUT', '/v1/session'], ['PATCH', '/v1/session/connect'], ['GET', '/v1/session/logout'], ['DELETE', '/v1/session/qr']).map(([method, p]) => ({ kind: 'unknown route', method, path: p, headers: auth })) },
    // Header tricks: oversized headers, many headers, odd request ids, a forged Host.
    { weight: 2, arbitrary: fc.constantFrom(20_000, 70_000).map((n) => ({ kind: 'header tricks', method: 'GET', path: '/v1/session', headers: { ...auth, 'X-Filler': 'h'.repeat(n) } })) },
    { weight: 2, arbitrary: fc.string({ maxLength: 200 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s)).map((id) => ({ kind: 'header tricks', method: 'POST', path: '/v1/messages', headers: { ...auth, 'X-Request-Id': id, 'Content-Type': 'application/json', Host: 'evil.example' }, body: '{"to":' })) },
    // Malformed HTTP on a raw socket: garbage request lines, lying Content-Length, broken chunking.
    { weight: 2, arbitrary: fc.oneof(
      fc.string({ maxLength: 100 }).map((g) => `${g}\r\n\r\n`),
      fc.constantFrom(
        `POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{"to":"+49151234567","text":"x"}`,
        `POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`,
        `POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        `POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        `GET /v1/session HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nAuthorization: Bearer wrong\r\n\r\n`,
        `GET /v1/session HTTP/1.1\r\nHost: x\r\nX-Api-Key: ${key}\r\nX-Api-Key: ${key}\r\n\r\n`,
        `GET /v1/session HTTP/9.9\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n\r\n`,
        `GET /v1/messages/%ZZ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n\r\n`,
        `GET \u0000 HTTP/1.1\r\nHost: x\r\n\r\n`,
      ),
    ).map((raw) => ({ kind: 'raw http', method: 'RAW', path: '', headers: {}, raw })) },
  );
}

// ------------------------------------------------------------------ sending them

/** Sends one request; resolves with the status code (0: the server closed the connection without an answer). */
async function send(request: FuzzRequest): Promise<number> {
  if (request.raw !== undefined) return rawRequest(request.raw);
  try {
    const res = await fetch(`${api.url}${request.path}`, {
      method: request.method,
      headers: request.headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
      ...(request.body === undefined || request.method === 'GET' ? {} : { body: request.body }),
    });
    await res.arrayBuffer();
    return res.status;
  } catch (error) {
    // undici refuses some header values itself (they never reach the server): not an answer.
    if (error instanceof TypeError && !/fetch failed/.test(error.message)) return -1;
    // A server that closes the connection on an oversized body is fine; a timeout is not.
    if (error instanceof Error && error.name === 'TimeoutError') throw error;
    return 0;
  }
}

function rawRequest(raw: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(api.url).port), '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 10 s to ${JSON.stringify(raw.slice(0, 80))}`));
    }, 10_000);
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n\r\n')) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0));
    });
    socket.end(raw);
  });
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

// ------------------------------------------------------------------ the scenarios

describe('the API under malformed input', () => {
  it('8. fuzz: ≥ 10,000 malformed requests → no answer ≥ 500, nothing enqueued, memory stable', async () => {
    const runs = scale(3_000, 12_000);
    // The memory baseline is taken once the API is warm: every request kind seen many times, huge bodies
    // included (at CI counts 10 % of the run, 300 requests, was still inside the warm-up).
    const warmAt = Math.max(Math.floor(runs / 10), 1_000);
    const statuses = new Map<number, number>();
    const kinds = new Map<string, number>();
    const serverErrors: string[] = [];
    let sent = 0;
    // RSS sampled every 250 requests once warm: a 12 MB body raises it for a while without a leak, so
    // the check compares the lowest sample of the first quarter with the lowest of the last quarter (a
    // leak raises the floor; a spike does not).
    const samples: number[] = [];
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(requests(api.key), async (request) => {
        const status = await send(request);
        sent += 1;
        if (sent >= warmAt && (sent - warmAt) % 250 === 0) samples.push(await rssMb(api.proc.pid));
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        kinds.set(request.kind, (kinds.get(request.kind) ?? 0) + 1);
        if (status >= 500) serverErrors.push(`${status} ${request.kind} ${request.method} ${request.path.slice(0, 80)}`);
        return status < 500;
      }),
      { numRuns: runs, endOnFailure: false },
    ).catch((error: unknown) => serverErrors.push(String(error).slice(0, 2_000)));
    const elapsed = Date.now() - started;
    samples.push(await rssMb(api.proc.pid));
    const quarter = Math.max(1, Math.floor(samples.length / 4));
    const warmRss = Math.min(...samples.slice(0, quarter));
    const endRss = Math.min(...samples.slice(-quarter));

    const counts = await Promise.all([stack.producer.queues.outbox, stack.producer.queues.control].map((q) => q.getJobCounts()));
    const enqueued = counts.flatMap((c) => Object.values(c)).reduce((a, b) => a + b, 0);
    // What is there without any request: queue metadata, the worker's state and events, the registry
    // and the configured session's marker.
    const records = (await stack.redis.keys(`${stack.prefix}:*`)).filter((k) => !/:(meta|events|state|session|settings|sessions|sessions:seeded)$/.test(k));
    report({
      scenario: '8. API fuzz (fast-check)',
      load: `${sent} malformed requests in ${(elapsed / 1_000).toFixed(0)} s (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`,
      faults: 'bad JSON, wrong types, huge bodies (≤ 12 MB), bad phone numbers, bad ids/queries, header tricks, raw malformed HTTP, unknown routes, missing/wrong auth',
      lost: '-',
      duplicated: '-',
      recovery: `answers ≥ 500: ${serverErrors.length}; jobs enqueued: ${enqueued}; API RSS floor ${warmRss.toFixed(0)} MB (first quarter after ${warmAt} requests) → ${endRss.toFixed(0)} MB (last quarter of ${sent}), ${samples.length} samples`,
      notes: `statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`,
    });
    expect(serverErrors).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(runs);
    expect(enqueued).toBe(0);
    expect(records).toEqual([]);
    expect(endRss - warmRss).toBeLessThan(64);
    expect(api.proc.child.exitCode).toBeNull();
  }, 900_000);

  it('10. every route but /healthz, /readyz and the sign-in form answers 401 without a key (pages: a redirect to /login)', async () => {
    const openapi = (await (await api.fetch('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(openapi.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => [m.toUpperCase(), p.replace(/\{[^}]+\}/g, 'x')] as [string, string]));
    const routes = [...new Map([...documented, ...PROTECTED].filter(([, p]) => p !== '/healthz' && p !== '/readyz').map((r) => [r.join(' '), r])).values()];
    const problems: string[] = [];
    for (const [method, route] of routes) {
      const credentials: Record<string, string>[] = [{}, { Authorization: 'Bearer wrong' }, { 'X-Api-Key': `${api.key}x` }];
      for (const headers of credentials) {
        const res = await fetch(`${api.url}${route}`, { method, headers: { Accept: 'application/json', ...headers }, redirect: 'manual' });
        await res.arrayBuffer();
        if (res.status !== 401) problems.push(`${method} ${route} ${JSON.stringify(headers)} → ${res.status}`);
      }
      if (method === 'GET') {
        const res = await fetch(`${api.url}${route}`, { headers: { Accept: 'text/html' }, redirect: 'manual' });
        await res.arrayBuffer();
        const page = ['/', '/docs', '/openapi.json'].includes(route) || route.startsWith('/admin');
        if (page ? res.status !== 303 || !res.headers.get('location')?.startsWith('/login') : res.status !== 401) problems.push(`${method} ${route} (browser) → ${res.status}`);
      }
    }
    const publicAnswers = await Promise.all(['/healthz', '/readyz', '/login'].map(async (p) => (await fetch(`${api.url}${p}`)).status));
    report({
      scenario: '10. auth on every route',
      load: `${routes.length} routes × 3 credentials (none, wrong Bearer, wrong X-Api-Key) + browser GETs`,
      faults: '-',
      lost: '-',
      duplicated: '-',
      recovery: `not 401/redirect: ${problems.length}`,
      notes: `public: /healthz ${publicAnswers[0]}, /readyz ${publicAnswers[1]}, /login ${publicAnswers[2]} (plus /assets/* and POST /logout, which only clears the cookie)`,
    });
    expect(problems).toEqual([]);
    expect(publicAnswers).toEqual([200, 200, 200]);
  });

  it('10. (logs) no phone number, message body or key in clear in the API output', () => {
    const leaks = stack.leaks(['+49 151 23456789']);
    report({ scenario: '10. log check: API fuzz', load: `${stack.logLines().length} log lines, ${stack.processes.length} process`, faults: '-', lost: '-', duplicated: '-', recovery: '-', notes: `leaks: ${leaks.length}` });
    expect(leaks).toEqual([]);
  });
});
