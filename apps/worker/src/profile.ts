/**
 * The session's Chromium profile on disk (whatsapp-web.js LocalAuth: `<SESSION_DIR>/session-<id>/`).
 *
 * Whether a saved session exists cannot be read reliably from Chromium's files (LocalAuth creates the
 * directory before the first QR is even shown), so waq drops a marker file into the profile when the
 * session first becomes READY, and auto-initialises on start only when it is there.
 *
 * Removal (logout) retries on EBUSY/EPERM/ENOTEMPTY, which a lingering Chromium or Windows file locks
 * cause; if the directory still cannot be removed it is renamed aside (so the next `connect` starts
 * from a clean profile at once) and deleted on a later start.
 *
 * A profile WhatsApp keeps rejecting (auth_failure) is set aside instead (`setAside`): renamed to
 * `session-<id>.rejected-<time>` and kept, so an operator can look at it or restore it by hand.
 */
import { promises as nodeFs } from 'node:fs';
import path from 'node:path';

import { abortableDelay } from './lease.js';
import type { Logger } from '@waq/shared';

/** The file-system calls removal needs: injectable so tests can make them fail like Windows does. */
export interface ProfileFs {
  rm(target: string, options: { recursive: true; force: true }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  readdir(target: string): Promise<string[]>;
  writeFile(target: string, data: string): Promise<void>;
  access(target: string): Promise<void>;
  mkdir(target: string, options: { recursive: true }): Promise<unknown>;
}

const RETRYABLE = new Set(['EBUSY', 'EPERM', 'ENOTEMPTY', 'EACCES']);
/** The file that says a profile holds a paired session (written at the first READY). */
export const SAVED_SESSION_MARKER = '.waq-session';
const MARKER = SAVED_SESSION_MARKER;
const TRASH = '.trash-';

export interface RemoveOptions {
  /** @defaultValue 5 */
  readonly attempts?: number;
  /** Delay before the second attempt; doubles after. @defaultValue 100 */
  readonly delayMs?: number;
}

export class SessionProfile {
  readonly dir: string;

  constructor(
    sessionDir: string,
    readonly sessionId: string,
    private readonly logger: Logger,
    private readonly fs: ProfileFs = nodeFs,
  ) {
    this.dir = path.resolve(sessionDir, `session-${sessionId}`);
  }

  /** A saved (paired) session exists. */
  async hasSavedSession(): Promise<boolean> {
    try {
      await this.fs.access(path.join(this.dir, MARKER));
      return true;
    } catch {
      return false;
    }
  }

  async markSaved(): Promise<void> {
    await this.fs.mkdir(this.dir, { recursive: true });
    await this.fs.writeFile(path.join(this.dir, MARKER), `${new Date().toISOString()}\n`);
  }

  /**
   * Removes the profile. Returns `removed`, or `renamed` when it had to be moved aside (it is deleted
   * by a later `sweepTrash()`).
   */
  async remove({ attempts = 5, delayMs = 100 }: RemoveOptions = {}): Promise<'removed' | 'renamed'> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        await this.fs.rm(this.dir, { recursive: true, force: true });
        return 'removed';
      } catch (error) {
        lastError = error;
        if (!RETRYABLE.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
        this.logger.warn({ code: (error as NodeJS.ErrnoException).code, attempt, attempts }, 'session profile is busy; retrying removal');
        if (attempt < attempts) await abortableDelay(delayMs * 2 ** (attempt - 1));
      }
    }
    const aside = `${this.dir}${TRASH}${Date.now()}`;
    try {
      await this.fs.rename(this.dir, aside);
    } catch (error) {
      throw new Error(`could not remove or rename the session profile ${this.dir}: stop any Chromium using it and delete it by hand`, { cause: error ?? lastError });
    }
    this.logger.warn({ aside }, 'session profile could not be removed; renamed aside, to be deleted on a later start');
    return 'renamed';
  }

  /** Moves the profile aside and keeps it (see the header); returns where it went, or null when there was none. */
  async setAside(): Promise<string | null> {
    const aside = `${this.dir}.rejected-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await this.fs.rename(this.dir, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    this.logger.warn({ aside }, 'session profile set aside (kept, not deleted)');
    return aside;
  }

  /** Deletes profiles renamed aside by earlier removals; failures are left for next time. */
  async sweepTrash(): Promise<void> {
    const parent = path.dirname(this.dir);
    const prefix = `${path.basename(this.dir)}${TRASH}`;
    let entries: string[];
    try {
      entries = await this.fs.readdir(parent);
    } catch {
      return;
    }
    for (const entry of entries.filter((e) => e.startsWith(prefix))) {
      await this.fs.rm(path.join(parent, entry), { recursive: true, force: true }).catch((error: unknown) => {
        this.logger.warn({ err: error, entry }, 'could not delete an old session profile yet');
      });
    }
  }
}
