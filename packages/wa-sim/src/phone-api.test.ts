/**
 * Routing of the phone API without sockets: which account each request and each page upgrade reaches,
 * and what a bad path, method, body or id answers (and that it leaves no account behind).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PhoneAccounts } from './phone-accounts.js';
import { handleServerRequest, pageRoute, type ApiResponse } from './phone-api.js';
import type { ServerMessage } from './protocol.js';
import type { PageLink, SimPhone } from './sim-phone.js';

const PEER = '15550100002';

let accounts: PhoneAccounts;
beforeEach(async () => {
  accounts = await PhoneAccounts.open({ ackDelayMs: 10, log: () => undefined });
});
afterEach(() => accounts.close());

const request = (method: string, path: string, body?: unknown): ApiResponse => handleServerRequest(accounts, method, new URL(path, 'http://localhost'), body);
const ids = (): string[] => accounts.list().map((a) => a.id);

/** A page of `phone` that said hello unpaired, so its account shows a QR. */
function unpairedPage(phone: SimPhone): ServerMessage[] {
  const received: ServerMessage[] = [];
  const link: PageLink = { send: (m) => received.push(m), close: () => undefined };
  phone.attach(link);
  phone.receive(link, { type: 'hello', deviceId: null, version: 'v' });
  return received;
}

describe('phone API routing', () => {
  /** Every phone route with a body it accepts; `scan` needs a QR on screen, so it is left to its own test. */
  const routes: [method: string, path: string, body?: unknown][] = [
    ['GET', '/phone'],
    ['GET', '/phone/'],
    ['POST', '/phone/logout'],
    ['POST', '/phone/offline'],
    ['POST', '/phone/online'],
    ['POST', '/phone/incoming', { from: PEER, body: 'hi' }],
    ['GET', `/phone/messages?to=${PEER}`],
    ['POST', '/phone/reset'],
  ];

  it('each route under /accounts/<id> answers for that account, creating it and no other', () => {
    for (const [i, [method, path, body]] of routes.entries()) {
      const id = `route-${i}`;
      const res = request(method, `/accounts/${id}${path}`, body);
      expect(res.status, `${method} ${path}`).toBe(200);
      expect(ids(), `${method} ${path}`).toEqual(['default', ...routes.slice(0, i + 1).map((_, j) => `route-${j}`)]);
    }
  });

  it('state a request changes is the addressed account’s only: offline, incoming, reset', () => {
    accounts.account('sales');
    accounts.account('support');
    expect(request('POST', '/accounts/sales/phone/offline').body).toEqual({ online: false });
    expect(accounts.list().map((a) => [a.id, a.online])).toEqual([['default', true], ['sales', false], ['support', true]]);

    expect(request('POST', '/accounts/support/phone/incoming', { from: PEER, body: 'to support' }).status).toBe(200);
    expect(request('POST', '/phone/incoming', { from: PEER, body: 'to default' }).status).toBe(200);
    const counts = (): number[] => ['default', 'sales', 'support'].map((id) => accounts.account(id).snapshot().incomingCount);
    expect(counts()).toEqual([1, 0, 1]);
    expect(accounts.account('support').incomingMessages().map((m) => m.body)).toEqual(['to support']);

    expect(request('POST', '/accounts/support/phone/reset').body).toEqual({ ok: true });
    expect(counts()).toEqual([1, 0, 0]);
    // reset puts only its own account back online.
    expect(accounts.account('sales').snapshot().online).toBe(false);
  });

  it('the root and /accounts/default are one account', () => {
    expect(request('POST', '/accounts/default/phone/incoming', { from: PEER, body: 'via the alias' }).status).toBe(200);
    expect(request('GET', '/phone').body).toMatchObject({ incomingCount: 1 });
    expect(request('GET', '/accounts/default/phone').body).toEqual(request('GET', '/phone').body);
    expect(ids()).toEqual(['default']);
  });

  it('a scan links a page of the addressed account only, and a ref of another account is no QR there', () => {
    const salesPage = unpairedPage(accounts.account('sales'));
    const supportPage = unpairedPage(accounts.account('support'));
    const supportRef = accounts.account('support').snapshot().qr?.ref;
    expect(supportRef).toBeDefined();

    expect(request('POST', '/accounts/sales/phone/scan', { ref: supportRef })).toMatchObject({ status: 409, body: { error: { code: 'NO_QR' } } });
    expect(request('POST', '/phone/scan', {})).toMatchObject({ status: 409, body: { error: { code: 'NO_QR' } } });
    expect(accounts.list().some((a) => a.linked)).toBe(false);

    const scanned = request('POST', '/accounts/support/phone/scan', { ref: supportRef });
    expect(scanned.status).toBe(200);
    expect(supportPage).toContainEqual(expect.objectContaining({ type: 'paired', me: `${accounts.account('support').me}@c.us` }));
    expect(salesPage.some((m) => m.type === 'paired')).toBe(false);
    expect(accounts.list().map((a) => [a.id, a.linked])).toEqual([['default', false], ['sales', false], ['support', true]]);
  });

  it('a wrong route, method or body under a valid id is a 4xx that creates no account', () => {
    const bad: [method: string, path: string, body: unknown, status: number, code: string][] = [
      ['GET', '/accounts/ghost/phone/nope', undefined, 404, 'NOT_FOUND'],
      ['GET', '/accounts/ghost/phone/scan', undefined, 404, 'NOT_FOUND'],
      ['DELETE', '/accounts/ghost/phone', undefined, 404, 'NOT_FOUND'],
      ['GET', '/accounts/ghost/healthz', undefined, 404, 'NOT_FOUND'],
      ['GET', '/accounts/ghost/', undefined, 404, 'NOT_FOUND'],
      ['GET', '/accounts/ghost/phonex', undefined, 404, 'NOT_FOUND'],
      ['POST', '/accounts/ghost/phone/incoming', { from: 'nobody', body: '' }, 422, 'VALIDATION'],
      ['POST', '/accounts/ghost/phone/scan', { ref: 1 }, 422, 'VALIDATION'],
      ['GET', '/accounts/ghost/phone/messages?to=nobody', undefined, 400, 'VALIDATION'],
    ];
    for (const [method, path, body, status, code] of bad) {
      expect(request(method, path, body), `${method} ${path}`).toMatchObject({ status, body: { error: { code, message: expect.any(String) } } });
    }
    expect(ids()).toEqual(['default']);
  });

  it('an invalid id is a 404 INVALID_ACCOUNT_ID on every route, naming the rule and the field', () => {
    for (const id of ['bad.id', 'a%20b', '%73ales', 'ü', 'x'.repeat(65), '']) {
      for (const [method, path, body] of [...routes, ['POST', '/phone/scan', {}] as const]) {
        expect(request(method, `/accounts/${id}${path}`, body), `${id} ${method} ${path}`).toEqual({
          status: 404,
          body: {
            error: {
              code: 'INVALID_ACCOUNT_ID',
              message: expect.stringMatching(/^No account ".*": an account id is 1–64 characters of A–Z, a–z, 0–9, "_" and "-"/),
              details: [{ path: 'accountId', message: expect.any(String) }],
            },
          },
        });
      }
    }
    expect(ids()).toEqual(['default']);
  });

  it('ids are case-sensitive: Sales and sales are two accounts, with two numbers', () => {
    request('POST', '/accounts/Sales/phone/incoming', { from: PEER, body: 'capital' });
    request('GET', '/accounts/sales/phone');
    expect(ids()).toEqual(['Sales', 'default', 'sales']);
    expect(accounts.account('Sales').snapshot().incomingCount).toBe(1);
    expect(accounts.account('sales').snapshot().incomingCount).toBe(0);
    expect(accounts.account('Sales').me).not.toBe(accounts.account('sales').me);
  });

  it('GET /accounts lists; any other method on it is a 404', () => {
    accounts.account('sales');
    expect(request('GET', '/accounts')).toEqual({ status: 200, body: { accounts: accounts.list() } });
    expect(request('GET', '/accounts/').body).toEqual(request('GET', '/accounts').body);
    expect(request('POST', '/accounts')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });

  it('while the server closes, a new account is a 503 CLOSING (an existing one still answers)', () => {
    accounts.account('sales');
    accounts.stop();
    expect(request('GET', '/accounts/late/phone')).toMatchObject({ status: 503, body: { error: { code: 'CLOSING', message: expect.stringContaining('"late"') } } });
    expect(request('GET', '/accounts/sales/phone').status).toBe(200);
    expect(pageRoute(accounts, '/accounts/late/ws')).toMatchObject({ refused: { status: 503, body: { error: { code: 'CLOSING' } } } });
    expect(ids()).toEqual(['default', 'sales']);
  });
});

describe('pageRoute (a page’s WebSocket upgrade)', () => {
  it('/ws and /accounts/default/ws join the default account, /accounts/<id>/ws account <id>', () => {
    expect(pageRoute(accounts, '/ws')).toEqual({ phone: accounts.account('default') });
    expect(pageRoute(accounts, '/accounts/default/ws')).toEqual({ phone: accounts.account('default') });
    const sales = pageRoute(accounts, '/accounts/sales/ws');
    expect(sales).toEqual({ phone: accounts.account('sales') });
    expect(ids()).toEqual(['default', 'sales']);
  });

  it('refuses a bad id with 404 INVALID_ACCOUNT_ID and any other path with 404 NOT_FOUND, creating nothing', () => {
    for (const path of ['/accounts/bad.id/ws', '/accounts//ws', `/accounts/${'x'.repeat(65)}/ws`]) {
      expect(pageRoute(accounts, path), path).toMatchObject({ refused: { status: 404, body: { error: { code: 'INVALID_ACCOUNT_ID' } } } });
    }
    for (const path of ['/', '/ws/', '/wsx', '/phone', '/accounts', '/accounts/sales', '/accounts/sales/', '/accounts/sales/ws/', '/accounts/sales/phone/ws']) {
      expect(pageRoute(accounts, path), path).toMatchObject({ refused: { status: 404, body: { error: { code: 'NOT_FOUND', message: expect.stringContaining(path) } } } });
    }
    expect(ids()).toEqual(['default']);
  });
});
