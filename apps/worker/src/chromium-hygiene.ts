/**
 * Crash hygiene for the session's Chromium profile, run by the owner before it launches Chromium.
 *
 * After a kill -9 of the worker, two things can stand in the way of the next launch:
 * - an orphan Chromium still running on the profile (Chromium outlives its parent Node process):
 *   the new client would hang until it is gone, so it is killed (SIGKILL, whole process tree);
 * - stale `SingletonLock` / `SingletonSocket` / `SingletonCookie` symlinks: Chromium refuses the
 *   profile ("The browser is already running") while they point at a live process. `SingletonLock`
 *   points at `<hostname>-<pid>`; the locks are removed only once no process uses the profile.
 *
 * Holding the session lease is what makes killing safe: no other legitimate owner can be using it.
 * Linux-only (reads /proc); elsewhere orphan detection is skipped and only dead-lock cleanup runs.
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';

import type { Logger } from '@waq/shared';

export const SINGLETON_FILES = ['SingletonLock', 'SingletonSocket', 'SingletonCookie'] as const;

export interface HygieneReport {
  readonly killed: number[];
  readonly removedLocks: string[];
}

/** PIDs of running processes whose command line uses `profileDir` as `--user-data-dir`. */
export async function findProfileProcesses(profileDir: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return [];
  }
  const wanted = `--user-data-dir=${profileDir}`;
  const pids: number[] = [];
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
      .map(async (entry) => {
        try {
          const args = (await fs.readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
          if (args.includes(wanted)) pids.push(Number(entry));
        } catch {
          // The process exited while we looked.
        }
      }),
  );
  return pids.sort((a, b) => a - b);
}

/** True while `pid` runs. A zombie (exited, not yet reaped: PID 1 of some containers never reaps) is not alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // No /proc (not Linux): kill(0) said it is there.
  }
}

async function waitForExit(pids: readonly number[], deadline: number): Promise<void> {
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Reads `SingletonLock` (a symlink to `<host>-<pid>`); null when absent or unreadable. */
async function readLock(profileDir: string): Promise<{ host: string; pid: number } | null> {
  try {
    const target = await fs.readlink(path.join(profileDir, 'SingletonLock'));
    const match = /^(.*)-(\d+)$/.exec(target);
    return match ? { host: match[1] as string, pid: Number(match[2]) } : null;
  } catch {
    return null;
  }
}

/** How long the orphans of a profile get to die after SIGKILL, in rounds of kill and wait. */
const KILL_DEADLINE_MS = 10_000;

export async function cleanProfile(profileDir: string, logger: Logger): Promise<HygieneReport> {
  const killed: number[] = [];
  // Rounds, not one pass, until a look finds none: a Chromium that is still starting forks children
  // (zygote, GPU, network, renderer) between our look at /proc and the kill, and such a child holds
  // the profile too. A loaded machine can take seconds to finish off a killed process.
  const deadline = Date.now() + KILL_DEADLINE_MS;
  for (;;) {
    const orphans = (await findProfileProcesses(profileDir)).filter(isAlive);
    if (orphans.length === 0) break;
    if (Date.now() >= deadline) {
      throw new Error(`Chromium processes ${orphans.join(', ')} still use the session profile ${profileDir} ${KILL_DEADLINE_MS / 1_000} s after SIGKILL: stop them by hand`);
    }
    const fresh = orphans.filter((pid) => !killed.includes(pid));
    if (fresh.length > 0) logger.warn({ pids: fresh, profileDir }, 'an orphan Chromium from an earlier run holds the session profile: killing it');
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGKILL');
        if (!killed.includes(pid)) killed.push(pid);
      } catch {
        // Already gone.
      }
    }
    await waitForExit(orphans, deadline);
  }

  // No process uses the profile any more, so whatever the locks point at (a dead pid, a pid reused by
  // an unrelated process after a reboot, another container's hostname) they are stale.
  const lock = await readLock(profileDir);
  const removedLocks: string[] = [];
  for (const name of SINGLETON_FILES) {
    try {
      await fs.unlink(path.join(profileDir, name));
      removedLocks.push(name);
    } catch {
      // Not there.
    }
  }
  if (removedLocks.length > 0) logger.info({ removedLocks, previousOwner: lock }, 'removed stale Chromium profile locks');
  return { killed, removedLocks };
}
