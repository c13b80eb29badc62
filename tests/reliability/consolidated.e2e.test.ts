/**
 * Reliability scenario 13 (issue 15): the consolidated Chromium launch (CHROMIUM_CONSOLIDATED=true).
 * Its GPU and network services run inside the browser process, so a crash of either one ends the
 * browser instead of being restarted by Chromium: what that costs is what scenario 2 measures, a kill -9
 * of the browser mid-stream. Checked here: the launch really has no GPU or network-service process, and
 * after the kills every message arrives exactly once, in order, without a new QR.
 */
import { readdir, readFile } from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { report, scale, seconds } from './scale.js';
import { Stack, texts } from './stack.js';

const TO = '+49 151 30000013';
let stack: Stack;

beforeAll(async () => {
  stack = await Stack.create({ sessionId: 'lean-13', workerEnv: { CHROMIUM_CONSOLIDATED: 'true' } });
  await stack.startWorker('worker-13');
  await stack.waitForStatus('STOPPED');
  await stack.pair();
});

afterAll(async () => {
  await stack?.close();
});

async function commandLine(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
}

/** Every process under `root` (its children, theirs, …), with its command line. */
async function processTree(root: number): Promise<{ pid: number; args: string[] }[]> {
  const entries = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  const parents = new Map<number, number>();
  await Promise.all(entries.map(async (entry) => {
    const ppid = /PPid:\s+(\d+)/.exec(await readFile(`/proc/${entry}/status`, 'utf8').catch(() => ''))?.[1];
    if (ppid !== undefined) parents.set(Number(entry), Number(ppid));
  }));
  const inTree = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === root) return true;
    return false;
  };
  const pids = [root, ...[...parents.keys()].filter(inTree)];
  return Promise.all(pids.map(async (pid) => ({ pid, args: await commandLine(pid) })));
}

describe('the consolidated Chromium launch on the real stack', () => {
  it('13. CHROMIUM_CONSOLIDATED: no GPU or network-service process; kill -9 of the browser mid-stream loses and doubles nothing', async () => {
    const [browser] = await stack.browsers();
    expect(browser).toBeDefined();
    const tree = await processTree(browser as number);
    expect(tree[0]?.args).toEqual(expect.arrayContaining(['--no-zygote', '--in-process-gpu']));
    expect(tree[0]?.args.find((arg) => arg.startsWith('--enable-features='))).toContain('NetworkServiceInProcess2');
    const types = tree.map(({ args }) => args.find((arg) => arg.startsWith('--type='))?.slice('--type='.length) ?? 'browser');
    expect(types).not.toContain('gpu-process');
    expect(tree.filter(({ args }) => args.some((arg) => arg.includes('network.mojom.NetworkService')))).toEqual([]);
    expect(types).not.toContain('zygote');

    const qrBefore = await stack.qrEvents();
    const count = scale(60, 200);
    const kills = scale(1, 3);
    const bodies = texts('s13', count);
    const { ids, recoveries } = await stack.killBrowserMidStream(TO, bodies, kills);
    await stack.waitAllCompleted(ids, 180_000);
    const tally = stack.tally(TO, bodies);
    if (tally.duplicated > 0) console.error(stack.explainDuplicates(TO, bodies, ids));
    report({
      scenario: '13. consolidated launch, kill -9 Chromium mid-stream',
      load: `${count} sends`,
      faults: `${kills} × kill -9 Chromium (CHROMIUM_CONSOLIDATED=true, ${tree.length} processes per browser)`,
      lost: tally.lost,
      duplicated: tally.duplicated,
      recovery: `kill → READY ${recoveries.map(seconds).join(', ')}`,
      notes: `order kept: ${tally.inOrder}${tally.firstOutOfOrder ? ` (${tally.firstOutOfOrder})` : ''}`,
    });
    expect(tally).toMatchObject({ lost: 0, duplicated: 0, inOrder: true });
    expect(await stack.qrEvents()).toBe(qrBefore);
    expect(await stack.browsers()).toHaveLength(1);
  }, 900_000);
});
