import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { AccountFile, StateDirInUseError, type AccountState, type LogLevel } from './account-file.js';
import { startPhoneServer, type PhoneServer, type PhoneServerOptions } from './phone-server.js';
import type { ServerMessage } from './protocol.js';
import { SimPhone } from './sim-phone.js';
import { openPageSocket, type PageSocket } from './testing/page-socket.js';

/** A page of the account at `base` (the default account's unless given). */
const openPage = (server: PhoneServer, base = server.url): Promise<PageSocket> => openPageSocket(base);

function first<T extends ServerMessage['type']>(received: ServerMessage[], type: T): Extract<ServerMessage, { type: T }> | undefined {
  return received.find((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
}

const sockets: WebSocket[] = [];
const servers: PhoneServer[] = [];
let dir: string;
let logs: { level: LogLevel; message: string }[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'wa-sim-state-'));
  logs = [];
});
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const server of servers.splice(0)) await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(options: PhoneServerOptions = {}): Promise<PhoneServer> {
  const server = await startPhoneServer({ ackDelayMs: 10, stateDir: dir, stateWriteDelayMs: 20, log: (level, message) => logs.push({ level, message }), ...options });
  servers.push(server);
  return server;
}

async function stop(server: PhoneServer): Promise<void> {
  servers.splice(servers.indexOf(server), 1);
  await server.close();
}

async function get(server: PhoneServer, route: string): Promise<unknown> {
  return (await fetch(`${server.url}${route}`)).json();
}

describe('the account on disk (stateDir)', () => {
  it('a restarted phone server knows the linked device: welcome, no QR, history and identity kept', async () => {
    const one = await start();
    expect(one.stateFile).toBe(path.join(dir, 'account.json'));
    const page = await openPage(one);
    page.ws.send(JSON.stringify({ type: 'hello', deviceId: null, version: 'v' }));
    await vi.waitFor(() => expect(first(page.received, 'unpaired')).toBeDefined(), { timeout: 15_000 });
    const { deviceId } = one.phone.scan();
    page.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
    await vi.waitFor(() => expect(first(page.received, 'welcome')).toBeDefined(), { timeout: 15_000 });
    const { lid } = first(page.received, 'welcome')!;
    page.ws.send(JSON.stringify({ type: 'send', msg: { id: '3EB0AA', to: '15550100002@c.us', body: 'before the restart', t: 1_700_000_000, msgType: 'chat' } }));
    await vi.waitFor(() => expect(page.received).toContainEqual({ type: 'ack', id: '3EB0AA', ack: 3 }), { timeout: 15_000 });
    const incoming = one.phone.addIncoming('15550100003', 'hi there');
    page.ws.send(JSON.stringify({ type: 'received', id: incoming.id }));
    await vi.waitFor(() => expect(one.phone.incomingMessages()[0]?.delivered).toBe(true), { timeout: 15_000 });
    await stop(one);

    const two = await start();
    expect(logs.at(-1)).toEqual({ level: 'info', message: expect.stringContaining('1 linked device(s), 1 sent and 1 incoming') });
    expect(await get(two, '/phone')).toMatchObject({ linked: true, devices: [{ id: deviceId, connected: false }], sentCount: 1, incomingCount: 1, qr: null });
    expect(await get(two, '/phone/messages')).toMatchObject({ messages: [{ id: '3EB0AA', body: 'before the restart', ack: 3, order: 1 }] });

    const again = await openPage(two);
    again.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
    await vi.waitFor(() => expect(first(again.received, 'welcome')).toBeDefined(), { timeout: 15_000 });
    expect(first(again.received, 'unpaired')).toBeUndefined();
    const welcome = first(again.received, 'welcome')!;
    expect(welcome).toMatchObject({ deviceId, me: '15550100001@c.us', lid, pushname: 'waq sandbox', pending: [] });
    expect(welcome.history.map((m) => [m.id, m.fromMe, m.ack])).toEqual([
      ['3EB0AA', true, 3],
      [incoming.id, false, 3],
    ]);
    // Arrival order continues where it stopped.
    again.ws.send(JSON.stringify({ type: 'send', msg: { id: '3EB0BB', to: '15550100002@c.us', body: 'after', t: 1_700_000_100, msgType: 'chat' } }));
    await vi.waitFor(() => expect(two.phone.messages().map((m) => m.order)).toEqual([1, 2]), { timeout: 15_000 });
  });

  it('keeps the saved identity over the me/pushname options, and says so', async () => {
    const one = await start({ me: '15550100009', pushname: 'first' });
    one.phone.reset(); // any change: the account is written at close
    await stop(one);
    const two = await start({ me: '15550100008', pushname: 'second' });
    expect(two.phone.me).toBe('15550100009');
    expect(two.phone.pushname).toBe('first');
    expect(logs.some((l) => l.level === 'warn' && l.message.includes('apply to a new account only'))).toBe(true);
  });

  it('in memory when no stateDir is given', async () => {
    const server = await startPhoneServer({});
    servers.push(server);
    expect(server.stateFile).toBeUndefined();
  });

  it('a corrupt file: a clear log line, the file moved aside, a fresh account that is saved again', async () => {
    await writeFile(path.join(dir, 'account.json'), '{"version":1,"me":"1555', 'utf8');
    const server = await start();
    expect(logs).toContainEqual({ level: 'error', message: expect.stringMatching(/account\.json is not valid JSON .*moved to .*account\.json\.broken-.*Starting a new account/) });
    expect(await get(server, '/phone')).toMatchObject({ linked: false, devices: [], sentCount: 0 });
    const files = await readdir(dir);
    const aside = files.find((f) => f.startsWith('account.json.broken-'));
    expect(aside).toBeDefined();
    expect(await readFile(path.join(dir, aside!), 'utf8')).toBe('{"version":1,"me":"1555');

    server.phone.addIncoming('15550100002', 'hello');
    await stop(server);
    const saved = JSON.parse(await readFile(path.join(dir, 'account.json'), 'utf8')) as AccountState;
    expect(saved).toMatchObject({ version: 1, incoming: [{ from: '15550100002', body: 'hello' }] });
  });

  it('valid JSON of another shape or version is not an account: fresh, with the field at fault', async () => {
    await writeFile(path.join(dir, 'account.json'), JSON.stringify({ version: 2, me: '1' }), 'utf8');
    const server = await start();
    expect(logs).toContainEqual({ level: 'error', message: expect.stringContaining('is not a version 1 account (version:') });
    expect(server.phone.snapshot().linked).toBe(false);
  });

  it('an unreadable file (here: a directory) is logged and set aside, never a crash', async () => {
    await mkdir(path.join(dir, 'account.json'));
    const server = await start();
    expect(logs).toContainEqual({ level: 'error', message: expect.stringContaining('cannot be read (EISDIR') });
    expect(server.phone.snapshot().linked).toBe(false);
  });

  it('one server per state dir; a lock left by a dead process is taken over', async () => {
    await start();
    await expect(startPhoneServer({ stateDir: dir, log: () => undefined })).rejects.toBeInstanceOf(StateDirInUseError);

    await stop(servers[0]!);
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(path.join(dir, 'lock'), `${dead}\n`, 'utf8');
    const server = await start();
    expect((await readFile(path.join(dir, 'lock'), 'utf8')).trim()).toBe(String(process.pid));
    await stop(server);
    expect(await readdir(dir)).not.toContain('lock');
  });
});

describe('many accounts on disk (stateDir)', () => {
  /** A page of the account at `base`, linked by a scan, that got its welcome. */
  async function linkedPage(server: PhoneServer, id: string): Promise<{ page: Awaited<ReturnType<typeof openPage>>; deviceId: string }> {
    const page = await openPage(server, server.accountUrl(id));
    page.ws.send(JSON.stringify({ type: 'hello', deviceId: null, version: 'v' }));
    await vi.waitFor(() => expect(first(page.received, 'unpaired')).toBeDefined(), { timeout: 15_000 });
    const { deviceId } = server.account(id).scan();
    page.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
    await vi.waitFor(() => expect(first(page.received, 'welcome')).toBeDefined(), { timeout: 15_000 });
    return { page, deviceId };
  }

  it('a restarted server has every account again: numbers, pairings and messages, each in its own file', async () => {
    const one = await start({ me: '15550100007' });
    const sales = await linkedPage(one, 'sales');
    const support = await linkedPage(one, 'support');
    sales.page.ws.send(JSON.stringify({ type: 'send', msg: { id: '3EB0S1', to: '15550100002@c.us', body: 'from sales', t: 1_700_000_000, msgType: 'chat' } }));
    await vi.waitFor(() => expect(sales.page.received).toContainEqual({ type: 'ack', id: '3EB0S1', ack: 3 }), { timeout: 15_000 });
    one.account('quiet'); // created, never changed: still saved
    const before = one.listAccounts();
    await stop(one);

    expect((await readdir(path.join(dir, 'accounts'))).sort()).toEqual(['quiet', 'sales', 'support']);
    // One lock for the whole directory; each account directory holds only its file.
    expect(await readdir(path.join(dir, 'accounts', 'sales'))).toEqual(['account.json']);
    const salesFile = JSON.parse(await readFile(path.join(dir, 'accounts', 'sales', 'account.json'), 'utf8')) as AccountState;
    expect(salesFile).toMatchObject({ version: 1, me: before.find((a) => a.id === 'sales')?.me, pushname: 'waq sandbox (sales)', devices: [{ id: sales.deviceId }], sent: [{ id: '3EB0S1' }] });

    // The default account is written with its first change, as before accounts existed: it had none.
    const two = await start({ me: '15550100007' });
    expect(two.listAccounts()).toEqual(before.map((a) => ({ ...a, devices: a.devices.map((d) => ({ ...d, connected: false })) })));
    expect(two.listAccounts().map((a) => a.id)).toEqual(['default', 'quiet', 'sales', 'support']);
    expect(two.account('sales').messages()).toMatchObject([{ id: '3EB0S1', body: 'from sales', ack: 3 }]);
    expect(two.account('support').messages()).toEqual([]);
    expect(two.phone.snapshot()).toMatchObject({ me: '15550100007', linked: false });

    // Each account welcomes its own device back without a QR, and only its own.
    const again = await openPage(two, two.accountUrl('support'));
    again.ws.send(JSON.stringify({ type: 'hello', deviceId: support.deviceId, version: 'v' }));
    await vi.waitFor(() => expect(first(again.received, 'welcome')).toBeDefined(), { timeout: 15_000 });
    expect(first(again.received, 'welcome')).toMatchObject({ deviceId: support.deviceId, me: `${before.find((a) => a.id === 'support')?.me}@c.us`, pushname: 'waq sandbox (support)' });
    const stranger = await openPage(two, two.accountUrl('quiet'));
    stranger.ws.send(JSON.stringify({ type: 'hello', deviceId: sales.deviceId, version: 'v' }));
    await vi.waitFor(() => expect(first(stranger.received, 'unpaired')).toBeDefined(), { timeout: 15_000 });
  });

  /** Says hello with `deviceId` on a new page of account `id` and returns what it got: a welcome or a QR. */
  async function helloAgain(server: PhoneServer, id: string, deviceId: string): Promise<Extract<ServerMessage, { type: 'welcome' }> | 'qr'> {
    const page = await openPage(server, server.accountUrl(id));
    page.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
    await vi.waitFor(() => expect(first(page.received, 'welcome') ?? first(page.received, 'unpaired')).toBeDefined(), { timeout: 15_000 });
    page.ws.terminate();
    return first(page.received, 'welcome') ?? 'qr';
  }
  async function post(server: PhoneServer, route: string): Promise<unknown> {
    const res = await fetch(`${server.url}${route}`, { method: 'POST' });
    expect(res.status, route).toBe(200);
    return res.json();
  }

  it('each account keeps its own linked state across restarts: its devices welcomed, a logged-out or reset one shows a QR', async () => {
    const one = await start({ me: '15550100007' });
    const root = await linkedPage(one, 'default');
    const sales = await linkedPage(one, 'sales');
    const salesSecond = await linkedPage(one, 'sales');
    const support = await linkedPage(one, 'support');
    const temp = await linkedPage(one, 'temp');
    expect(await post(one, '/accounts/support/phone/logout')).toEqual({ unlinked: 1 });
    expect(await post(one, '/accounts/temp/phone/reset')).toEqual({ ok: true });
    const numbers = Object.fromEntries(one.listAccounts().map((a) => [a.id, a.me]));
    await stop(one);

    const two = await start({ me: '15550100007' });
    expect(two.listAccounts().map((a) => [a.id, a.me, a.linked, a.devices.map((d) => d.id)])).toEqual([
      ['default', '15550100007', true, [root.deviceId]],
      ['sales', numbers.sales, true, [sales.deviceId, salesSecond.deviceId]],
      ['support', numbers.support, false, []],
      ['temp', numbers.temp, false, []],
    ]);
    expect(await helloAgain(two, 'default', root.deviceId)).toMatchObject({ deviceId: root.deviceId, me: '15550100007@c.us', pushname: 'waq sandbox' });
    for (const device of [sales, salesSecond]) {
      expect(await helloAgain(two, 'sales', device.deviceId)).toMatchObject({ deviceId: device.deviceId, me: `${numbers.sales}@c.us`, pushname: 'waq sandbox (sales)' });
    }
    expect(await helloAgain(two, 'support', support.deviceId)).toBe('qr');
    expect(await helloAgain(two, 'temp', temp.deviceId)).toBe('qr');
    // A device is welcomed by its own account only, the default one included.
    expect(await helloAgain(two, 'default', sales.deviceId)).toBe('qr');
    expect(await helloAgain(two, 'sales', root.deviceId)).toBe('qr');
    expect(await helloAgain(two, 'support', salesSecond.deviceId)).toBe('qr');

    // Relink support and log the default account out; the next restart has exactly that.
    const supportAgain = await linkedPage(two, 'support');
    expect(await post(two, '/phone/logout')).toEqual({ unlinked: 1 });
    await stop(two);
    const three = await start({ me: '15550100007' });
    expect(three.listAccounts().map((a) => [a.id, a.linked])).toEqual([['default', false], ['sales', true], ['support', true], ['temp', false]]);
    expect(await helloAgain(three, 'support', supportAgain.deviceId)).toMatchObject({ me: `${numbers.support}@c.us` });
    expect(await helloAgain(three, 'support', support.deviceId)).toBe('qr');
    expect(await helloAgain(three, 'sales', salesSecond.deviceId)).toMatchObject({ me: `${numbers.sales}@c.us` });
    expect(await helloAgain(three, 'default', root.deviceId)).toBe('qr');
  });

  it('saves a new account soon after it is made, not only at close', async () => {
    const server = await start();
    server.account('sales');
    await vi.waitFor(() => expect(existsSync(path.join(dir, 'accounts', 'sales', 'account.json'))).toBe(true), { timeout: 15_000 });
    expect(logs).toContainEqual({ level: 'info', message: expect.stringMatching(/^new account "sales" \(1555\d{7}\), saved in .*accounts\/sales\/account\.json/) });
  });

  it('directories that are no account are ignored with a warning; a broken account file starts that account afresh', async () => {
    const one = await start();
    const salesMe = one.account('sales').me;
    await stop(one);
    await mkdir(path.join(dir, 'accounts', 'bad.id'));
    await mkdir(path.join(dir, 'accounts', 'default'));
    await writeFile(path.join(dir, 'accounts', 'sales', 'account.json'), '{"version":1', 'utf8');

    const two = await start();
    expect(two.listAccounts().map((a) => a.id)).toEqual(['default', 'sales']);
    expect(logs.filter((l) => l.level === 'warn' && l.message.includes('is not an account directory')).map((l) => path.basename(l.message.split(' ')[0]!))).toEqual(['bad.id', 'default']);
    expect(logs).toContainEqual({ level: 'error', message: expect.stringContaining('accounts/sales/account.json is not valid JSON') });
    expect(two.account('sales').me).toBe(salesMe);
    await stop(two);
    expect((JSON.parse(await readFile(path.join(dir, 'accounts', 'sales', 'account.json'), 'utf8')) as AccountState).me).toBe(salesMe);
  });
});

describe('AccountFile', () => {
  const state = (devices: number): AccountState => ({
    version: 1,
    me: '15550100001',
    pushname: 'p',
    lid: '111111111111111',
    order: 0,
    devices: Array.from({ length: devices }, (_, i) => ({ id: `d${i}`, linkedAt: i })),
    sent: [],
    incoming: [],
  });

  it('coalesces a burst of changes into one write, and flushes on close', async () => {
    const { store } = await AccountFile.open({ dir, writeDelayMs: 10_000, log: () => undefined });
    let writes = 0;
    let devices = 0;
    store.bind(() => (writes++, state(devices)));
    for (let i = 0; i < 100; i += 1) {
      devices += 1;
      store.changed();
    }
    expect(writes).toBe(0);
    await store.close();
    expect(writes).toBe(1);
    expect((JSON.parse(await readFile(store.file, 'utf8')) as AccountState).devices).toHaveLength(100);
    // Nothing but the account file is left: no temp file, the lock released.
    expect(await readdir(dir)).toEqual(['account.json']);
  });

  it('writes once per delay while changes keep coming', async () => {
    const { store } = await AccountFile.open({ dir, writeDelayMs: 20, log: () => undefined });
    let writes = 0;
    store.bind(() => (writes++, state(1)));
    store.changed();
    store.changed();
    await vi.waitFor(() => expect(writes).toBe(1), { timeout: 15_000 });
    await store.close();
    expect(writes).toBe(1); // nothing changed since: close writes nothing
  });

  it('a failed write is logged once, kept pending and retried with the next change', async () => {
    const lines: string[] = [];
    const { store } = await AccountFile.open({ dir, writeDelayMs: 10_000, log: (level, message) => lines.push(`${level}: ${message}`) });
    store.bind(() => state(1));
    await rm(dir, { recursive: true, force: true });
    store.changed();
    await store.flush();
    store.changed();
    await store.flush();
    expect(lines.filter((l) => l.startsWith('error: could not save the account'))).toHaveLength(1);
    await mkdir(dir);
    store.changed();
    await store.close();
    expect(lines.at(-1)).toMatch(/^info: the account is saved to .* again/);
    expect((JSON.parse(await readFile(store.file, 'utf8')) as AccountState).devices).toHaveLength(1);
  });

  it('a state dir that cannot be created: logged, the account lives in memory', async () => {
    await writeFile(path.join(dir, 'file'), 'x');
    const lines: string[] = [];
    const server = await startPhoneServer({ stateDir: path.join(dir, 'file', 'sub'), log: (_level, message) => lines.push(message) });
    servers.push(server);
    expect(lines).toEqual([expect.stringContaining('keeps the account in memory only')]);
    server.phone.addIncoming('15550100002', 'x');
    await stop(server);
  });

  it('a state dir that cannot be created: the other accounts live in memory too, with no more log lines', async () => {
    await writeFile(path.join(dir, 'file'), 'x');
    const lines: string[] = [];
    const server = await startPhoneServer({ stateDir: path.join(dir, 'file', 'sub'), log: (level, message) => lines.push(`${level}: ${message}`) });
    servers.push(server);
    server.account('sales').addIncoming('15550100002', 'x');
    await stop(server);
    expect(lines.filter((l) => !l.startsWith('info: new account'))).toEqual([expect.stringContaining('keeps the account in memory only')]);
    expect(lines).toContainEqual(expect.not.stringContaining('saved in'));
  });
});

describe('SimPhone restored from an account', () => {
  afterEach(() => vi.useRealTimers());

  it('delivers and reads messages that were not read when the previous server stopped', () => {
    vi.useFakeTimers();
    const phone = new SimPhone({
      ackDelayMs: 10,
      account: {
        version: 1,
        me: '15550100001',
        pushname: 'p',
        lid: '111111111111111',
        order: 1,
        devices: [],
        sent: [{ id: 'A', serialized: 'true_15550100002@c.us_A', to: '15550100002', body: 'b', t: 1, receivedAt: 1, order: 1, ack: 1 }],
        incoming: [],
      },
    });
    vi.advanceTimersByTime(20);
    expect(phone.messages()[0]?.ack).toBe(3);
    expect(phone.account()).toMatchObject({ order: 1, lid: '111111111111111' });
    phone.close();
  });
});
