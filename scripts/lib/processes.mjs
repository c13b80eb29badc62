// @ts-check
/**
 * Child processes that must never outlive the script.
 *
 * Services are spawned `detached` (their own process group and session), so the terminal's Ctrl+C
 * reaches only this script, which then stops them in order. Killing a process group is not enough to
 * clean up: puppeteer launches Chromium `detached` too, so Chromium is a grandchild of the worker in a
 * group of its own, and once the worker dies Chromium is re-parented to init. So the supervisor samples
 * the process tree under its children every second (from /proc, Linux) and remembers every descendant
 * it has seen (pid + start time, so a recycled pid is never hit); the forced path and the final sweep
 * kill whatever of those is still alive.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

import { prefixLines } from './log.mjs';

/** @typedef {{ code: number | null, signal: NodeJS.Signals | null, error?: Error }} ExitInfo */
/** @typedef {{ ppid: number, start: string, comm: string, zombie: boolean }} ProcInfo */

/**
 * Snapshot of /proc: pid → parent, start time, command name. Empty where /proc does not exist.
 * @returns {Map<number, ProcInfo>}
 */
export function readProcessTable() {
  /** @type {Map<number, ProcInfo>} */
  const table = new Map();
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return table;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp session … starttime(22) …"; comm may contain spaces and parentheses.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    const ppid = Number(fields[1]);
    const start = fields[19];
    if (Number.isNaN(ppid) || start === undefined) continue;
    table.set(Number(entry), { ppid, start, comm: stat.slice(open + 1, close), zombie: fields[0] === 'Z' });
  }
  return table;
}

/**
 * Every process below `roots` (not the roots themselves).
 * @param {Iterable<number>} roots
 * @param {Map<number, ProcInfo>} table
 * @returns {number[]}
 */
export function descendantsOf(roots, table) {
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const [pid, info] of table) {
    const siblings = children.get(info.ppid);
    if (siblings) siblings.push(pid);
    else children.set(info.ppid, [pid]);
  }
  const found = [];
  const queue = [...roots];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * @param {number} pid
 * @param {NodeJS.Signals} signal
 * @returns {boolean} whether the signal was delivered
 */
function sendSignal(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // ESRCH: already gone
  }
}

/**
 * One supervised child process.
 */
export class Service {
  /** @type {ExitInfo | undefined} set once it has exited */
  exitInfo = undefined;

  /**
   * @param {string} name
   * @param {import('node:child_process').ChildProcess} child
   * @param {boolean} detached
   */
  constructor(name, child, detached) {
    this.name = name;
    this.child = child;
    this.detached = detached;
    /** @type {number} */
    this.pid = child.pid ?? -1;
    /** @type {Promise<ExitInfo>} resolves when the process has exited (or failed to start) */
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitInfo ??= { code, signal };
        resolve(this.exitInfo);
      });
      child.on('error', (error) => {
        // ENOENT/EACCES at spawn: no 'exit' follows.
        if (child.pid === undefined) {
          this.exitInfo ??= { code: null, signal: null, error };
          resolve(this.exitInfo);
        }
      });
    });
  }

  get running() {
    return this.exitInfo === undefined;
  }

  /**
   * Signals the process itself (not its descendants): the graceful path, where it stops its own children.
   * @param {NodeJS.Signals} signal
   */
  signal(signal) {
    if (this.running && this.pid > 0) sendSignal(this.pid, signal);
  }

  /** How it ended, for messages. */
  describeExit() {
    const info = this.exitInfo;
    if (!info) return 'is still running';
    if (info.error) return `could not be started (${info.error.message})`;
    return info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
  }
}

/**
 * @typedef {object} SpawnOptions
 * @property {NodeJS.ProcessEnv} [env]
 * @property {string} [cwd]
 * @property {'prefix' | 'inherit'} [output]  `prefix`: tagged lines (services); `inherit`: as is (test steps)
 * @property {boolean} [detached]  own process group and session (default true, see the header)
 * @property {(line: string) => void} [onLine]  every output line (with `prefix`)
 */

export class Supervisor {
  /** @type {Set<Service>} */
  services = new Set();
  /** Every descendant ever seen: pid → { start, comm }. @type {Map<number, ProcInfo>} */
  seen = new Map();
  /** @type {NodeJS.Timeout | undefined} */
  timer = undefined;

  /**
   * @param {string} name
   * @param {string} command
   * @param {string[]} args
   * @param {SpawnOptions} [options]
   */
  spawn(name, command, args, options = {}) {
    const output = options.output ?? 'prefix';
    const detached = options.detached ?? true;
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached,
      stdio: output === 'inherit' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    });
    if (output === 'prefix' && child.stdout && child.stderr) {
      prefixLines(child.stdout, name, process.stdout, options.onLine);
      prefixLines(child.stderr, name, process.stderr, options.onLine);
    }
    const service = new Service(name, child, detached);
    this.services.add(service);
    this.timer ??= setInterval(() => this.sample(), 1_000).unref();
    this.sample();
    return service;
  }

  /** Records the current descendants of every service. */
  sample() {
    const table = readProcessTable();
    const roots = [...this.services].filter((s) => s.running && s.pid > 0).map((s) => s.pid);
    for (const pid of [...roots, ...descendantsOf(roots, table)]) {
      const info = table.get(pid);
      if (info) this.seen.set(pid, info);
    }
  }

  /**
   * Processes seen under the services that are still alive (same pid and start time), roots included.
   * @returns {Array<{ pid: number, comm: string }>}
   */
  survivors() {
    this.sample();
    const table = readProcessTable();
    const alive = [];
    for (const [pid, info] of this.seen) {
      const now = table.get(pid);
      // A zombie has exited already (it only waits to be reaped, and PID 1 of a container may never do it).
      if (now && now.start === info.start && !now.zombie) alive.push({ pid, comm: info.comm });
      else this.seen.delete(pid);
    }
    return alive;
  }

  /**
   * SIGKILLs every service and everything seen below them (and their process groups).
   * @returns {Array<{ pid: number, comm: string }>} what was killed
   */
  killAll() {
    const victims = this.survivors();
    for (const service of this.services) {
      if (service.detached && service.pid > 0) sendSignal(-service.pid, 'SIGKILL');
    }
    for (const { pid } of victims) sendSignal(pid, 'SIGKILL');
    return victims;
  }

  /**
   * After the services have exited: kills what they left behind (an orphaned Chromium, say), after
   * giving it `graceMs` to exit by itself (a helper like esbuild's service exits just after its parent).
   * @param {number} [graceMs]
   * @returns {Promise<Array<{ pid: number, comm: string }>>} what was killed
   */
  async sweep(graceMs = 1_500) {
    const deadline = Date.now() + graceMs;
    let leftovers = this.survivors();
    while (leftovers.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      leftovers = this.survivors();
    }
    for (const { pid } of leftovers) sendSignal(pid, 'SIGKILL');
    return leftovers;
  }

  stopSampling() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * Waits for a service to exit; after `timeoutMs`, kills it and everything seen under it.
 * @param {Supervisor} supervisor
 * @param {Service} service
 * @param {number} timeoutMs
 * @returns {Promise<boolean>} true when it exited by itself in time
 */
export async function waitOrKill(supervisor, service, timeoutMs) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const result = await Promise.race([service.exited, timedOut]);
  clearTimeout(timer);
  if (result !== 'timeout') return true;
  // Kill the whole tree under this one service only.
  supervisor.sample();
  const table = readProcessTable();
  const pids = [service.pid, ...descendantsOf([service.pid], table)];
  if (service.detached) sendSignal(-service.pid, 'SIGKILL');
  for (const pid of pids) sendSignal(pid, 'SIGKILL');
  await service.exited;
  return false;
}
