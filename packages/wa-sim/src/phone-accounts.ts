/**
 * The accounts of one phone server (see account-id.ts for the words): one {@link SimPhone} per account id,
 * `default` made at start, every other one on first use, each with its own number and, with `stateDir`,
 * its own account file. Accounts found on disk are loaded at start, so a restarted server keeps every
 * account's pairing. Transport-free, like SimPhone: phone-server.ts routes requests and pages to it.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_ACCOUNT_ID, assertAccountId, isAccountId, type AccountDirectory, type AccountSummary } from './account-id.js';
import { AccountFile, stderrLog, type AccountState, type PhoneLog } from './account-file.js';
import { PhoneServerClosingError } from './errors.js';
import { accountNumber } from './numbers.js';
import { DEFAULT_PUSHNAME, SimPhone, type SimPhoneOptions } from './sim-phone.js';

/**
 * `me` and `pushname` are the default account's; every other account gets a number of its own
 * (`accountNumber`) and `<pushname> (<id>)`. The other phone options apply to every account.
 */
export interface PhoneAccountsOptions extends Omit<SimPhoneOptions, 'account' | 'onChange'> {
  /**
   * Keep every account (identity, linked devices, message history) on disk — the default one in
   * `<stateDir>/account.json`, account `<id>` in `<stateDir>/accounts/<id>/account.json` — so a phone
   * server restarted on the same directory has them all again and restores linked pages without a QR.
   * A saved account wins over `me`/`pushname`. One server per directory (a lock file says which).
   * @defaultValue none: the accounts live in memory and die with the server
   */
  stateDir?: string;
  /** How long changes are gathered before one write of an account file, in ms. @defaultValue 200 */
  stateWriteDelayMs?: number;
  /** The server's own log lines (account restored or created, unreadable file, failed write). @defaultValue one line on stderr */
  log?: PhoneLog;
}

interface Account {
  phone: SimPhone;
  store: AccountFile | undefined;
}

/** Tries of {@link accountNumber} before giving up; even a second try is rare with thousands of accounts. */
const MAX_NUMBER_ATTEMPTS = 1_000;

export class PhoneAccounts implements AccountDirectory {
  private readonly accounts = new Map<string, Account>();
  private readonly phoneOptions: SimPhoneOptions;
  private stopped = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly options: PhoneAccountsOptions,
    private readonly log: PhoneLog,
    /** The default account's file; its directory is the state directory. */
    private readonly root: AccountFile | undefined,
  ) {
    const { stateDir: _stateDir, stateWriteDelayMs: _delay, log: _log, me: _me, pushname: _pushname, ...phoneOptions } = options;
    this.phoneOptions = phoneOptions;
  }

  /**
   * Takes the state directory (when given), restores the default account and every account saved under it.
   * @throws StateDirInUseError when another live phone server holds the state directory
   */
  static async open(options: PhoneAccountsOptions = {}): Promise<PhoneAccounts> {
    const log = options.log ?? stderrLog;
    const opened = options.stateDir === undefined ? undefined : await AccountFile.open({ dir: options.stateDir, log, ...writeDelay(options) });
    const saved = opened?.saved;
    if (saved !== undefined && ((options.me !== undefined && options.me !== saved.me) || (options.pushname !== undefined && options.pushname !== saved.pushname))) {
      log('warn', `the saved account is ${saved.me} ("${saved.pushname}"): the me/pushname options apply to a new account only; delete ${opened?.store.file} for a new one.`);
    }
    const accounts = new PhoneAccounts(options, log, opened?.store);
    accounts.add(DEFAULT_ACCOUNT_ID, { me: options.me, pushname: options.pushname }, opened);
    try {
      await accounts.loadSaved();
    } catch (err) {
      await accounts.close();
      throw err;
    }
    return accounts;
  }

  /**
   * The account `id`, created (and, with a state directory, saved soon) on first use.
   * @throws InvalidAccountIdError; PhoneServerClosingError for a new one after {@link stop}
   */
  account(id: string): SimPhone {
    const existing = this.accounts.get(assertAccountId(id));
    if (existing !== undefined) return existing.phone;
    if (this.stopped) throw new PhoneServerClosingError(id);
    const store = this.accountsDir === undefined ? undefined : AccountFile.create({ dir: path.join(this.accountsDir, id), log: this.log, ...writeDelay(this.options) });
    const phone = this.add(id, this.newIdentity(id), store === undefined ? undefined : { store, saved: undefined });
    // Saved at once, not with its first change: a restarted server then lists it, with the same number.
    store?.changed();
    this.log('info', `new account "${id}" (${phone.me})${store ? `, saved in ${store.file}` : ''}.`);
    return phone;
  }

  /** Every account, sorted by id. */
  list(): AccountSummary[] {
    return [...this.accounts].sort(([a], [b]) => byCodeUnits(a, b)).map(([id, { phone }]) => {
      const snapshot = phone.snapshot();
      return { id, me: snapshot.me, linked: snapshot.linked, online: snapshot.online, devices: snapshot.devices };
    });
  }

  /** Where account `id` is kept, when it exists and there is a state directory. */
  stateFile(id: string): string | undefined {
    return this.accounts.get(id)?.store?.file;
  }

  /** Stop every phone (timers, pages) and create no more accounts; idempotent. */
  stop(): void {
    this.stopped = true;
    for (const { phone } of this.accounts.values()) phone.close();
  }

  /** {@link stop}, then write and release every account file; idempotent. Rethrows the first failure after trying all. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop();
      const results = await Promise.allSettled([...this.accounts.values()].map(({ store }) => store?.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.closing;
  }

  // ------------------------------------------------------------------ internals

  /** `<stateDir>/accounts`, or undefined when nothing is saved (no state directory, or it cannot be created). */
  private get accountsDir(): string | undefined {
    return this.root?.persistent ? path.join(this.root.dir, 'accounts') : undefined;
  }

  private add(id: string, identity: Pick<SimPhoneOptions, 'me' | 'pushname'>, opened: { store: AccountFile; saved: AccountState | undefined } | undefined): SimPhone {
    const store = opened?.store;
    const phone = new SimPhone({
      ...this.phoneOptions,
      ...identity,
      ...(opened?.saved === undefined ? {} : { account: opened.saved }),
      ...(store === undefined ? {} : { onChange: () => store.changed() }),
    });
    store?.bind(() => phone.account());
    this.accounts.set(id, { phone, store });
    return phone;
  }

  private async loadSaved(): Promise<void> {
    const dir = this.accountsDir;
    if (dir === undefined) return;
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort(byCodeUnits);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.log('error', `cannot list the saved accounts in ${dir} (${err instanceof Error ? err.message : String(err)}): only the default account is restored.`);
      return;
    }
    for (const name of names) {
      if (!isAccountId(name) || name === DEFAULT_ACCOUNT_ID) {
        this.log('warn', `${path.join(dir, name)} is not an account directory (the default account lives in ${this.root?.file}; ids are 1–64 of A–Z a–z 0–9 _ -): ignored.`);
        continue;
      }
      const opened = await AccountFile.open({ dir: path.join(dir, name), log: this.log, lock: false, ...writeDelay(this.options) });
      // A directory whose file was missing or broken is still this account: a fresh one, with its own number.
      const phone = this.add(name, opened.saved === undefined ? this.newIdentity(name) : {}, opened);
      if (opened.saved === undefined) opened.store.changed();
      const twin = [...this.accounts].find(([other, a]) => other !== name && a.phone.me === phone.me);
      if (twin) this.log('warn', `accounts "${twin[0]}" and "${name}" have the same number ${phone.me} (an account directory copied?): the gateway would see two sessions with one number.`);
    }
  }

  /** A new account's number and push name: `waq sandbox (sales)`. */
  private newIdentity(id: string): Pick<SimPhoneOptions, 'me' | 'pushname'> {
    return { me: this.freeNumber(id), pushname: `${this.options.pushname ?? DEFAULT_PUSHNAME} (${id})` };
  }

  /** The id's own number, unless another account has it already (then the next candidate). */
  private freeNumber(id: string): string {
    const taken = new Set([...this.accounts.values()].map((a) => a.phone.me));
    for (let attempt = 0; attempt < MAX_NUMBER_ATTEMPTS; attempt += 1) {
      const candidate = accountNumber(id, attempt);
      if (!taken.has(candidate)) return candidate;
    }
    throw new Error(`no free number for account "${id}" after ${MAX_NUMBER_ATTEMPTS} tries`);
  }
}

function writeDelay(options: PhoneAccountsOptions): { writeDelayMs?: number } {
  return options.stateWriteDelayMs === undefined ? {} : { writeDelayMs: options.stateWriteDelayMs };
}

/** Sorts by code units, the same in every locale (`localeCompare` is not). */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
