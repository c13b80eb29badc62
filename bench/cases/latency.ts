/**
 * 5. End-to-end latency: from the HTTP request to the simulator's phone server recording the message
 * (`receivedAt`), through waq's API (child process), Redis, the worker (this process, sandbox driver:
 * real whatsapp-web.js + chromium-headless-shell) and the simulated WhatsApp Web page. Pacing disabled
 * and at its defaults (SEND_INTERVAL_MS=1000 + up to SEND_JITTER_MS=500).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createRedis } from '@waq/shared';
import { startPhoneServer, type PhoneServer } from '@waq/wa-sim';

import { chooseDriver } from '../../apps/worker/src/create-driver.js';
import { BENCH_API_KEY, spawnTsx, type NodeChild } from '../lib/child.js';
import type { BenchOptions } from '../lib/options.js';
import { NO_PACING } from '../lib/held.js';
import { benchPrefix, deletePrefix } from '../lib/redis.js';
import { table, type CaseReport, type Verdict } from '../lib/report.js';
import { fmt, percentile, pollUntil, withTimeout } from '../lib/stats.js';
import { scopeConfig, sessionClient, sinkLogger, startOwner, type RunningOwner, type SessionScope } from '../lib/waq-session.js';

const API_SERVER = fileURLToPath(new URL('../api-server.ts', import.meta.url));
const TO = '+1 555 010 0002';
const TO_DIGITS = '15550100002';

interface Sample {
  /** ms from the request to the 202. */
  readonly acceptMs: number;
  /** ms from the request to the phone server recording the message. */
  readonly e2eMs: number;
}

interface Row {
  readonly mode: string;
  readonly pacing: string;
  readonly samples: readonly Sample[];
}

let sequence = 0;

async function post(apiUrl: string, text: string): Promise<{ startedAt: number; acceptedAt: number }> {
  const startedAt = Date.now();
  const response = await fetch(`${apiUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_API_KEY}` },
    body: JSON.stringify({ to: TO, text }),
  });
  if (response.status !== 202) throw new Error(`POST /v1/messages answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
  return { startedAt, acceptedAt: Date.now() };
}

/** When the phone server recorded `text`; polls (the phone is in this process, a read is an array scan). */
async function receivedAt(phone: PhoneServer, text: string, timeoutMs: number): Promise<number> {
  let at: number | undefined;
  await pollUntil(
    () => {
      at = phone.phone.messages(TO_DIGITS).find((m) => m.body === text)?.receivedAt;
      return at !== undefined;
    },
    { timeoutMs, intervalMs: 1, what: `the phone to receive "${text}"` },
  );
  return at ?? NaN;
}

async function sequential(apiUrl: string, phone: PhoneServer, n: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const text = `latency ${++sequence}`;
    const { startedAt, acceptedAt } = await post(apiUrl, text);
    samples.push({ acceptMs: acceptedAt - startedAt, e2eMs: (await receivedAt(phone, text, 60_000)) - startedAt });
  }
  return samples;
}

async function burst(apiUrl: string, phone: PhoneServer, n: number): Promise<Sample[]> {
  const texts = Array.from({ length: n }, () => `latency ${++sequence}`);
  const posted = await Promise.all(texts.map((text) => post(apiUrl, text)));
  return Promise.all(texts.map(async (text, i) => ({ acceptMs: posted[i]!.acceptedAt - posted[i]!.startedAt, e2eMs: (await receivedAt(phone, text, 60_000 + n * 2_000)) - posted[i]!.startedAt })));
}

export async function latencyCase(options: BenchOptions, log: (line: string) => void): Promise<Omit<CaseReport, 'id' | 'load' | 'seconds'>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'waq-bench-latency-'));
  const phone = await startPhoneServer({});
  const prefix = benchPrefix('latency');
  const cleaner = createRedis({ url: options.redisUrl, role: 'consumer', name: 'bench-latency-cleaner' });
  const base: SessionScope = { url: options.redisUrl, prefix, sessionDir: path.join(dir, 'sessions'), env: { WAQ_SANDBOX: '1', WAQ_SIM_URL: phone.url, WWEBJS_CACHE_DIR: path.join(dir, 'cache') } };
  const client = await sessionClient(base);
  let api: NodeChild | undefined;
  let owner: RunningOwner | undefined;
  const rows: Row[] = [];
  const start = async (pacing: Readonly<Record<string, string>>): Promise<RunningOwner> => {
    const scope: SessionScope = { ...base, env: { ...base.env, ...pacing } };
    const logger = sinkLogger('worker');
    const driver = await chooseDriver(scopeConfig(scope), logger);
    return startOwner({ ...scope, sessionDir: driver.sessionDir }, driver.createDriver(scopeConfig(scope).SESSION_ID), logger);
  };
  try {
    api = await spawnTsx(API_SERVER, ['waq', options.redisUrl, prefix]);
    const apiUrl = String(api.hello['url']);

    // Pair once with pacing off (not measured).
    owner = await start({ ...NO_PACING });
    await client.waitForStatus('STOPPED', 60_000);
    await client.producer.connect('bench');
    await client.waitForStatus('QR', 60_000);
    phone.phone.scan();
    await client.waitForStatus('READY', 60_000);
    await sequential(apiUrl, phone, 2); // warm-up: first sends open the chat in the page

    // Floor: the driver alone (whatsapp-web.js sendMessage on the same page), no API, Redis or queue.
    const driver = owner.owner.ownership?.session.client;
    if (driver === undefined) throw new Error('no driver while READY');
    const floor: Sample[] = [];
    for (let i = 0; i < options.latency.count; i++) {
      const text = `latency ${++sequence}`;
      const startedAt = Date.now();
      await withTimeout(driver.sendText(`${TO_DIGITS}@c.us`, text), 30_000, 'driver.sendText');
      floor.push({ acceptMs: NaN, e2eMs: (await receivedAt(phone, text, 30_000)) - startedAt });
    }
    rows.push({ mode: 'floor: `driver.sendText()` alone, one at a time', pacing: '—', samples: floor });
    rows.push({ mode: 'one at a time (next request after the phone got the previous)', pacing: 'off', samples: await sequential(apiUrl, phone, options.latency.count) });
    rows.push({ mode: `burst: ${options.latency.count} requests at once`, pacing: 'off', samples: await burst(apiUrl, phone, options.latency.count) });
    log(`latency: pacing off done`);

    // Default pacing: restart the worker with the configured interval and jitter (restores the saved
    // session); budgets and warm-up off, so the figures are the interval's alone.
    await owner.stop();
    owner = await start({ SEND_DAILY_CAP: '0', SEND_NEW_CHATS_PER_DAY: '0', SEND_WARMUP_MESSAGES: '0' });
    await client.waitForStatus('READY', 90_000);
    const paced = options.latency.pacedCount;
    rows.push({ mode: 'one at a time (next request after the phone got the previous)', pacing: '1000 ms + ≤ 500 ms', samples: await sequential(apiUrl, phone, paced) });
    rows.push({ mode: `burst: ${paced} requests at once`, pacing: '1000 ms + ≤ 500 ms', samples: await burst(apiUrl, phone, paced) });
    log(`latency: default pacing done`);
  } finally {
    await owner?.stop();
    await api?.stop();
    await client.close();
    await phone.close();
    await deletePrefix(cleaner, prefix);
    await cleaner.quit().catch(() => cleaner.disconnect());
    await rm(dir, { recursive: true, force: true });
  }

  const ms = (v: number): string => (Number.isNaN(v) ? '—' : `${fmt(v, 0)} ms`);
  const p = (row: Row, q: number, key: keyof Sample): number => percentile(row.samples.map((s) => s[key]), q);
  const body = [
    'From `fetch()` of `POST /v1/messages` to the phone server recording the message (`receivedAt`, same clock: the phone server runs',
    'in this process). The API runs in its own process (as case 1); the worker (`SessionOwner`, sandbox driver: whatsapp-web.js +',
    'chromium-headless-shell) runs in this process. Percentiles are nearest-rank, so with few messages p99 is the maximum.',
    'The "one at a time" rows with pacing show what a steady trickle of messages sees: each send waits out the previous one\'s',
    'interval. The burst rows show a queue forming: the n-th message waits for n − 1 paced sends.',
    '',
    table(
      ['Mode', 'Pacing', 'Messages', 'Accept (202) p50', 'End-to-end p50', 'End-to-end p99', 'Max'],
      rows.map((row) => [row.mode, row.pacing, String(row.samples.length), ms(row.samples.some((s) => !Number.isNaN(s.acceptMs)) ? p(row, 50, 'acceptMs') : NaN), ms(p(row, 50, 'e2eMs')), ms(p(row, 99, 'e2eMs')), ms(Math.max(...row.samples.map((s) => s.e2eMs)))]),
    ),
  ].join('\n');
  const floorRow = rows[0];
  const verdicts: Verdict[] = rows.slice(1).map((row) => ({
    metric: `latency, ${row.mode.startsWith('burst') ? 'burst' : 'one at a time'}, pacing ${row.pacing === 'off' ? 'off' : 'default'}: p50 / p99`,
    waq: `${fmt(p(row, 50, 'e2eMs'), 0)} / ${fmt(p(row, 99, 'e2eMs'), 0)} ms`,
    baseline: floorRow === undefined ? '—' : `${fmt(p(floorRow, 50, 'e2eMs'), 0)} / ${fmt(p(floorRow, 99, 'e2eMs'), 0)} ms (driver alone)`,
    ratio: '—',
    target: '— (reported)',
    met: undefined,
  }));
  return { title: '5. End-to-end latency (API → simulator phone)', body, verdicts };
}
