/**
 * Parent side of client-child.ts: spawn a Node process holding a real whatsapp-web.js Client, wait for
 * its events, send it commands, and kill it (and its Chromium, which survives a kill -9 of Node) for sure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ChildConfig } from './client-child.js';

export interface ChildEvent {
  event: string;
  at: number;
  [key: string]: unknown;
}

const CHILD = fileURLToPath(new URL('./client-child.ts', import.meta.url));

export class ClientProcess {
  readonly events: ChildEvent[] = [];
  readonly stderr: string[] = [];
  readonly spawnedAt = Date.now();
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private nextId = 1;
  private exited: Promise<number | null>;
  browserPid: number | null = null;

  constructor(config: ChildConfig) {
    this.child = spawn(process.execPath, ['--conditions=waq-source', '--import', 'tsx', CHILD, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let ev: ChildEvent;
      try {
        ev = JSON.parse(line) as ChildEvent;
      } catch {
        return;
      }
      if (ev.event === 'browser' && typeof ev.pid === 'number') this.browserPid = ev.pid;
      this.events.push(ev);
      for (const w of this.waiters) w();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolve with the first event (already seen or future) matching, or reject after `timeoutMs`. */
  waitFor(event: string, match: (e: ChildEvent) => boolean = () => true, timeoutMs = 30_000): Promise<ChildEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.find((e) => e.event === event && match(e));
        if (!found) return false;
        cleanup();
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for "${event}"; events: ${this.events.map((e) => e.event).join(',')}; stderr: ${this.stderr.slice(-5).join(' | ')}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = (): void => void check();
      this.waiters.add(waiter);
      check();
    });
  }

  async call<T = unknown>(cmd: Record<string, unknown> & { cmd: string }, timeoutMs = 30_000): Promise<T> {
    const id = this.nextId++;
    this.child.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`);
    const res = await this.waitFor('result', (e) => e.id === id, timeoutMs);
    if (!res.ok) throw new Error(String(res.error));
    return res.value as T;
  }

  /** SIGTERM (the child destroys its client first) and wait for the exit. */
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  /** kill -9 of the Node process only: its Chromium keeps running, as in production. */
  async killNode(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** kill -9 of the Chromium process group (puppeteer starts it detached, as its own group leader). */
  killBrowser(): void {
    if (this.browserPid === null) return;
    try {
      process.kill(-this.browserPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Kill everything this spawned, whatever state it is in. */
  async dispose(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    this.killBrowser();
  }
}
