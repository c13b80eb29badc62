/**
 * `WAQ_SANDBOX=1 npm start`, twice on the same directories (issue 14, point 2: "sandbox mode forgets its
 * pairing on every restart"). Run 1 links the sandbox session through the public API (connect → QR →
 * `POST /v1/sandbox/scan` → READY), sends a message the simulated phone receives, and stops with SIGINT
 * as Ctrl+C does. Run 2 must come back READY without a QR ever being published, and the phone must still
 * hold run 1's message: the phone keeps its account in `<DATA_DIR>/sandbox-phone`. Run 1 also adds two
 * sessions through the API (issue 15: every session has its own simulated phone); run 2 brings all three
 * back, each on its own number.
 *
 * "No QR" is read from the session's event stream in Redis, which gets every transition in the same
 * MULTI as the state it describes: a QR shown for a moment between two polls is in it all the same.
 * Run 1's part of the same stream must contain its QR, so the reader is known to see QRs.
 *
 * The script runs as a person runs it (`node scripts/start.mjs`), against the test Redis under a unique
 * WAQ_PREFIX, with temp DATA_DIR/SESSION_DIR and free ports. Its services are detached (their own process
 * groups) and Chromium is re-parented once the worker dies, so the tree below the script is sampled from
 * /proc while it runs and whatever of it is still alive is SIGKILLed after each test, failed or not.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { decodeEvent, sessionKeys, type SessionEvent } from '@waq/shared';
import { browserProcesses, deleteByPrefix, freePort, killBrowsers, testRedisUrl, uniquePrefix } from '@waq/test-utils';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { ROOT } from './lib/paths.mjs';
import { Service, Supervisor } from './lib/processes.mjs';

/** A whole start (bootstrap, tsx start-up of three processes, Chromium) on a loaded 2-core machine. */
const START_MS = 90_000;
/** start.mjs gives the apps SHUTDOWN_TIMEOUT_MS (30 s) + 15 s, then stops the simulator. */
const STOP_MS = 60_000;
const STEP_MS = 30_000;
const NUMBER = '+49 151 40000014';
const NUMBER_DIGITS = '4915140000014';
const BODY = 'sandbox restart check';

interface SessionBody {
  readonly status: string;
  readonly qr?: { readonly value: string };
}
interface PhoneMessage {
  readonly id: string;
  readonly to: string;
  readonly body: string;
}
interface PhoneInfo {
  readonly linked: boolean;
  readonly devices: readonly { readonly id: string }[];
}

/** One `node scripts/start.mjs`: its output, its stop, and the URLs it printed. */
interface StartRun {
  readonly service: Service;
  readonly lines: string[];
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
}

let root: string;
let prefix: string;
let redis: Redis;
let supervisor: Supervisor;
let sampler: NodeJS.Timeout | undefined;
const timings: Record<string, string> = {};

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'waq-start-e2e-'));
  prefix = uniquePrefix();
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  await redis.ping();
  supervisor = new Supervisor();
  // Every 200 ms: a Chromium the worker started is seen before the worker can die and orphan it.
  sampler = setInterval(() => supervisor.sample(), 200);
});

afterEach(async () => {
  const steps: (() => Promise<unknown>)[] = [
    async () => clearInterval(sampler),
    async () => {
      supervisor.killAll();
      await Promise.all([...supervisor.services].map((service) => service.exited));
    },
    // What was started between two samples and is still there (needs the profile, not the tree).
    () => killBrowsers(profileDir()),
    () => deleteByPrefix(redis, prefix),
    async () => redis.disconnect(),
    () => rm(root, { recursive: true, force: true }),
  ];
  // Every step runs even when one fails: a failed Redis clean-up must not leave Chromium running.
  for (const step of steps) await step().catch(() => undefined);
});

const dataDir = (): string => path.join(root, 'data');
/** The worker's sandbox profile: `<SESSION_DIR>/sandbox/session-<SESSION_ID>`. */
const profileDir = (): string => path.join(root, 'sessions', 'sandbox', 'session-default');

async function startWaq(): Promise<StartRun & { readonly apiUrl: string }> {
  const apiPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WAQ_SANDBOX: '1',
    REDIS_URL: testRedisUrl(),
    WAQ_PREFIX: prefix,
    DATA_DIR: dataDir(),
    SESSION_DIR: path.join(root, 'sessions'),
    WWEBJS_CACHE_DIR: path.join(root, 'cache'),
    API_HOST: '127.0.0.1',
    API_PORT: String(apiPort),
    WORKER_HOST: '127.0.0.1',
    WORKER_PORT: String(await freePort()),
    LOG_FORMAT: 'json',
    NO_COLOR: '1',
  };
  // The key is the one the API generates into DATA_DIR/api-key, as on a first `npm start`. WAQ_SIM_ENTRY
  // is left as the caller set it: pointing it at a wrapper that drops `--state-dir` replays the code
  // before the fix (this test then fails on the QR of run 2).
  for (const name of ['API_KEY', 'SESSION_ID', 'WAQ_SIM_URL', 'WAQ_API_ENTRY', 'WAQ_WORKER_ENTRY', 'FORCE_COLOR']) delete env[name];
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const service = new Service('start', child, true);
  supervisor.services.add(service);
  supervisor.sample();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (process.env['WAQ_TEST_VERBOSE'] === '1') process.stderr.write(`${line}\n`);
      for (const waiter of waiters) waiter();
    });
  }
  const tail = (): string => lines.slice(-30).join('\n');
  const waitForLine = (pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        for (const line of lines) {
          const match = pattern.exec(line);
          if (match) return done(() => resolve(match));
        }
        if (!service.running) done(() => reject(new Error(`start.mjs ${service.describeExit()} before printing ${pattern}; last lines:\n${tail()}`)));
      };
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        settle();
      };
      const timer = setTimeout(() => done(() => reject(new Error(`start.mjs printed no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${tail()}`))), timeoutMs);
      waiters.add(check);
      void service.exited.then(check);
      check();
    });
  return { service, lines, waitForLine, apiUrl: `http://127.0.0.1:${apiPort}` };
}

/** Ctrl+C: SIGINT to the script's process group (only the script: its services are detached). */
async function interrupt(run: StartRun): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  process.kill(-run.service.pid, 'SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const info = await Promise.race([
    run.service.exited,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`start.mjs did not exit within ${STOP_MS} ms of SIGINT; last lines:\n${run.lines.slice(-30).join('\n')}`)), STOP_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  return { code: info.code, ms: Date.now() - started };
}

function client(apiUrl: string, key: string) {
  const call = async (method: 'GET' | 'POST', route: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${apiUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() };
  };
  return {
    call,
    session: async (): Promise<SessionBody> => (await call('GET', '/v1/session')).body as SessionBody,
  };
}

async function phoneGet<T>(simUrl: string, route: string): Promise<T> {
  const response = await fetch(`${simUrl}${route}`);
  expect(response.status, `GET ${route} on the simulator`).toBe(200);
  return (await response.json()) as T;
}

/** Every session event in the stream, oldest first. */
async function sessionEvents(): Promise<{ id: string; event: SessionEvent }[]> {
  const entries = await redis.xrange(sessionKeys({ prefix, sessionId: 'default' }).events, '-', '+');
  return entries.map(([id, fields]) => decodeEvent(id, fields)).filter((e) => e !== null);
}

/** What the event history says happened: `QR` for a state QR, `qr` for a qr event. */
const history = (events: readonly { event: SessionEvent }[]): string[] =>
  events.flatMap(({ event }) => (event.type === 'state' ? [event.status] : event.type === 'qr' ? ['qr'] : []));

const seconds = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`;

describe('npm start in sandbox mode', () => {
  it('restores the linked session after Ctrl+C without a QR, and the phone keeps its messages', { timeout: 2 * START_MS + 2 * STOP_MS + 4 * STEP_MS }, async () => {
    // ── Run 1: link, send, Ctrl+C ──────────────────────────────────────────────────────────────────
    let started = Date.now();
    const first = await startWaq();
    await first.waitForLine(/waq is running/, START_MS);
    timings['run 1: start → banner'] = seconds(Date.now() - started);
    const simUrl1 = (await first.waitForLine(/Simulator: (http:\/\/127\.0\.0\.1:\d+)/, 1_000))[1] as string;
    const key = (await readFile(path.join(dataDir(), 'api-key'), 'utf8')).trim();
    const api1 = client(first.apiUrl, key);

    // A fresh profile: the worker waits for a connect.
    await vi.waitFor(async () => expect((await api1.session()).status).toBe('STOPPED'), { timeout: START_MS, interval: 100 });
    expect((await api1.call('POST', '/v1/session/connect')).status).toBe(202);
    await vi.waitFor(async () => expect((await api1.session()).qr?.value).toEqual(expect.any(String)), { timeout: STEP_MS, interval: 100 });
    timings['run 1: start → QR'] = seconds(Date.now() - started);
    const scanned = Date.now();
    expect(await api1.call('POST', '/v1/sandbox/scan')).toMatchObject({ status: 200, body: { scanned: true } });
    await vi.waitFor(async () => expect((await api1.session()).status).toBe('READY'), { timeout: STEP_MS, interval: 100 });
    timings['run 1: scan → READY'] = seconds(Date.now() - scanned);

    const sent = await api1.call('POST', '/v1/messages', { to: NUMBER, text: BODY });
    expect(sent.status).toBe(202);
    const id = (sent.body as { id: string }).id;
    await vi.waitFor(async () => expect((await api1.call('GET', `/v1/messages/${id}`)).body).toMatchObject({ status: 'sent' }), { timeout: STEP_MS, interval: 100 });
    const received = (await phoneGet<{ messages: PhoneMessage[] }>(simUrl1, `/phone/messages?to=${NUMBER_DIGITS}`)).messages;
    expect(received.map((m) => m.body)).toEqual([BODY]);
    const linked = await phoneGet<PhoneInfo>(simUrl1, '/phone');
    expect(linked.devices).toHaveLength(1);

    // Two more sessions, as a person adds numbers: each shows its own QR code, is scanned by its own
    // simulated phone through the API, and is READY with a number of its own.
    const extra = ['sales', 'support'];
    const scannedAll = Date.now();
    for (const session of extra) {
      expect((await api1.call('POST', '/v1/sessions', { id: session })).status).toBe(201);
      await vi.waitFor(async () => {
        await api1.call('POST', `/v1/sessions/${session}/connect`);
        expect(((await api1.call('GET', `/v1/sessions/${session}`)).body as { state: SessionBody }).state.qr?.value).toEqual(expect.any(String));
      }, { timeout: START_MS, interval: 250 });
      expect(await api1.call('POST', `/v1/sessions/${session}/sandbox/scan`)).toMatchObject({ status: 200, body: { scanned: true } });
    }
    const numbers = async (api: ReturnType<typeof client>): Promise<(string | undefined)[]> => {
      const { sessions } = (await api.call('GET', '/v1/sessions')).body as { sessions: { id: string; state: { status: string; me?: { wid: string } } }[] };
      expect(sessions.map((one) => `${one.id} ${one.state.status}`)).toEqual(['default READY', 'sales READY', 'support READY']);
      return sessions.map((one) => one.state.me?.wid);
    };
    let linkedNumbers: (string | undefined)[] = [];
    await vi.waitFor(async () => {
      linkedNumbers = await numbers(api1);
    }, { timeout: START_MS, interval: 250 });
    expect(new Set(linkedNumbers).size).toBe(3);
    timings['run 1: 2 more sessions created → all 3 READY'] = seconds(Date.now() - scannedAll);

    const firstStop = await interrupt(first);
    timings['run 1: SIGINT → exit'] = seconds(firstStop.ms);
    expect(firstStop.code, 'exit code of a Ctrl+C stop (128 + SIGINT)').toBe(130);
    expect(first.lines).toContainEqual(expect.stringMatching(/^\[start\]\s+Stopped\.$/));
    expect(first.lines.filter((line) => /^\[start\].*(Killed|did not stop|unexpectedly)/.test(line)), 'start.mjs had to kill something').toEqual([]);
    expect(supervisor.survivors(), 'processes left behind by run 1').toEqual([]);
    expect(await browserProcesses(profileDir())).toEqual([]);

    const run1Events = await sessionEvents();
    // The control: the reader sees a QR when one was published.
    expect(history(run1Events)).toContain('qr');
    expect(history(run1Events)).toContain('QR');
    const lastOfRun1 = run1Events.at(-1)?.id;
    expect(lastOfRun1).toBeDefined();

    // ── Run 2: same directories, no QR, same phone ─────────────────────────────────────────────────
    started = Date.now();
    const second = await startWaq();
    await second.waitForLine(/waq is running/, START_MS);
    const simUrl2 = (await second.waitForLine(/Simulator: (http:\/\/127\.0\.0\.1:\d+)/, 1_000))[1] as string;
    expect((await readFile(path.join(dataDir(), 'api-key'), 'utf8')).trim()).toBe(key);
    const api2 = client(second.apiUrl, key);
    // Until the session settles, READY or otherwise (a QR no one scans would never turn READY): every
    // status the API shows on the way, and whether it ever carried a QR code.
    const shown: string[] = [];
    let qrShown = false;
    await vi.waitFor(
      async () => {
        const state = await api2.session();
        if (shown.at(-1) !== state.status) shown.push(state.status);
        if (state.qr !== undefined) qrShown = true;
        expect(['READY', 'QR', 'LOGGED_OUT', 'FAILED']).toContain(state.status);
      },
      { timeout: START_MS, interval: 100 },
    );
    timings['run 2: start → READY'] = seconds(Date.now() - started);
    const events = await sessionEvents();
    const from = events.findIndex((e) => e.id === lastOfRun1);
    expect(from, 'run 1 events still in the stream').toBeGreaterThanOrEqual(0);
    const run2 = history(events.slice(from + 1));
    expect(run2, 'session history of run 2 (from the event stream)').not.toContain('qr');
    expect(run2).not.toContain('QR');
    expect(run2.at(-1)).toBe('READY');
    expect(shown, 'statuses GET /v1/session showed in run 2').not.toContain('QR');
    expect(qrShown).toBe(false);
    expect(second.lines.some((line) => /\[worker\].*saved session found/.test(line))).toBe(true);

    // The phone of run 2 is the one of run 1: same linked device, and run 1's message in its history.
    const phone2 = await phoneGet<PhoneInfo>(simUrl2, '/phone');
    expect(phone2.linked).toBe(true);
    expect(phone2.devices.map((d) => d.id)).toEqual(linked.devices.map((d) => d.id));
    const history2 = (await phoneGet<{ messages: PhoneMessage[] }>(simUrl2, `/phone/messages?to=${NUMBER_DIGITS}`)).messages;
    expect(history2.map((m) => ({ id: m.id, body: m.body }))).toEqual(received.map((m) => ({ id: m.id, body: m.body })));

    // The other two sessions are back too, each on its own number, without a new QR code.
    await vi.waitFor(async () => expect(await numbers(api2)).toEqual(linkedNumbers), { timeout: START_MS, interval: 250 });

    const secondStop = await interrupt(second);
    timings['run 2: SIGINT → exit'] = seconds(secondStop.ms);
    expect(secondStop.code).toBe(130);
    console.info(`start e2e timings: ${Object.entries(timings).map(([k, v]) => `${k} ${v}`).join('; ')}`);
  });
});
