/**
 * Test harness: a `SessionOwner` on real Redis (unique prefix) with the fake driver, a producer to
 * enqueue through, and helpers to read what the owner published. Everything is closed by `close()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import {
  createLogger,
  createProducer,
  decodeEvent,
  decodeState,
  DEFAULT_WEBHOOK_EVENTS,
  sessionKeys,
  SessionRegistry,
  type Logger,
  type Producer,
  type SessionEvent,
  type SessionState,
} from '@waq/shared';
import { createRedisFixture, type RedisFixture } from '@waq/test-utils';
import { expect, vi } from 'vitest';

import { FakeWhatsApp, type FakeWhatsAppOptions } from '../driver/fake-driver.js';
import type { OwnerConfig } from '../owner.js';
import { startSessionOwner, type RunningOwner, type SessionOwnerOptions } from '../worker.js';

export type { RunningOwner } from '../worker.js';

export const silentLogger: Logger = createLogger({ service: 'test', version: '0', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

export const FAST_CONFIG: Omit<OwnerConfig, 'SESSION_DIR'> = {
  SESSION_ID: 'default',
  // Long enough that a late renewal on a loaded machine never costs a test its session.
  LEASE_TTL_MS: 6_000,
  QR_WAIT_MS: 5_000,
  QR_MAX_RETRIES: 5,
  RECONNECT_BASE_MS: 20,
  RECONNECT_MAX_MS: 200,
  SEND_INTERVAL_MS: 0,
  SEND_JITTER_MS: 0,
  // Budgets and warm-up off unless a test is about them.
  SEND_DAILY_CAP: 0,
  SEND_NEW_CHATS_PER_DAY: 0,
  SEND_WARMUP_AFTER_S: 900,
  SEND_WARMUP_MESSAGES: 0,
  SEND_WARMUP_INTERVAL_MS: 10_000,
  SEND_TYPING: false,
  NUMBER_CHECK_TTL_S: 86_400,
  NUMBER_CHECK_NEGATIVE_TTL_S: 3_600,
  MESSAGE_RETENTION_S: 3_600,
  EVENTS_MAX_LEN: 10_000,
  JOB_LOCK_MS: 5_000,
  SESSION_STORE: 'local',
  SESSION_BACKUP_DELAY_MS: 100,
  SESSION_BACKUP_INTERVAL_MS: 60_000,
  SESSION_BACKUP_WARN_BYTES: 100 * 1024 * 1024,
  WAQ_PREFIX: 'waq',
  WEBHOOK_TIMEOUT_MS: 2_000,
  WEBHOOK_RETRY_PERIOD_MS: 60_000,
  WEBHOOK_MAX_BODY_BYTES: 1_048_576,
  MEDIA_MAX_BYTES: 64 * 1024 * 1024,
  MEDIA_RETENTION_S: 3_600,
  MEDIA_VIDEO_FALLBACK: 'document',
  WEBHOOK_ALLOW_PRIVATE: true,
  WEBHOOK_EVENTS: [...DEFAULT_WEBHOOK_EVENTS],
};

export class OwnerHarness {
  readonly running: RunningOwner[] = [];
  private constructor(
    readonly fixture: RedisFixture,
    readonly world: FakeWhatsApp,
    readonly sessionDir: string,
    readonly producer: Producer,
  ) {}

  static async create(worldOptions: FakeWhatsAppOptions = {}): Promise<OwnerHarness> {
    const fixture = await createRedisFixture();
    const sessionDir = await mkdtemp(path.join(tmpdir(), 'waq-owner-'));
    await new SessionRegistry(fixture.redis, fixture.prefix).create('default');
    const producer = createProducer({ redis: fixture.url, prefix: fixture.prefix });
    await producer.queues.outbox.waitUntilReady();
    return new OwnerHarness(fixture, new FakeWhatsApp({ qrIntervalMs: 200, ...worldOptions }), sessionDir, producer);
  }

  get keys() {
    return sessionKeys({ prefix: this.fixture.prefix, sessionId: 'default' });
  }

  /** Starts an owner (a "worker process") on this session. */
  startOwner(overrides: Partial<OwnerConfig> = {}, extra: Partial<Omit<SessionOwnerOptions, 'redisUrl' | 'prefix'>> = {}): RunningOwner {
    const workerId = `worker-${this.running.length + 1}`;
    const running = startSessionOwner({
      redisUrl: this.fixture.url,
      prefix: this.fixture.prefix,
      connectionName: workerId,
      config: { ...FAST_CONFIG, SESSION_DIR: this.sessionDir, WAQ_PREFIX: this.fixture.prefix, ...overrides },
      workerId,
      createDriver: this.world.createDriver,
      logger: silentLogger,
      // The fake answers getState() at once, so only a busy event loop makes the watchdog time out. 3 s
      // keeps a loaded CI machine (a 10 MB poisoned job parsed in this process) from faking a dead page:
      // a send failure would then look like a session loss and be held instead of retried.
      watchdog: { intervalMs: 100, timeoutMs: 3_000, authenticatedTimeoutMs: 1_000 },
      ...extra,
    });
    this.running.push(running);
    return running;
  }

  async state(): Promise<SessionState | null> {
    return decodeState(await this.fixture.redis.get(this.keys.state));
  }

  /** A first pairing: connect, the QR, the phone scans it, READY. */
  async pairFresh(): Promise<void> {
    await this.producer.connect();
    await this.waitForStatus('QR');
    this.world.scan();
    await this.waitForStatus('READY');
  }

  async waitForStatus(status: SessionState['status'], timeout = 20_000): Promise<SessionState> {
    let last: SessionState | null = null;
    await vi.waitFor(
      async () => {
        last = await this.state();
        expect(last?.status).toBe(status);
      },
      { timeout, interval: 20 },
    );
    return last as unknown as SessionState;
  }

  /** Waits until the event stream holds an event matching `predicate` (transient states included). */
  async waitForEvent(predicate: (event: SessionEvent) => boolean, timeout = 20_000): Promise<SessionEvent> {
    let found: SessionEvent | undefined;
    await vi.waitFor(
      async () => {
        found = (await this.events()).find(predicate);
        expect(found).toBeDefined();
      },
      { timeout, interval: 20 },
    );
    return found as SessionEvent;
  }

  async events(): Promise<SessionEvent[]> {
    const entries = await this.fixture.redis.xrange(this.keys.events, '-', '+');
    return entries.map(([id, fields]) => decodeEvent(id, fields)?.event).filter((e): e is SessionEvent => e !== undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.running.map((r) => r.stop()));
    await this.producer.close();
    await this.fixture.cleanup();
    await rm(this.sessionDir, { recursive: true, force: true });
  }
}
