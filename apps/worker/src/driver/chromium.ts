/**
 * Which Chromium the real driver launches, and how to make sure it is gone.
 *
 * Debian's `chromium-headless-shell` comes first: on the WhatsApp Web page it needs about half the memory
 * of new-headless `chromium` and starts about twice as fast (measured in packages/wa-sim/README.md).
 * The same resolver exists in `@waq/wa-sim`; the worker keeps its own copy because it may import the
 * simulator only in sandbox mode.
 */
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';

/** Tried in order when `CHROMIUM_PATH` is unset. */
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'] as const;

export interface ResolvedChromium {
  readonly executablePath: string;
  /** puppeteer's `headless` for this binary: the headless shell only runs as `'shell'`. */
  readonly headless: true | 'shell';
}

/** `override` (`CHROMIUM_PATH`) when given — it must be executable — else the first installed candidate. */
export function resolveChromium(override?: string, candidates: readonly string[] = CHROMIUM_CANDIDATES): ResolvedChromium {
  for (const executablePath of override ? [override] : candidates) {
    try {
      accessSync(executablePath, constants.X_OK);
      return { executablePath, headless: executablePath.includes('headless-shell') ? 'shell' : true };
    } catch {
      // not there: try the next one
    }
  }
  throw new Error(
    override
      ? `Chromium not found or not executable at ${override} (CHROMIUM_PATH): fix the path or unset it.`
      : `No Chromium found (tried ${candidates.join(', ')}): install one (apt-get install chromium-headless-shell) or set CHROMIUM_PATH.`,
  );
}

/**
 * Whether any process of the group led by `pid` is alive (puppeteer starts Chromium as a group leader).
 * Zombies do not count: a killed renderer is reparented to PID 1, which may reap it seconds later, and
 * holds nothing meanwhile. Linux reads /proc; elsewhere any group member, zombie or not, counts.
 */
export function processGroupAlive(pid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "<pid> (<comm>) <state> <ppid> <pgrp> …": comm may hold spaces and parentheses, so parse after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/**
 * SIGKILL Chromium's whole process group (renderers, zygote, GPU process), falling back to the process
 * itself where groups do not exist. Never throws: a group that is already gone is the goal.
 */
export function killProcessGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Resolves true once no process of the group led by `pid` is left (zombies included: a killed child is
 * only gone once Node has reaped it), false after `timeoutMs`. Polls: there is no event for the death
 * of processes that are not our children.
 */
export async function waitForProcessGroupExit(pid: number, timeoutMs: number, intervalMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processGroupAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return true;
}
