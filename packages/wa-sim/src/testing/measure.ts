/**
 * Measures the figures quoted in packages/wa-sim/README.md, in-process (no child Node, no tsx start-up):
 *   node --conditions=waq-source --import tsx packages/wa-sim/src/testing/measure.ts [chromiumPath...]
 * For each Chromium: initialize → qr, scan → ready, restart (destroy + new Client) → ready, sendMessage
 * resolve time, and the PSS of the whole Chromium process tree (/proc/<pid>/smaps_rollup).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import wwebjs from 'whatsapp-web.js';
import { CHROMIUM_CANDIDATES, resolveChromium } from '../chromium-path.js';
import { startPhoneServer } from '../phone-server.js';
import { prepareSimClientOptions } from '../sim-client-options.js';

function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the ")" of the command: state, ppid, ...
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(entry), ppid);
    } catch {
      // process exited meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

function pssKb(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      total += Number(m?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return total;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function measure(chromiumPath: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'wa-sim-measure-'));
  const server = await startPhoneServer({ ackDelayMs: 50 });
  const options = (): wwebjs.ClientOptions =>
    prepareSimClientOptions({ phoneUrl: server.url, cacheDir: join(dir, 'cache'), dataPath: join(dir, 'auth'), clientId: 'm', chromiumPath });
  try {
    let client = new wwebjs.Client(options());
    const t0 = Date.now();
    const qrAt = new Promise<number>((resolve) => client.once('qr', () => resolve(Date.now())));
    const readyAt = new Promise<number>((resolve) => client.once('ready', () => resolve(Date.now())));
    void client.initialize();
    // Chromium launch is most of "initialize → qr": time it apart (poll, as the Client exposes no event).
    while (!client.pupPage) await new Promise((r) => setTimeout(r, 5));
    const launched = Date.now();
    const qr = await qrAt;
    const scanAt = Date.now();
    await server.phone.scan();
    const ready = await readyAt;

    const sends: number[] = [];
    for (let i = 0; i < 10; i++) {
      const s = performance.now();
      await client.sendMessage('15550100002@c.us', `measure ${i}`);
      sends.push(performance.now() - s);
    }
    // Let the page settle before reading memory (a measurement script, not a test: a fixed pause is fine).
    await new Promise((r) => setTimeout(r, 2000));
    const pids = descendants(client.pupBrowser!.process()!.pid!);
    const pss = pssKb(pids);
    await client.destroy();

    const restarts: number[] = [];
    for (let i = 0; i < 3; i++) {
      client = new wwebjs.Client(options());
      let sawQr = false;
      client.once('qr', () => (sawQr = true));
      const s = Date.now();
      const r = new Promise<number>((resolve) => client.once('ready', () => resolve(Date.now())));
      void client.initialize();
      restarts.push((await r) - s);
      if (sawQr) throw new Error('restart showed a QR');
      await client.destroy();
    }
    return {
      chromium: chromiumPath,
      initializeToQrMs: qr - t0,
      chromiumLaunchMs: launched - t0,
      scanToReadyMs: ready - scanAt,
      restartToReadyMsMedian: median(restarts),
      restartToReadyMs: restarts,
      sendMsMedian: Number(median(sends).toFixed(1)),
      processes: pids.length,
      pssMB: Math.round(pss / 1024),
      loadAvg1m: Number(loadavg()[0]?.toFixed(2)),
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const paths = process.argv.slice(2);
const targets = paths.length ? paths : CHROMIUM_CANDIDATES.filter((p) => { try { resolveChromium(p); return true; } catch { return false; } });
for (const path of targets) console.log(JSON.stringify(await measure(path)));
