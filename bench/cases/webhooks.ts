/**
 * 12. Webhook deliveries: throughput, and the latency a delivery adds from the session event to the
 * receiver's handler, through waq's own path (the owner's dispatcher reading the session's stream,
 * a BullMQ job per delivery, a signed POST through the address guard: apps/worker/src/webhook-deliveries.ts)
 * against a plain `fetch` loop posting the same envelopes to the same receiver, in the same run.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';

import { createLogger, createRedis, encodeEvent, sessionKeys, WebhookRegistry, type SessionEvent } from '@waq/shared';

import { WebhookDeliveries } from '../../apps/worker/src/webhook-deliveries.js';
import type { BenchOptions } from '../lib/options.js';
import { benchPrefix, deletePrefix } from '../lib/redis.js';
import { comparisonRow, table, verdict, type CaseReport, type Comparison } from '../lib/report.js';
import { fmt, percentile, sleep, summarize } from '../lib/stats.js';

type CaseBody = Omit<CaseReport, 'id' | 'load' | 'seconds'>;

const SESSION = 'bench';
/** Between two events of a latency run: each is delivered before the next is made. */
const LATENCY_GAP_MS = 20;

export async function webhooksCase(options: BenchOptions, log: (line: string) => void): Promise<CaseBody> {
  const { events: n, latencyEvents } = options.webhooks;
  // The receiver: answers 204 at once and notes when each envelope's handler ran.
  const arrivals = new Map<string, number>();
  let waiter: { ids: Set<string>; done: () => void } | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = performance.now();
      const { id } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string };
      if (!arrivals.has(id)) arrivals.set(id, at);
      res.writeHead(204).end();
      if (waiter !== undefined && [...waiter.ids].every((wanted) => arrivals.has(wanted))) waiter.done();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const arrived = (ids: readonly string[]): Promise<void> =>
    [...ids].every((id) => arrivals.has(id)) ? Promise.resolve() : new Promise((resolve) => (waiter = { ids: new Set(ids), done: () => resolve() }));

  const prefix = benchPrefix('webhooks');
  const redis = createRedis({ url: options.redisUrl, role: 'consumer', name: 'bench-webhooks' });
  const keys = sessionKeys({ prefix, sessionId: SESSION });
  const registry = new WebhookRegistry(redis, prefix);
  const sink = createLogger({ service: 'bench', version: 'bench', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  await registry.create(SESSION, { url, events: ['message.incoming'] });
  const deliveries = new WebhookDeliveries({ redis, prefix, sessionId: SESSION, keys, registry, logger: sink, timeoutMs: 10_000, retryPeriodMs: 86_400_000, maxBodyBytes: 1_048_576, allowPrivate: true, userAgent: 'waq/bench' });
  deliveries.start();
  const event = (i: number): SessionEvent => ({ type: 'message.incoming', at: new Date().toISOString(), waMessageId: `w${i}`, from: '+4915123456789', body: `bench ${i}`, timestamp: 1 });
  const append = async (count: number): Promise<string[]> => {
    const multi = redis.multi();
    for (let i = 0; i < count; i += 1) multi.xadd(keys.events, '*', ...encodeEvent(event(i)));
    return ((await multi.exec()) ?? []).map(([, id]) => String(id));
  };
  let synthetic = 0;
  const post = async (): Promise<string> => {
    const id = `plain-${synthetic++}`;
    const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id, type: 'message.incoming', session: SESSION, seq: synthetic, timestamp: new Date().toISOString(), data: event(synthetic) }) });
    await response.arrayBuffer();
    return id;
  };

  const rates = { waq: [] as number[], baseline: [] as number[] };
  const latencies = { waq: [] as number[], baseline: [] as number[] };
  try {
    // Warm-up (JIT, connections, the subscription's consumer), not counted.
    await arrived(await append(20));
    for (let i = 0; i < 20; i += 1) await post();
    for (let r = 0; r < options.runs; r += 1) {
      for (const side of r % 2 === 0 ? (['waq', 'baseline'] as const) : (['baseline', 'waq'] as const)) {
        const started = performance.now();
        if (side === 'waq') await arrived(await append(n));
        else for (let i = 0; i < n; i += 1) await post();
        rates[side].push(n / ((performance.now() - started) / 1_000));
        for (let i = 0; i < latencyEvents; i += 1) {
          const sent = performance.now();
          const [id] = side === 'waq' ? await append(1) : [await post()];
          await arrived([id!]);
          latencies[side].push(arrivals.get(id!)! - sent);
          await sleep(LATENCY_GAP_MS);
        }
        log(`webhooks run ${r + 1}/${options.runs} ${side}: ${fmt(rates[side].at(-1) ?? 0)} deliveries/s; latency p50 ${fmt(percentile(latencies[side].slice(-latencyEvents), 50), 1)} ms`);
      }
    }
  } finally {
    await deliveries.stop();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    server.closeAllConnections();
    server.close();
  }

  const throughput: Comparison = { metric: 'deliveries, a burst of events', unit: 'deliveries/s', waq: summarize(rates.waq), baseline: summarize(rates.baseline), higherIsBetter: true };
  const p50 = (values: readonly number[]): number => percentile(values, 50);
  const latency: Comparison = {
    metric: 'event → receiver handler, one at a time (p50 of each run)',
    unit: 'ms',
    waq: summarize(chunks(latencies.waq, latencyEvents).map(p50)),
    baseline: summarize(chunks(latencies.baseline, latencyEvents).map(p50)),
    higherIsBetter: false,
    digits: 1,
  };
  const body = [
    `${n} events per throughput run (waq: appended to the session's event stream in one MULTI; baseline: as many envelopes), then`,
    `${latencyEvents} events one at a time, ${LATENCY_GAP_MS} ms apart, each waited for at the receiver. ${options.runs} runs per side, the order alternating.`,
    'The receiver, in this process, answers 204 at once and notes the time its handler ran.',
    '',
    '- **waq**: `WebhookDeliveries` as the session owner runs it: the dispatcher (XREAD BLOCK on the stream, a seq per event by script, one',
    '  BullMQ job per delivery with the delivery id as job id), the subscription\'s consumer (concurrency 1, in order), and each POST',
    '  signed (Standard Webhooks) through the connect-time address check.',
    '- **baseline**: a plain loop `await fetch(url, { method: "POST", body })` with the same envelope, no queue, no signature, no order',
    '  guarantee beyond the loop itself, nothing kept across a crash.',
    '',
    table(['Metric', 'waq', 'Baseline', 'waq / baseline'], [comparisonRow(throughput), comparisonRow(latency)]),
    '',
    `Latency spread: waq p50 ${fmt(p50(latencies.waq), 1)} ms, p95 ${fmt(percentile(latencies.waq, 95), 1)} ms; plain fetch p50 ${fmt(p50(latencies.baseline), 1)} ms, p95 ${fmt(percentile(latencies.baseline, 95), 1)} ms (every sample of every run).`,
    '',
    'The ratio is what the durability costs per delivery: each one is a BullMQ job (added, taken, completed: three Redis round',
    'trips in sequence at concurrency 1) and a signature, where the loop only posts. For scale: one WhatsApp number produces a',
    `few events a second (a send a second at the default pacing, its acks, the incoming messages); ${fmt(throughput.waq.median)} deliveries/s is per webhook.`,
  ].join('\n');
  return {
    title: '12. Webhook deliveries',
    body,
    verdicts: [verdict(throughput, undefined), verdict(latency, undefined)],
  };
}

function chunks(values: readonly number[], size: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}
