/**
 * Which sessions exist, as the API's routes need to know it: before a per-session route runs, its
 * session must be in the registry (and not being deleted). A session seen to exist is trusted for
 * `trustMs` without asking Redis again, so a burst of sends costs no extra round trip; a send still
 * checks the session's marker in its own script (producer.ts), so a session deleted meanwhile, by this
 * API or another, accepts nothing.
 *
 * The configured SESSION_ID is registered once per installation (the worker does it too), so a
 * deployment of waq 0.1 keeps its session and its routes after the upgrade: on the first `ready` of the
 * connection, and again on the next request that needs it if Redis was not there.
 */
import type { RedisClient, SessionRegistry } from '@waq/shared';

export interface KnownSessionsOptions {
  readonly registry: SessionRegistry;
  /** The API's connection: seeding starts when it is ready. */
  readonly redis: RedisClient;
  /** SESSION_ID */
  readonly defaultSessionId: string;
  /** @defaultValue 2000 */
  readonly trustMs?: number;
}

export class KnownSessions {
  private readonly until = new Map<string, number>();
  private seeding: Promise<void> | undefined;

  constructor(private readonly options: KnownSessionsOptions) {
    const seedQuietly = (): void => void this.seeded().catch(() => undefined);
    if (options.redis.status === 'ready') seedQuietly();
    options.redis.on('ready', seedQuietly);
  }

  /** Resolves once SESSION_ID is registered (at once after the first time). */
  seeded(): Promise<void> {
    this.seeding ??= this.options.registry.seed(this.options.defaultSessionId).then(
      () => undefined,
      (error: unknown) => {
        this.seeding = undefined;
        throw error;
      },
    );
    return this.seeding;
  }

  /** Whether `id` is registered and not being deleted. */
  async exists(id: string): Promise<boolean> {
    if (id === this.options.defaultSessionId) await this.seeded();
    if ((this.until.get(id) ?? 0) > Date.now()) return true;
    const record = await this.options.registry.get(id);
    if (record === null || record.desired === 'deleted') {
      this.until.delete(id);
      return false;
    }
    this.until.set(id, Date.now() + (this.options.trustMs ?? 2_000));
    return true;
  }

  /** Stops trusting that `id` exists (this API just deleted it). */
  forget(id: string): void {
    this.until.delete(id);
  }
}
