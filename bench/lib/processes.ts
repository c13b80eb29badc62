/**
 * Memory of a process tree as PSS (proportional set size): RSS counts a page shared by Chromium's
 * processes once per process, PSS splits it between them, so the sum over a tree is what the tree
 * really costs. Same approach as packages/wa-sim/src/testing/measure.ts (Linux /proc only).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** `root` and all its descendants, found through the ppid field of /proc/<pid>/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "<pid> (<comm>) <state> <ppid> …": comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited while we looked
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** Sum of `Pss:` over `pids` from /proc/<pid>/smaps_rollup, in bytes; exited processes count 0. */
export function pssBytes(pids: readonly number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      kb += Number(match?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return kb * 1024;
}

export interface TreeMemory {
  /** Bytes of PSS over the tree. */
  readonly pss: number;
  readonly processes: number;
}

export function treeMemory(root: number): TreeMemory {
  const pids = processTree(root);
  return { pss: pssBytes(pids), processes: pids.length };
}

export const MB = 1024 * 1024;

/** `Pss` and USS (`Private_Clean` + `Private_Dirty`) of one process, in bytes; zeros once it exited. */
export function memoryOf(pid: number): { pss: number; uss: number } {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) * 1024;
    return { pss: field('Pss'), uss: field('Private_Clean') + field('Private_Dirty') };
  } catch {
    return { pss: 0, uss: 0 };
  }
}

/** The executable of `pid` (readlink /proc/<pid>/exe), or undefined when unreadable or gone. */
export function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/**
 * Processes outside `tree` running one of `executables`. They share the binary's pages with the tree, so
 * while they run the tree's PSS is lower than it would be alone (other test runs on a shared machine).
 */
export function outsidersRunning(executables: ReadonlySet<string>, tree: readonly number[]): number {
  const inTree = new Set(tree);
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || inTree.has(Number(entry))) continue;
    const exe = exeOf(Number(entry));
    if (exe !== undefined && executables.has(exe)) count += 1;
  }
  return count;
}

/** CPU time (user + system) `pid` has used so far, in ms, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuTimeMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "(comm) ": state is field 0, utime field 11, stime field 12.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
