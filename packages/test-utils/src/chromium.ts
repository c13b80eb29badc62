/**
 * Counting the Chromium processes that run on a session profile, for tests that must prove "at most
 * one browser" or "no orphan left". Linux-only (reads /proc); elsewhere it finds nothing.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

async function commandLine(pid: string): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
}

/**
 * The browser processes using `profileDir` as `--user-data-dir`: not their renderers/helpers
 * (`--type=…`), and not the `sh` wrapper Debian's /usr/bin/chromium-headless-shell runs the real binary
 * under. One per running client.
 */
export async function browserProcesses(profileDir: string): Promise<number[]> {
  const wanted = `--user-data-dir=${profileDir}`;
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const found: number[] = [];
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
      .map(async (entry) => {
        const args = await commandLine(entry);
        if (!args.includes(wanted)) return;
        const program = path.basename(args[0] ?? '');
        if (args.length > 1 && !args.some((arg) => arg.startsWith('--type=')) && !/^(ba|da)?sh$/.test(program)) found.push(Number(entry));
      }),
  );
  // A child the browser has just forked carries the browser's command line until it execs (no
  // `--type=` yet): it belongs to that browser, not a second one.
  const parents = new Map(await Promise.all(found.map(async (pid) => [pid, Number(/PPid:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1] ?? 0)] as const)));
  return found.filter((pid) => !found.includes(parents.get(pid) ?? 0)).sort((a, b) => a - b);
}

/** SIGKILLs every browser on `profileDir` (test clean-up after a worker was killed with -9). */
export async function killBrowsers(profileDir: string): Promise<number[]> {
  const pids = await browserProcesses(profileDir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return pids;
}
