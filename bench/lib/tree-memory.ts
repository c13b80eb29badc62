/**
 * One memory sample of a measured process tree (a Node process and the Chromium below it), shared by
 * the one-session memory case (cases/chromium.ts) and the many-sessions case (cases/pool.ts), and the
 * compiled programs both measure.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { PRODUCTION_BUILD } from '@waq/test-utils';

import { exeOf, memoryOf, outsidersRunning, processTree } from './processes.js';
import { sleep } from './stats.js';

const execFileAsync = promisify(execFile);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The memory cases run compiled JavaScript with plain `node`, as the Docker image runs the worker. */
export const WORKER_MAIN = path.join(ROOT, 'apps/worker/dist/main.js');
export const PLAIN_CLIENT = path.join(ROOT, 'bench/dist/wwebjs-client.js');

/**
 * Compiles the production build and the plain client (`tsc -b <PRODUCTION_BUILD> bench`, incremental:
 * a no-op when up to date). Both sides of the memory cases run as JavaScript: under tsx a Node process
 * carries its loader thread and the transpiled sources' maps (about 40 MB more for the worker here),
 * which no deployment has.
 */
export async function compileMeasuredPrograms(): Promise<void> {
  const projects = [...PRODUCTION_BUILD, 'bench'].map((project) => path.join(ROOT, project));
  await execFileAsync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', ...projects], { cwd: ROOT });
}

/** A number the simulator treats as registered: the recipient of the probe messages. */
export const PROBE_TO = '15550100002';
/** Messages sent (per session) before reading memory, so the page has done real work (as measure.ts does). */
export const PROBE_SENDS = 10;
/** Pause between the last send and the memory reading: lets acks, GC and lazy allocations settle. */
export const SETTLE_MS = 2_000;

export interface MemorySample {
  readonly nodePss: number;
  readonly nodeUss: number;
  readonly browserPss: number;
  readonly browserUss: number;
  readonly browserProcesses: number;
  /** An esbuild service, if any (tooling, not the measured program): excluded from every figure. */
  readonly toolingPss: number;
  /** Processes outside the tree running the same Chromium binary when the sample was taken (see outsidersRunning). */
  readonly outsiders: number;
}

/** How long to wait for other runs' Chromium (same binary) to go before sampling anyway, flagged. */
export const OUTSIDER_WAIT_MS = 30_000;

/** PSS and USS of `root` (the Node process) and of every process below it (Chromium), in bytes. */
export async function sampleTree(root: number): Promise<MemorySample & { pids: number[] }> {
  const chromiumExes = (pids: readonly number[]): Set<string> =>
    new Set(pids.filter((pid) => pid !== root).map(exeOf).filter((exe): exe is string => exe !== undefined && /chrom/.test(exe)));
  // Another Chromium of the same binary (another test run on this machine) would take its share of the
  // binary's pages and lower this tree's PSS: wait for it to go, within reason, and record it if not.
  const deadline = Date.now() + OUTSIDER_WAIT_MS;
  let pids = processTree(root);
  let outsiders = outsidersRunning(chromiumExes(pids), pids);
  while (outsiders > 0 && Date.now() < deadline) {
    await sleep(500);
    pids = processTree(root);
    outsiders = outsidersRunning(chromiumExes(pids), pids);
  }
  let nodePss = 0;
  let nodeUss = 0;
  let browserPss = 0;
  let browserUss = 0;
  let toolingPss = 0;
  let browserProcesses = 0;
  for (const pid of pids) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue; // exited
    }
    const { pss, uss } = memoryOf(pid);
    if (pid === root) {
      nodePss += pss;
      nodeUss += uss;
    } else if (comm.includes('esbuild')) toolingPss += pss;
    else {
      browserPss += pss;
      browserUss += uss;
      browserProcesses += 1;
    }
  }
  return { nodePss, nodeUss, browserPss, browserUss, browserProcesses, toolingPss, outsiders, pids };
}

/** Kills whatever is left of a measured tree (Chromium survives a child Node that did not close it). */
export function killLeftovers(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
