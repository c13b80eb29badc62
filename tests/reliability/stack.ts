/**
 * The real stack a reliability scenario runs on: worker (and API) processes of the production build
 * (`node apps/<app>/dist/main.js`, as the Docker image runs them; built by the e2e global setup),
 * whatsapp-web.js + Chromium against the offline simulator (in-process phone server), real Redis under a
 * unique prefix. Every process a stack spawns is remembered (its output feeds the log check) and killed
 * by `close()`, Chromium included; temp dirs and Redis keys are removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createProducer, decodeEvent, sessionKeys, SessionRegistry, type Producer, type SessionKeys } from '@waq/shared';
import {
  browserProcesses,
  connectTestRedis,
  deleteByPrefix,
  findSecrets,
  freePort,
  killBrowsers,
  killSpawned,
  sandboxWorkerEnv,
  spawnBuilt,
  testRedisUrl,
  uniquePrefix,
  type SecretLeak,
  type SpawnedProcess,
  type TestRedis,
} from '@waq/test-utils';
import { startPhoneServer, type PhoneServer, type SimPhone } from '@waq/wa-sim';
import { expect, vi } from 'vitest';

export const LEASE_TTL_MS = 4_000;
/** Every message body of the suite contains this marker, so the log check can look for bodies. */
export const BODY_MARKER = 'wqbody';

export interface StackOptions {
  /** Redis to use (a throwaway server); default: the test Redis. */
  readonly redisUrl?: string;
  /** Simulator ack delay. @defaultValue 50 */
  readonly ackDelayMs?: number;
  /** Extra environment for every worker. */
  readonly workerEnv?: Record<string, string>;
  /**
   * The session the scenario runs on. @defaultValue 'default' (the configured SESSION_ID, whose 0.1
   * routes the API still serves); another id is created in the registry, as `POST /v1/sessions` does,
   * and gets its own simulated account.
   */
  readonly sessionId?: string;
}

export interface ApiProcess {
  readonly proc: SpawnedProcess;
  readonly url: string;
  readonly key: string;
  fetch(route: string, init?: RequestInit): Promise<Response>;
}

export interface Tally {
  readonly expected: number;
  /** Distinct expected bodies the phone received. */
  readonly delivered: number;
  readonly lost: number;
  /** Extra copies received (a body received twice counts 1). */
  readonly duplicated: number;
  /** The first copies arrived in the order the messages were accepted. */
  readonly inOrder: boolean;
  /** When not in order: the first body that arrived before one accepted earlier. */
  readonly firstOutOfOrder?: string;
}

export class Stack {
  readonly processes: SpawnedProcess[] = [];
  readonly qrValues = new Set<string>();
  readonly apiKeys = new Set<string>();
  readonly keys: SessionKeys;
  readonly profileDir: string;
  /** The simulated phone of the session's account. */
  readonly sim: SimPhone;

  private constructor(
    readonly redisUrl: string,
    readonly prefix: string,
    readonly redis: TestRedis,
    readonly phone: PhoneServer,
    readonly producer: Producer,
    readonly root: string,
    readonly sessionId: string,
    private readonly options: StackOptions,
  ) {
    this.keys = sessionKeys({ prefix, sessionId });
    this.profileDir = path.join(root, 'auth', 'sandbox', `session-${sessionId}`);
    this.sim = phone.account(sessionId);
  }

  static async create(options: StackOptions = {}): Promise<Stack> {
    const redisUrl = options.redisUrl ?? testRedisUrl();
    const prefix = uniquePrefix();
    const redis = connectTestRedis(redisUrl);
    redis.on('error', () => undefined);
    await redis.ping();
    const phone = await startPhoneServer({ ackDelayMs: options.ackDelayMs ?? 50 });
    const sessionId = options.sessionId ?? 'default';
    // As the first worker or API of an installation does (or POST /v1/sessions for another id); the
    // producer may send before either is up.
    const registry = new SessionRegistry(redis, prefix);
    await registry.seed('default');
    if (sessionId !== 'default') {
      // The scenario is about its session alone: the configured one stays out of the way.
      await registry.update('default', { desired: 'stopped' });
      await registry.create(sessionId);
    }
    const producer = createProducer({ redis: redisUrl, prefix, session: sessionId });
    const root = await mkdtemp(path.join(tmpdir(), 'waq-reliability-'));
    return new Stack(redisUrl, prefix, redis, phone, producer, root, sessionId, options);
  }

  async startWorker(name: string, env: Record<string, string> = {}): Promise<SpawnedProcess> {
    const proc = spawnBuilt(name, 'apps/worker/dist/main.js', [], {
      env: {
        ...sandboxWorkerEnv({ redisUrl: this.redisUrl, prefix: this.prefix, simUrl: this.phone.url, root: this.root, workerPort: await freePort(), leaseTtlMs: LEASE_TTL_MS }),
        ...this.options.workerEnv,
        ...env,
      },
    });
    this.processes.push(proc);
    return proc;
  }

  async startApi(name: string, env: Record<string, string> = {}): Promise<ApiProcess> {
    const port = await freePort();
    const key = `k-${randomBytes(18).toString('hex')}`;
    this.apiKeys.add(key);
    const proc = spawnBuilt(name, 'apps/api/dist/main.js', [], {
      env: { REDIS_URL: this.redisUrl, WAQ_PREFIX: this.prefix, API_HOST: '127.0.0.1', API_PORT: String(port), API_KEY: key, DATA_DIR: path.join(this.root, 'data'), WAQ_SANDBOX: 'true', WAQ_SIM_URL: this.phone.url, ...env },
    });
    this.processes.push(proc);
    await proc.waitForLine(/API listening/, 30_000);
    const url = `http://127.0.0.1:${port}`;
    // Listening is not ready: until its Redis connection is up the API answers 503 redis_unavailable (a
    // loaded machine took long enough for a test's first request to get one). Wait as a load balancer would.
    await vi.waitFor(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), { timeout: 30_000, interval: 100 });
    return {
      proc,
      url,
      key,
      fetch(route, init = {}) {
        const headers = new Headers(init.headers);
        if (!headers.has('Authorization')) headers.set('Authorization', `Bearer ${key}`);
        return fetch(`${url}${route}`, { ...init, headers });
      },
    };
  }

  /** Waits for the reported session status; returns how long it took. */
  async waitForStatus(status: string, timeout = 30_000): Promise<number> {
    const started = Date.now();
    await vi.waitFor(async () => expect((await this.producer.getState()).status).toBe(status), { timeout, interval: 50 });
    return Date.now() - started;
  }

  /**
   * Waits for READY published after `since` (ms epoch): right after a kill the state still says READY
   * (the dead worker's lease has not lapsed yet). Returns the time from `since`.
   */
  async waitForReadyAfter(since: number, timeout = 60_000): Promise<number> {
    await vi.waitFor(
      async () => {
        const state = await this.producer.getState();
        expect(state.status === 'READY' && Date.parse(state.since) >= since).toBe(true);
      },
      { timeout, interval: 50 },
    );
    return Date.parse((await this.producer.getState()).since) - since;
  }

  /** For a failed count: each duplicated body with the phone's records and the log lines of its job. */
  explainDuplicates(number: string, texts: readonly string[], ids: readonly string[]): string {
    const records = this.sim.messages(number.replace(/\D/g, ''));
    const out: string[] = [];
    texts.forEach((text, i) => {
      const copies = records.filter((r) => r.body === text);
      if (copies.length < 2) return;
      const id = ids[i] ?? '?';
      out.push(`${text} (job ${id}): ${copies.map((c) => `#${c.order} ${c.id} at ${new Date(c.receivedAt).toISOString()}`).join(', ')}`);
      for (const p of this.processes) for (const line of p.lines) if (line.includes(id)) out.push(`  [${p.name}] ${line}`);
    });
    return out.join('\n');
  }

  /** connect → QR (remembered for the log check) → the phone scans → READY. */
  async pair(): Promise<void> {
    await this.producer.connect('reliability');
    await this.waitForStatus('QR');
    this.rememberQr((await this.producer.getState()).qr?.value);
    this.sim.scan();
    await this.waitForStatus('READY');
  }

  rememberQr(value: string | undefined): void {
    if (value !== undefined) this.qrValues.add(value);
  }

  browsers(): Promise<number[]> {
    return browserProcesses(this.profileDir);
  }

  /** QR codes the session's event stream has shown so far (a restore without re-pairing adds none). */
  async qrEvents(): Promise<number> {
    const entries = await this.redis.xrange(this.keys.events, '-', '+');
    return entries.map(([id, fields]) => decodeEvent(id, fields)?.event).filter((e) => e?.type === 'qr').length;
  }

  /**
   * Sends `bodies` to `to` and kill -9s the session's browser `kills` times, spread over the stream (the
   * k-th once about k/(kills+1) of them arrived), waiting for READY after each. Returns the message
   * ids and each kill's time to READY.
   */
  async killBrowserMidStream(to: string, bodies: readonly string[], kills: number): Promise<{ ids: string[]; recoveries: number[] }> {
    const ids = await this.sendAll(to, bodies);
    const recoveries: number[] = [];
    for (let k = 1; k <= kills; k += 1) {
      const threshold = Math.floor((bodies.length * k) / (kills + 1));
      await vi.waitFor(() => expect(this.tally(to, bodies).delivered).toBeGreaterThanOrEqual(threshold), { timeout: 120_000, interval: 5 });
      const [browser] = await this.browsers();
      expect(browser).toBeDefined();
      const killedAt = Date.now();
      process.kill(browser as number, 'SIGKILL');
      recoveries.push(await this.waitForReadyAfter(killedAt));
    }
    return { ids, recoveries };
  }

  /** Bodies the phone received for `number` (any spelling), in arrival order. */
  bodiesTo(number: string): string[] {
    return this.sim.messages(number.replace(/\D/g, '')).map((m) => m.body);
  }

  /** Accepts `texts` through the SDK, in order; returns the message ids. */
  async sendAll(to: string, texts: readonly string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const text of texts) ids.push((await this.producer.send({ to, text })).id);
    return ids;
  }

  /** Waits until every id is `completed` in BullMQ and the outbox has nothing waiting or running. */
  async waitAllCompleted(ids: readonly string[], timeout: number): Promise<void> {
    const outbox = this.producer.queues.outbox;
    await vi.waitFor(
      async () => {
        const counts = await outbox.getJobCounts('active', 'wait', 'paused', 'delayed', 'prioritized');
        expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
      },
      { timeout, interval: 250 },
    );
    const states = await Promise.all(ids.map((id) => outbox.getJobState(id)));
    expect(states.filter((s) => s !== 'completed')).toEqual([]);
  }

  /** What the phone received of `texts` for `number`: lost, duplicated, order. */
  tally(number: string, texts: readonly string[]): Tally {
    const wanted = new Set(texts);
    const received = this.bodiesTo(number).filter((b) => wanted.has(b));
    const firstCopies = [...new Set(received)];
    const rank = new Map(texts.map((t, i) => [t, i]));
    const jump = firstCopies.findIndex((body, i) => i > 0 && (rank.get(body) ?? 0) < (rank.get(firstCopies[i - 1] as string) ?? 0));
    return {
      ...(jump > 0 ? { firstOutOfOrder: `${firstCopies[jump - 1]} arrived before ${firstCopies[jump]}` } : {}),
      expected: texts.length,
      delivered: firstCopies.length,
      lost: texts.length - firstCopies.length,
      duplicated: received.length - firstCopies.length,
      inOrder: firstCopies.every((body, i) => body === texts[i]),
    };
  }

  /**
   * The arrival order of `texts` (first copies) as runs of consecutive acceptance ranks, e.g.
   * `0–141, 143–999, 142`: what an order failure looks like, in one line.
   */
  arrivalRuns(number: string, texts: readonly string[]): string {
    const rank = new Map(texts.map((t, i) => [t, i]));
    const ranks = [...new Set(this.bodiesTo(number))].map((b) => rank.get(b)).filter((r) => r !== undefined);
    const runs: [number, number][] = [];
    for (const r of ranks) {
      const last = runs.at(-1);
      if (last !== undefined && r === last[1] + 1) last[1] = r;
      else runs.push([r, r]);
    }
    return runs.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(', ');
  }

  /** Everything every process of this stack wrote. */
  logLines(): string[] {
    return this.processes.flatMap((p) => p.lines);
  }

  leaks(phoneNumbers: readonly string[]): SecretLeak[] {
    return findSecrets(this.logLines(), { phoneNumbers: [...phoneNumbers, this.sim.me], bodies: [BODY_MARKER], qrValues: [...this.qrValues], keys: [...this.apiKeys] });
  }

  async close(): Promise<void> {
    const steps: (() => Promise<unknown>)[] = [
      () => killSpawned(),
      // Every session's Chromium (a pool scenario runs several), orphaned by the workers' SIGKILL.
      async () => {
        const profiles = await readdir(path.dirname(this.profileDir)).catch(() => [] as string[]);
        await Promise.all(profiles.filter((name) => name.startsWith('session-')).map((name) => killBrowsers(path.join(path.dirname(this.profileDir), name))));
      },
      () => this.producer.close(),
      () => this.phone.close(),
      () => deleteByPrefix(this.redis, this.prefix),
      async () => this.redis.disconnect(),
      () => rm(this.root, { recursive: true, force: true }),
    ];
    // Every step runs even when one fails (a dead throwaway Redis must not keep Chromium alive).
    for (const step of steps) await step().catch(() => undefined);
  }
}

/** `count` message bodies for one scenario: `wqbody <tag> #0001`, … (the marker feeds the log check). */
export function texts(tag: string, count: number, from = 0): string[] {
  return Array.from({ length: count }, (_v, i) => `${BODY_MARKER} ${tag} #${String(from + i).padStart(4, '0')}`);
}
