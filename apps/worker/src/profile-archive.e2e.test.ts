/**
 * What a session needs to restore without a QR, measured with the real library in real Chromium
 * against the simulator: a profile backed up while READY and sending (a hot copy), unpacked into an
 * empty directory on "another host", starts READY without a QR and sends. Nothing else of the
 * original profile is there: only what `BACKED_UP` names.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import { createLogger } from '@waq/shared';
import { prepareSimClientOptions, startPhoneServer, type PhoneServer } from '@waq/wa-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { killProcessGroup, processGroupAlive } from './driver/chromium.js';
import { DriverEventLog } from './driver/driver-contract.js';
import { WwebjsDriver } from './driver/wwebjs-driver.js';
import { BACKED_UP, packStaged, stageProfile, unpackArchive } from './profile-archive.js';
import { SessionProfile } from './profile.js';

const logger = createLogger({ service: 'test', version: '0', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const PEER = '15550100002@c.us';

let dir: string;
let server: PhoneServer;
const drivers: WwebjsDriver[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'waq-archive-e2e-'));
  server = await startPhoneServer({ ackDelayMs: 20 });
});

afterAll(async () => {
  const pids = drivers.map((d) => d.browserPid());
  await Promise.all(drivers.map((d) => d.destroy().catch(() => undefined)));
  for (const pid of pids) if (pid !== undefined && processGroupAlive(pid)) killProcessGroup(pid);
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A driver of session `sales` whose LocalAuth data lives under `<dir>/<host>` (one "machine" each). */
function launch(host: string): { driver: WwebjsDriver; log: DriverEventLog; profileDir: string } {
  const dataPath = path.join(dir, host, 'sessions');
  const driver = new WwebjsDriver(
    prepareSimClientOptions({
      phoneUrl: server.url,
      cacheDir: path.join(dir, host, 'cache'),
      dataPath,
      clientId: 'sales',
      ...(process.env.CHROMIUM_PATH ? { chromiumPath: process.env.CHROMIUM_PATH } : {}),
    }),
    { logger, initTimeoutMs: 30_000 },
  );
  drivers.push(driver);
  return { driver, log: new DriverEventLog(driver, 30_000), profileDir: path.join(dataPath, 'session-sales') };
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

describe('the profile backup archive with real whatsapp-web.js and Chromium', () => {
  it('a hot copy taken while READY and sending restores on another host: READY without a QR, and it sends', async () => {
    const a = launch('host-a');
    await a.driver.initialize();
    await a.log.waitFor('qr');
    server.phone.scan();
    await a.log.waitFor('ready');
    await new SessionProfile(path.dirname(a.profileDir), 'sales', logger).markSaved();
    for (let i = 0; i < 10; i += 1) await a.driver.sendText(PEER, `before ${i}`);

    // Sends keep going (the page writes IndexedDB) while the copy is taken.
    const sending = (async () => {
      for (let i = 0; i < 30; i += 1) await a.driver.sendText(PEER, `during ${i}`);
    })();
    const staging = path.join(dir, 'host-a', 'staging');
    const summary = await stageProfile(a.profileDir, staging);
    const archive = await collect(packStaged(staging));
    await sending;
    expect(summary.files).toBeGreaterThan(0);
    expect(archive.length).toBeLessThan(summary.rawBytes);

    // Host A dies (kill -9, nothing flushed); host B has nothing but the archive.
    const pid = a.driver.browserPid();
    if (pid !== undefined) killProcessGroup(pid);
    await a.log.waitFor('crashed');
    const bProfile = path.join(dir, 'host-b', 'sessions', 'session-sales');
    await unpackArchive(once(archive), bProfile);
    expect((await readdir(bProfile)).sort()).toEqual(['.waq-session', 'Default']);
    expect((await readdir(path.join(bProfile, 'Default'))).sort()).toEqual(BACKED_UP.filter((p) => p.startsWith('Default/')).map((p) => p.slice('Default/'.length)).sort());

    const b = launch('host-b');
    await b.driver.initialize();
    await b.log.waitFor('ready');
    expect(b.log.has('qr')).toBe(false);
    await b.driver.sendText(PEER, 'after the move');
    expect(server.phone.messages(PEER.split('@')[0]!).map((m) => m.body).at(-1)).toBe('after the move');
  }, 120_000);
});
