/**
 * The simulated account on disk (`startPhoneServer({ stateDir })`, `cli.ts --state-dir`): identity (me,
 * pushname, lid), linked devices and the message history, so a restarted phone server recognises a device
 * linked before and welcomes it (READY, no QR) with its history, as WhatsApp remembers linked devices.
 * Not kept: QR refs on screen, page connections and the offline switch (a restarted phone is online).
 *
 * Layout: `<stateDir>/account.json` (the default account: the {@link AccountState}, version 1),
 * `<stateDir>/accounts/<id>/account.json` (every other account, same format) and `<stateDir>/lock` (pid of
 * the phone server using the directory: two servers on one directory would overwrite each other's writes;
 * the accounts under it take no lock of their own). One AccountFile per account (phone-accounts.ts).
 *
 * Writes are coalesced — the first change arms one write `writeDelayMs` later, further changes ride along
 * (a burst of messages costs one write, not one per message) — and crash-safe: a temp file in the same
 * directory, fsync, rename over the old file, fsync the directory. `close()` writes what is pending.
 * A kill -9 loses at most the last `writeDelayMs` of changes, never the file.
 *
 * A file that cannot be read or parsed is moved aside (`account.json.broken-<time>`) with a log line that
 * says so, and the phone starts a new account: a broken sandbox must never keep the gateway from starting.
 * A failing write is logged and retried with the next change or at close; it never throws.
 */
import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

import { wireMediaSchema } from './protocol.js';

const deviceSchema = z.object({ id: z.string().min(1), linkedAt: z.number() });
const sentSchema = z.object({
  id: z.string().min(1),
  serialized: z.string(),
  to: z.string(),
  body: z.string(),
  t: z.number(),
  receivedAt: z.number(),
  order: z.number().int(),
  ack: z.number().int(),
  // Media metadata only: the bytes are not kept in the account file.
  media: wireMediaSchema.extend({ sha256: z.string() }).optional(),
});
const incomingSchema = z.object({ id: z.string().min(1), from: z.string(), body: z.string(), t: z.number(), delivered: z.boolean(), media: wireMediaSchema.optional() });

/** What a restarted phone server needs to continue the same account. */
export const accountStateSchema = z.object({
  /** Format version; a file of another version is treated as unreadable. */
  version: z.literal(1),
  me: z.string().min(1),
  pushname: z.string(),
  /** The account's LID number (without `@lid`), given to pages on pairing and welcome. */
  lid: z.string().min(1),
  /** The last arrival order handed out to a sent message. */
  order: z.number().int().min(0),
  devices: z.array(deviceSchema),
  sent: z.array(sentSchema),
  incoming: z.array(incomingSchema),
});
export type AccountState = z.infer<typeof accountStateSchema>;

export type LogLevel = 'info' | 'warn' | 'error';
/** Where the phone server's own log lines go. */
export type PhoneLog = (level: LogLevel, message: string) => void;

/** One line on stderr per message: the CLI's stdout carries only its ready line. */
export const stderrLog: PhoneLog = (level, message) => {
  process.stderr.write(`wa-sim ${level}: ${message}\n`);
};

/** Thrown by {@link AccountFile.open} when another live phone server holds the state directory. */
export class StateDirInUseError extends Error {
  override readonly name = 'StateDirInUseError';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `The simulator state directory ${dir} is in use by another phone server (pid ${pid}): stop that one, or give this one its own --state-dir ` +
        `(if no phone server runs, remove ${path.join(dir, LOCK_NAME)}).`,
    );
  }
}

export interface AccountFileOptions {
  /** Directory of the account; created when missing. */
  dir: string;
  /** Delay between the first unsaved change and the write that saves it (and every change since). @defaultValue 200 */
  writeDelayMs?: number;
  /** @defaultValue {@link stderrLog} */
  log?: PhoneLog;
  /** Take `<dir>/lock` (false: a directory under one that is locked already). @defaultValue true */
  lock?: boolean;
}

const FILE_NAME = 'account.json';
const LOCK_NAME = 'lock';

export class AccountFile {
  readonly file: string;
  private readonly lockFile: string;
  private readonly writeDelayMs: number;
  private readonly log: PhoneLog;
  private source: (() => AccountState) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private failing = false;
  private closed = false;
  /** The directory could not be created: nothing is read or written. */
  private inMemory = false;
  /** Made by {@link AccountFile.create}: the directory is created with the first write. */
  private dirPending = false;
  private locked = false;
  /** The write in progress (writes never overlap: the newest state is always written last). */
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    options: AccountFileOptions,
  ) {
    this.file = path.join(dir, FILE_NAME);
    this.lockFile = path.join(dir, LOCK_NAME);
    this.writeDelayMs = options.writeDelayMs ?? 200;
    this.log = options.log ?? stderrLog;
  }

  /**
   * Takes the state directory (creating it) and reads the saved account, if any.
   * @throws StateDirInUseError when another live process holds it; any other problem is logged, and the
   *   account starts fresh (or, when the directory cannot be created, lives in memory for this run).
   */
  static async open(options: AccountFileOptions): Promise<{ store: AccountFile; saved: AccountState | undefined }> {
    const dir = path.resolve(options.dir);
    const store = new AccountFile(dir, options);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      store.log('error', `cannot create the state directory ${dir} (${describe(err)}): this run keeps the account in memory only.`);
      store.inMemory = true;
      return { store, saved: undefined };
    }
    if (options.lock ?? true) store.lock();
    return { store, saved: await store.read() };
  }

  /**
   * The file of an account that has none yet (one created while the server runs): nothing is read, no
   * lock is taken, and the directory is created with the first write. Synchronous, so an account can be
   * created inside a request without a wait.
   */
  static create(options: AccountFileOptions): AccountFile {
    const store = new AccountFile(path.resolve(options.dir), options);
    store.dirPending = true;
    return store;
  }

  /** False when the state directory could not be created: this store writes nothing. */
  get persistent(): boolean {
    return !this.inMemory;
  }

  /** Where the state comes from when it is saved (the phone's `account()`). */
  bind(source: () => AccountState): void {
    this.source = source;
  }

  /** Something changed: save it soon, together with whatever else changes meanwhile. */
  changed(): void {
    this.dirty = true;
    if (this.timer !== undefined || this.closed || this.inMemory) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.writeDelayMs);
  }

  /** Writes pending changes now; resolves once they are on disk (or the write failed and was logged). */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(() => this.writePending());
    return this.writing;
  }

  /** Writes what is pending, then releases the directory; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return this.writing;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      if (this.locked) this.unlock();
    }
  }

  // ------------------------------------------------------------------ reading

  private async read(): Promise<AccountState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.log('info', `no saved account in ${this.file}: a new account (it is saved there from now on).`);
        return undefined;
      }
      return this.broken(`cannot be read (${describe(err)})`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      return this.broken(`is not valid JSON (${describe(err)})`);
    }
    const parsed = accountStateSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.broken(`is not a version 1 account (${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'})`);
    }
    const account = parsed.data;
    this.log('info', `account ${account.me} restored from ${this.file}: ${account.devices.length} linked device(s), ${account.sent.length} sent and ${account.incoming.length} incoming message(s).`);
    return account;
  }

  /** Logs why the saved account is unusable and moves the file aside, so the next write does not destroy it. */
  private async broken(why: string): Promise<undefined> {
    const aside = `${this.file}.broken-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    let where: string;
    try {
      await rename(this.file, aside);
      where = `moved to ${aside}`;
    } catch (err) {
      where = `could not be moved aside (${describe(err)}) and will be overwritten`;
    }
    this.log('error', `the saved account ${this.file} ${why}; it was ${where}. Starting a new account: pages linked before will show a QR code.`);
    return undefined;
  }

  // ------------------------------------------------------------------ writing

  private async writePending(): Promise<void> {
    if (!this.dirty || this.source === undefined || this.inMemory) return;
    this.dirty = false;
    const text = JSON.stringify(this.source());
    const temp = `${this.file}.${process.pid}.tmp`;
    try {
      if (this.dirPending) {
        await mkdir(this.dir, { recursive: true });
        this.dirPending = false;
      }
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.file);
      await this.syncDir();
      if (this.failing) this.log('info', `the account is saved to ${this.file} again.`);
      this.failing = false;
    } catch (err) {
      // Keep the change pending: the next change (or close) tries again.
      this.dirty = true;
      if (!this.failing) this.log('error', `could not save the account to ${this.file} (${describe(err)}); retrying with the next change.`);
      this.failing = true;
      await rm(temp, { force: true }).catch(() => undefined);
    }
  }

  /** fsync the directory, so the rename itself survives a power loss (best effort: not every fs allows it). */
  private async syncDir(): Promise<void> {
    const handle = await open(this.dir, 'r').catch(() => undefined);
    if (handle === undefined) return;
    try {
      await handle.sync();
    } catch {
      // EINVAL/EISDIR on some file systems: the rename is then as durable as that fs makes it.
    } finally {
      await handle.close();
    }
  }

  // ------------------------------------------------------------------ the lock

  /** A pid file; one whose process is gone (kill -9) is taken over. Synchronous: it runs once, at start. */
  private lock(): void {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        writeFileSync(this.lockFile, `${process.pid}\n`, { flag: 'wx' });
        this.locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          this.log('warn', `cannot write the lock ${this.lockFile} (${describe(err)}); continuing without it.`);
          return;
        }
      }
      const holder = Number(readFileOr(this.lockFile, '').trim());
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) throw new StateDirInUseError(this.dir, holder);
      rmSync(this.lockFile, { force: true });
    }
    throw new StateDirInUseError(this.dir, Number(readFileOr(this.lockFile, '0').trim()));
  }

  private unlock(): void {
    if (readFileOr(this.lockFile, '').trim() === String(process.pid)) rmSync(this.lockFile, { force: true });
  }
}

function readFileOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}
