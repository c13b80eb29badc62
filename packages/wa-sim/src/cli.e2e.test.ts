/**
 * The phone server as its own process (cli.ts) with `--state-dir`, as sandbox mode runs it: after a
 * kill -9 every account comes back as its coalesced writes had saved it, each with its own number and
 * linked devices; SIGTERM writes every account (the last change included) and releases the directory.
 * Pages are bare WebSockets speaking the page protocol (no Chromium needed for this).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { AccountSummary } from './account-id.js';
import type { AccountState } from './account-file.js';
import type { ServerMessage } from './protocol.js';
import { openPageSocket, type PageSocket } from './testing/page-socket.js';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
/** tsx compiles cli.ts on every start: seconds on a loaded 2-core machine. */
const START_TIMEOUT_MS = 60_000;
const WAIT = { timeout: 15_000 };

/** One phone server process; `exited` resolves with its exit code or signal. */
interface PhoneProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: string[];
}

const processes: PhoneProcess[] = [];
const sockets: WebSocket[] = [];
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'wa-sim-cli-'));
});
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  for (const p of processes.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

async function startCli(): Promise<PhoneProcess> {
  const child = spawn(process.execPath, ['--conditions=waq-source', '--import', 'tsx', CLI, '--port', '0', '--ack-delay-ms', '10', '--state-dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const proc: PhoneProcess = { child, exited, stderr, url: '' };
  processes.push(proc);
  proc.url = await new Promise<string>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`cli.ts ${why}; stderr: ${stderr.join(' | ')}`));
    };
    const timer = setTimeout(() => fail(`printed no ready line in ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    void exited.then(({ code, signal }) => fail(`exited (${code ?? signal}) before it was ready`));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ready = JSON.parse(line) as { event: string; url: string };
      if (ready.event !== 'wa-sim-ready') return;
      clearTimeout(timer);
      resolve(ready.url);
    });
  });
  return proc;
}

const accountUrl = (phone: PhoneProcess, id: string): string => (id === 'default' ? phone.url : `${phone.url}/accounts/${id}`);

async function openPage(base: string): Promise<PageSocket> {
  const page = await openPageSocket(base);
  sockets.push(page.ws);
  return page;
}
const find = <T extends ServerMessage['type']>(received: ServerMessage[], type: T): Extract<ServerMessage, { type: T }> | undefined =>
  received.find((m): m is Extract<ServerMessage, { type: T }> => m.type === type);

/** A page of account `id`, linked through the account's own `…/phone/scan`; returns its device id. */
async function link(phone: PhoneProcess, id: string): Promise<{ ws: WebSocket; received: ServerMessage[]; deviceId: string }> {
  const page = await openPage(accountUrl(phone, id));
  page.ws.send(JSON.stringify({ type: 'hello', deviceId: null, version: 'v' }));
  await vi.waitFor(() => expect(find(page.received, 'unpaired')).toBeDefined(), WAIT);
  const res = await fetch(`${accountUrl(phone, id)}/phone/scan`, { method: 'POST' });
  expect(res.status).toBe(200);
  const { deviceId } = (await res.json()) as { deviceId: string };
  page.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
  await vi.waitFor(() => expect(find(page.received, 'welcome')).toBeDefined(), WAIT);
  return { ...page, deviceId };
}

const accountFile = (id: string): string => (id === 'default' ? path.join(dir, 'account.json') : path.join(dir, 'accounts', id, 'account.json'));
const saved = (id: string): AccountState | undefined => (existsSync(accountFile(id)) ? (JSON.parse(readFileSync(accountFile(id), 'utf8')) as AccountState) : undefined);

async function listAccounts(phone: PhoneProcess): Promise<AccountSummary[]> {
  return ((await (await fetch(`${phone.url}/accounts`)).json()) as { accounts: AccountSummary[] }).accounts;
}

describe('cli.ts --state-dir: every account survives the process', () => {
  it('after kill -9 each account is back with its number and its own devices; SIGTERM writes the last change', async () => {
    const first = await startCli();
    const devices = { default: await link(first, 'default'), sales: await link(first, 'sales'), support: await link(first, 'support') };
    devices.sales.ws.send(JSON.stringify({ type: 'send', msg: { id: '3EB0S1', to: '15550100002@c.us', body: 'from sales', t: 1_700_000_000, msgType: 'chat' } }));
    await vi.waitFor(() => expect(devices.sales.received).toContainEqual({ type: 'ack', id: '3EB0S1', ack: 3 }), WAIT);
    const before = await listAccounts(first);
    expect(new Set(before.map((a) => a.me)).size).toBe(3);
    // kill -9 loses what the coalesced writes had not saved yet: wait until they have.
    await vi.waitFor(() => {
      for (const [id, page] of Object.entries(devices)) expect(saved(id)?.devices.map((d) => d.id), id).toEqual([page.deviceId]);
      expect(saved('sales')?.sent).toMatchObject([{ id: '3EB0S1', ack: 3 }]);
    }, WAIT);

    first.child.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // The dead server's lock is left behind; the next one takes it over.
    expect(readdirSync(dir)).toContain('lock');

    const second = await startCli();
    expect(second.stderr).toContainEqual(expect.stringMatching(/restored from .*accounts\/sales\/account\.json: 1 linked device\(s\), 1 sent/));
    expect((await listAccounts(second)).map((a) => [a.id, a.me, a.linked, a.devices.map((d) => d.id)])).toEqual(
      before.map((a) => [a.id, a.me, true, a.devices.map((d) => d.id)]),
    );
    for (const [id, { deviceId }] of Object.entries(devices)) {
      const me = before.find((a) => a.id === id)?.me;
      const page = await openPage(accountUrl(second, id));
      page.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
      await vi.waitFor(() => expect(find(page.received, 'welcome') ?? find(page.received, 'unpaired')).toBeDefined(), WAIT);
      expect(find(page.received, 'welcome'), id).toMatchObject({ deviceId, me: `${me}@c.us` });
      expect(find(page.received, 'welcome')?.history.map((m) => m.id), id).toEqual(id === 'sales' ? ['3EB0S1'] : []);
      // …and no other account knows that device.
      const other = await openPage(accountUrl(second, id === 'sales' ? 'support' : 'sales'));
      other.ws.send(JSON.stringify({ type: 'hello', deviceId, version: 'v' }));
      await vi.waitFor(() => expect(find(other.received, 'unpaired')).toBeDefined(), WAIT);
      expect(find(other.received, 'welcome')).toBeUndefined();
    }

    // A change, then SIGTERM at once (within the write delay): the exit writes it.
    const res = await fetch(`${accountUrl(second, 'support')}/phone/incoming`, { method: 'POST', body: JSON.stringify({ from: '15550100002', body: 'just before SIGTERM' }) });
    expect(res.status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 143, signal: null });
    expect(saved('support')?.incoming).toMatchObject([{ from: '15550100002', body: 'just before SIGTERM' }]);
    expect(saved('sales')?.incoming).toEqual([]);
    expect(readdirSync(dir)).not.toContain('lock');
  });
});
