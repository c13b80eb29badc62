/**
 * The real driver — whatsapp-web.js 1.34.7 in real Chromium — against the offline WhatsApp Web
 * simulator: the shared contract battery, then what only a real browser can do (kill -9, hangs, an
 * unreachable server). Every Chromium started here is killed and every temp dir removed, even on failure.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { createLogger } from '@waq/shared';
import { normalizeNumber, prepareSimClientOptions, startPhoneServer, UNREGISTERED_NUMBER, type PhoneServer } from '@waq/wa-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findProfileProcesses } from '../chromium-hygiene.js';
import { killProcessGroup, processGroupAlive } from './chromium.js';
import { DriverEventLog, describeDriverContract } from './driver-contract.js';
import type { LinkByCode } from './driver.js';
import { withLink, WwebjsDriver, type WwebjsDriverOptions } from './wwebjs-driver.js';

const logger = createLogger({ service: 'test', version: '0', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const PEER = '15550100002@c.us';

/** One simulated account: a phone server, a temp profile dir, and every driver made on it. */
class SimAccount {
  readonly drivers: WwebjsDriver[] = [];
  private constructor(
    readonly dir: string,
    readonly server: PhoneServer,
  ) {}

  static async start(): Promise<SimAccount> {
    const dir = mkdtempSync(join(tmpdir(), 'waq-driver-e2e-'));
    return new SimAccount(dir, await startPhoneServer({ ackDelayMs: 50 }));
  }

  get profileDir(): string {
    return join(this.dir, 'auth', 'session-default');
  }

  createDriver(options: Partial<WwebjsDriverOptions> = {}, link?: LinkByCode): WwebjsDriver {
    const simOptions = prepareSimClientOptions({
      phoneUrl: this.server.url,
      cacheDir: join(this.dir, 'cache'),
      dataPath: join(this.dir, 'auth'),
      clientId: 'default',
      ...(process.env.CHROMIUM_PATH ? { chromiumPath: process.env.CHROMIUM_PATH } : {}),
    });
    const driver = new WwebjsDriver(withLink(simOptions, link), { logger, initTimeoutMs: 30_000, ...options });
    this.drivers.push(driver);
    return driver;
  }

  async cleanup(): Promise<void> {
    const pids = this.drivers.map((d) => d.browserPid());
    await Promise.all(this.drivers.map((d) => d.destroy().catch(() => undefined)));
    for (const pid of pids) if (pid !== undefined && processGroupAlive(pid)) killProcessGroup(pid);
    await this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const digits = (wid: string): string => normalizeNumber(wid) ?? wid;

describeDriverContract('WwebjsDriver + wa-sim', async () => {
  const account = await SimAccount.start();
  const { phone } = account.server;
  return {
    createDriver: (link) => account.createDriver({}, link),
    phone: {
      scan: () => void phone.scan(),
      enterCode: (code) => void phone.enterCode(code),
      unlink: () => void phone.logout(),
      goOffline: () => void phone.setOnline(false),
      goOnline: () => void phone.setOnline(true),
      receive: (from, body) => void phone.addIncoming(digits(from), body),
      receiveFile: (from, { data, mimetype, caption }) => void phone.addIncomingMedia(digits(from), { data, mimetype, caption }),
      sentTo: (wid) => phone.messages(digits(wid)).map((m) => ({ waMessageId: m.serialized, body: m.body, sha256: m.media?.sha256 })),
      chatStates: (wid) => phone.chatStates(digits(wid)).map((c) => c.state),
    },
    peerWid: PEER,
    unregisteredWid: `${UNREGISTERED_NUMBER}@c.us`,
    strangerWid: '15550100003@c.us',
    cleanup: () => account.cleanup(),
  };
});

describe('WwebjsDriver with a real browser', () => {
  let account: SimAccount;

  beforeAll(async () => {
    account = await SimAccount.start();
  });
  afterAll(async () => {
    await account?.cleanup();
  });

  /** A driver on the account's profile, initialised, with its event log. */
  const launch = async (options: Partial<WwebjsDriverOptions> = {}): Promise<{ driver: WwebjsDriver; log: DriverEventLog }> => {
    const driver = account.createDriver(options);
    const log = new DriverEventLog(driver, 30_000);
    await driver.initialize();
    return { driver, log };
  };

  it('kill -9 of Chromium emits crashed; getState() then fails and destroy() still resolves', async () => {
    const { driver, log } = await launch();
    await log.waitFor('qr');
    account.server.phone.scan();
    await log.waitFor('ready');
    const pid = driver.browserPid();
    expect(pid).toEqual(expect.any(Number));
    expect(await findProfileProcesses(account.profileDir)).not.toEqual([]);

    killProcessGroup(pid!);
    const [reason] = await log.waitFor('crashed');
    expect(reason).toMatch(/Chromium disconnected/);
    await expect(driver.getState()).rejects.toThrow();
    await expect(driver.sendText(PEER, 'x')).rejects.toThrow(/not ready/);
    await driver.destroy();
    expect(log.names().filter((n) => n === 'crashed')).toHaveLength(1);
    expect(processGroupAlive(pid!)).toBe(false);
  });

  it('logout() unlinks the device on the phone and removes the saved profile', async () => {
    const { driver, log } = await launch();
    await log.waitFor('ready');
    expect(log.has('qr')).toBe(false);
    const pid = driver.browserPid()!;
    await driver.logout();
    expect(account.server.phone.snapshot().linked).toBe(false);
    expect(existsSync(account.profileDir) ? readdirSync(account.profileDir) : []).toEqual([]);
    expect(processGroupAlive(pid)).toBe(false);
    expect(log.has('disconnected') || log.has('crashed')).toBe(false);
    await driver.destroy();
  });

  it('destroy() is bounded when Chromium hangs: the process group is killed', async () => {
    const { driver, log } = await launch({ closeTimeoutMs: 1_000 });
    await log.waitFor('qr');
    account.server.phone.scan();
    await log.waitFor('ready');
    const pid = driver.browserPid()!;
    process.kill(pid, 'SIGSTOP');
    const started = Date.now();
    await driver.destroy();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(processGroupAlive(pid)).toBe(false);
  });

  it('destroy() while Chromium is still starting waits for it and closes it; initialize() rejects', async () => {
    const driver = account.createDriver();
    const log = new DriverEventLog(driver, 30_000);
    const initializing = driver.initialize();
    const rejected = expect(initializing).rejects.toThrow(/destroyed/);
    await driver.destroy();
    expect(driver.browserPid()).toEqual(expect.any(Number));
    expect(processGroupAlive(driver.browserPid()!)).toBe(false);
    expect(await findProfileProcesses(account.profileDir)).toEqual([]);
    await rejected;
    expect(log.names()).toEqual([]);
  });

  it('initialize() times out when a restored session cannot reach WhatsApp, and leaves no Chromium', async () => {
    // The account is paired (previous case) and the profile saved; now the servers are gone.
    await account.server.close();
    const driver = account.createDriver({ initTimeoutMs: 4_000 });
    const log = new DriverEventLog(driver, 30_000);
    const started = Date.now();
    await expect(driver.initialize()).rejects.toThrow(/did not start within 4000 ms/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(log.names()).toEqual([]);
    expect(await findProfileProcesses(account.profileDir)).toEqual([]);
    const pid = driver.browserPid();
    expect(pid === undefined || !processGroupAlive(pid)).toBe(true);
  });
});
