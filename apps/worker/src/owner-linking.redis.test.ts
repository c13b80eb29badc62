/**
 * Linking a phone by a pairing code instead of a QR code, on the owner with the fake driver and real
 * Redis: a client made to link by code, a code asked of a client showing a QR code (which stays) or of one
 * still starting, and a client that cannot give one (whatsapp-web.js before 1.34) replaced by one made for
 * a code.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { OwnerHarness } from './testing/owner-harness.js';

let h: OwnerHarness;

beforeEach(async () => {
  h = await OwnerHarness.create({ me: { wid: '4915100000009@c.us', pushname: 'linked by code' } });
});

afterEach(async () => {
  await h.close();
});

const PHONE = '+49 151 00000009';

describe('linking by a pairing code', () => {
  it('shows a code for the number (renewed, with its events) instead of a QR code; the phone enters it → READY', async () => {
    h.startOwner();
    await h.waitForStatus('STOPPED');
    await h.producer.connect('test', { method: 'code', phoneNumber: PHONE });
    await vi.waitFor(async () => expect((await h.state())?.pairingCode).toBeDefined(), { timeout: 10_000, interval: 20 });
    const shown = (await h.state())!;
    expect(shown).toMatchObject({ status: 'QR', pairingCode: { phoneNumber: '+4915100000009', code: expect.stringMatching(/^\w{8}$/) } });
    expect(shown.qr).toBeUndefined();
    expect(Date.parse(shown.pairingCode!.expiresAt)).toBeGreaterThan(Date.now());
    // Renewed (the fake every 200 ms; whatsapp-web.js every PAIRING_CODE_INTERVAL_MS).
    await vi.waitFor(async () => expect((await h.state())?.pairingCode?.code).not.toBe(shown.pairingCode!.code), { timeout: 10_000, interval: 20 });
    expect((await h.events()).filter((e) => e.type === 'pairing_code').length).toBeGreaterThanOrEqual(2);
    expect((await h.events()).filter((e) => e.type === 'qr')).toEqual([]);

    h.world.enterCode(h.world.pairingCodes()[0]!.code);
    const ready = await h.waitForStatus('READY');
    expect(ready.me?.wid).toBe('4915100000009@c.us');
    expect(ready.pairingCode).toBeUndefined();
  });

  it('asks a client showing a QR code for a code too: both are shown, and the code links', async () => {
    h.startOwner();
    await h.producer.connect();
    await h.waitForStatus('QR');
    await h.producer.connect('test', { method: 'code', phoneNumber: PHONE });
    await vi.waitFor(async () => expect(await h.state()).toMatchObject({ status: 'QR', qr: expect.any(Object), pairingCode: expect.any(Object) }), { timeout: 10_000, interval: 20 });
    expect(h.world.initializeCalls).toBe(1);
    h.world.enterCode(h.world.pairingCodes()[0]!.code);
    await h.waitForStatus('READY');
  });

  it('asks a client that was still starting for the code as soon as it shows a QR code', async () => {
    h.world.qrHeld = true;
    // A connect job waits this long for a code before it completes: its completion says the owner handled it.
    h.startOwner({ QR_WAIT_MS: 500 });
    await h.producer.connect();
    await h.waitForStatus('STARTING');
    await vi.waitFor(async () => expect(await h.producer.queues.control.getCompletedCount()).toBe(1), { timeout: 10_000, interval: 20 });
    await h.producer.connect('test', { method: 'code', phoneNumber: PHONE });
    await vi.waitFor(async () => expect(await h.producer.queues.control.getCompletedCount()).toBe(2), { timeout: 10_000, interval: 20 });
    expect(await h.state()).toMatchObject({ status: 'STARTING' });

    h.world.qrHeld = false;
    await vi.waitFor(async () => expect(await h.state()).toMatchObject({ status: 'QR', qr: expect.any(Object), pairingCode: { phoneNumber: '+4915100000009' } }), { timeout: 10_000, interval: 20 });
    expect(h.world.initializeCalls).toBe(1);
    h.world.enterCode(h.world.pairingCodes()[0]!.code);
    await h.waitForStatus('READY');
  });

  it('replaces a client that cannot give a code (whatsapp-web.js before 1.34) with one made to link by code', async () => {
    h.world.failPairingCodeRequests = true;
    h.startOwner();
    await h.producer.connect();
    await h.waitForStatus('QR');
    await h.producer.connect('test', { method: 'code', phoneNumber: PHONE });
    await vi.waitFor(async () => expect((await h.state())?.pairingCode).toBeDefined(), { timeout: 10_000, interval: 20 });
    expect(h.world.initializeCalls).toBe(2);
    h.world.enterCode(h.world.pairingCodes()[0]!.code);
    await h.waitForStatus('READY');
  });

  it('refuses a code for a number that is not one, naming the field, and queues nothing', async () => {
    await expect(h.producer.connect('test', { method: 'code', phoneNumber: '0151 000' })).rejects.toMatchObject({ code: 'invalid_payload', problems: [{ path: 'phoneNumber' }] });
    expect(await h.producer.queues.control.count()).toBe(0);
  });
});
