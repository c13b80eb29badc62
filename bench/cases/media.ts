/**
 * 13. Sending an image by URL (issue 18): waq (the production worker and the API, `POST …/messages` with
 * `media: { url }`) against a plain whatsapp-web.js script doing what its users do
 * (`MessageMedia.fromUrl` + `sendMessage`, bench/wwebjs-client.ts), in the same run, on the same
 * simulator, fetching the same files from a server in this process.
 *
 * Time: from the request (waq) or the command (script) to the simulated phone recording the image.
 * Memory: peak RSS growth of each Node process (VmHWM after the size's sends against VmRSS before them;
 * the sizes go up, so each peak is that size's): waq's worker and API, and the script's process.
 * Chromium's own copy is not counted on either side.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

import { BENCH_API_KEY, spawnTsx } from '../lib/child.js';
import type { BenchOptions } from '../lib/options.js';
import { MB } from '../lib/processes.js';
import { table, type Verdict } from '../lib/report.js';
import { fmt, fmtSummary, pollUntil, summarize } from '../lib/stats.js';
import { PROBE_TO } from '../lib/tree-memory.js';
import type { CaseBody, PoolLab, PoolTools } from './pool.js';

const API_SERVER = fileURLToPath(new URL('../api-server.ts', import.meta.url));
/** Longest one send may take (a 16 MB file through the page on 2 loaded cores). */
const SEND_TIMEOUT_MS = 120_000;

/** Resident and peak resident memory of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** A JPEG-signed file of `mb` MiB (the simulator does not decode images; the type comes from the signature). */
const imageOf = (mb: number): Buffer => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(mb * MB - 4)]);

interface SizeRow {
  readonly mb: number;
  readonly waqMs: readonly number[];
  readonly baseMs: readonly number[];
  readonly worker: number;
  readonly api: number;
  readonly base: number;
}

export async function mediaCase(lab: PoolLab, { spawnWorker, spawnPlainClients, readyTimes }: PoolTools, options: BenchOptions, log: (line: string) => void): Promise<CaseBody> {
  const { sizesMB, runs } = options.media;
  const files = new Map(sizesMB.map((mb) => [mb, imageOf(mb)]));
  const server = createServer((req, res) => {
    const file = files.get(Number(/^\/(\d+)\.jpg$/.exec(req.url ?? '')?.[1]));
    if (file === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': file.length }).end(file);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const session = lab.ids[0]!;
  const plainAccount = lab.baseIds[0]!;
  const worker = await spawnWorker(lab, [session]);
  const api = await spawnTsx(API_SERVER, ['waq', lab.redisUrl, lab.prefix]);
  const plain = await spawnPlainClients(lab, 1);
  const rows: SizeRow[] = [];
  let sequence = 0;
  try {
    await readyTimes(lab, [session], worker.spawnedAt, SEND_TIMEOUT_MS);
    const apiUrl = String(api.hello['url']);
    const recorded = (account: string, caption: string): Promise<void> =>
      pollUntil(() => lab.phone.account(account).messages(PROBE_TO).some((m) => m.body === caption), { timeoutMs: SEND_TIMEOUT_MS, intervalMs: 5, what: `the phone to record ${caption}` });
    for (const mb of sizesMB) {
      const url = `${base}/${mb}.jpg`;
      const before = { worker: memory(worker.child.pid), api: memory(api.pid), base: memory(plain.child.pid) };
      const waqMs: number[] = [];
      const baseMs: number[] = [];
      for (let run = 0; run < runs; run += 1) {
        const waqCaption = `media ${mb} MB waq ${++sequence}`;
        const startedAt = Date.now();
        const response = await fetch(`${apiUrl}/v1/sessions/${session}/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_API_KEY}` },
          body: JSON.stringify({ to: `+${PROBE_TO}`, text: waqCaption, media: { url } }),
        });
        if (response.status !== 202) throw new Error(`POST …/messages answered ${response.status}: ${await response.text()}`);
        await recorded(session, waqCaption);
        waqMs.push(Date.now() - startedAt);

        const baseCaption = `media ${mb} MB plain ${++sequence}`;
        const sentAt = Date.now();
        plain.child.send(`sendUrl ${url} ${baseCaption}`);
        await recorded(plainAccount, baseCaption);
        baseMs.push(Date.now() - sentAt);
        log(`media: ${mb} MB run ${run + 1}/${runs}: waq ${waqMs.at(-1)} ms, plain ${baseMs.at(-1)} ms`);
      }
      rows.push({
        mb,
        waqMs,
        baseMs,
        worker: memory(worker.child.pid).peak - before.worker.rss,
        api: memory(api.pid).peak - before.api.rss,
        base: memory(plain.child.pid).peak - before.base.rss,
      });
    }
  } finally {
    await Promise.allSettled([worker.stop(), api.stop(), plain.stop()]);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  const mbOf = (bytes: number): string => `${fmt(bytes / MB, 0)} MB`;
  const tableRows = rows.flatMap((row) => {
    const waq = summarize(row.waqMs);
    const plainTime = summarize(row.baseMs);
    return [
      [`${row.mb} MB: time to the phone`, `${fmtSummary(waq, 0)} ms`, `${fmtSummary(plainTime, 0)} ms`, `${fmt(waq.median / plainTime.median, 2)}×`],
      [`${row.mb} MB: peak RSS growth, Node`, `worker ${mbOf(row.worker)} + API ${mbOf(row.api)}`, mbOf(row.base), `${fmt((row.worker + row.api) / Math.max(row.base, 1), 2)}×`],
    ];
  });
  const body = [
    `One image sent by URL, ${runs} time(s) per side and size, alternating: through waq (the production worker, pacing off, and the API`,
    'answering `POST /v1/sessions/:id/messages` with `media: { url }`: fetched, type read from the bytes, stored in Redis, then read back',
    'and sent by the worker) and through a plain whatsapp-web.js script (`MessageMedia.fromUrl` + `sendMessage`, one Client in its own',
    'process). Both fetch the same file from a server in the bench process and send to the same kind of simulated account; time runs until',
    'the simulated phone has the image. Memory is each Node process\'s peak RSS growth over the size\'s sends (Chromium not counted).',
    '',
    table(['Metric', 'waq', 'plain whatsapp-web.js', 'waq / plain'], tableRows),
    '',
    'What waq adds is the store: the API streams the file into Redis, the worker reads it back and sends it as the script does (both go',
    'through `MessageMedia` and the page, which is where the time and the worker\'s memory go).',
  ].join('\n');
  const verdicts: Verdict[] = rows.map((row) => {
    const waq = summarize(row.waqMs).median;
    const plainTime = summarize(row.baseMs).median;
    return { metric: `send a ${row.mb} MB image by URL, to the phone`, waq: `${fmt(waq, 0)} ms`, baseline: `${fmt(plainTime, 0)} ms (MessageMedia.fromUrl + sendMessage)`, ratio: `${fmt(waq / plainTime, 2)}×`, target: '— (reported)', met: undefined };
  });
  return { title: '13. Sending an image by URL: waq against a plain whatsapp-web.js script', body, verdicts };
}
