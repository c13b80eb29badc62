/**
 * Deleting a session (`DELETE /v1/sessions/:id` marks it `deleted` in the registry; the worker that
 * owns it, or the first pool member to claim it, runs this): under the session's lease, every send
 * still waiting is reported failed with code `session_deleted` (the report is written before anything
 * is removed, so no accepted send disappears unreported), then its queues, every key of its hash tag
 * and its profile are removed, and last its registry entry. The owner has already logged out of
 * WhatsApp and stopped its Chromium when the session was running (pool.ts).
 *
 * Idempotent: a deletion cut off half-way (the worker died) is run again by whoever claims the session
 * next, and the first report stands (`SET NX`). A deletion started from a stale read of the registry
 * (another run has finished it, or the id has been created again since) does nothing: it looks at the
 * registry before it opens a connection and again once it holds the lease, so it neither leaves a key
 * behind nor touches the sends of a new session of the same id.
 */
import { registryKeys, scanKeys, SESSION_DELETED, WAITING_JOB_STATES, type DeletionReport, type KeyScope, type Logger, type RedisClient, type SessionRegistry } from '@waq/shared';

import { createOwnerConnections } from './connections.js';
import { SessionLease } from './lease.js';
import { SessionProfile } from './profile.js';

export interface DeletionOptions extends KeyScope {
  readonly redisUrl: string;
  readonly workerId: string;
  readonly registry: SessionRegistry;
  readonly sessionDir: string;
  readonly leaseTtlMs: number;
  /** How long the report is kept (MESSAGE_RETENTION_S). */
  readonly retentionSeconds: number;
  readonly loggedOut: boolean;
  readonly logger: Logger;
}

/**
 * Runs the deletion; undefined when another worker holds the session (it will run it) or when the
 * registry no longer marks the session deleted (already deleted, or created again).
 */
export async function deleteSession(options: DeletionOptions): Promise<DeletionReport | undefined> {
  const { redisUrl, prefix, sessionId, workerId, registry, logger } = options;
  const markedDeleted = async (): Promise<boolean> => (await registry.get(sessionId))?.desired === 'deleted';
  if (!(await markedDeleted())) return undefined;
  // The queues do not write their meta hash: a deletion that stops at the second look leaves nothing.
  const connections = createOwnerConnections(redisUrl, { prefix, sessionId }, `${workerId}:${sessionId}:delete`, logger, { writeMeta: false });
  const { redis, queues } = connections;
  const lease = new SessionLease({ redis, key: queues.keys.lease, workerId, sessionId, ttlMs: options.leaseTtlMs, logger });
  try {
    if (!(await lease.claimOnce())) return undefined;
    if (!(await markedDeleted())) {
      logger.info('session deletion: already done, or the session was created again; nothing to delete');
      return undefined;
    }
    await lease.assertHeld();
    // The owner that logged out may have stopped before this worker claimed the session (pool.ts).
    const loggedOut = options.loggedOut || (await redis.exists(queues.keys.deletionLoggedOut)) === 1;
    await queues.outbox.pause();
    const jobs = await queues.outbox.getJobs([...WAITING_JOB_STATES], 0, -1, true);
    const failedSends: DeletionReport['failedSends'] = jobs
      .filter((job) => job.name === 'send' && job.id !== undefined)
      .map((job) => {
        const { to } = job.data as { to?: unknown };
        return { id: String(job.id), to: typeof to === 'string' ? to : '', code: SESSION_DELETED };
      });
    const report: DeletionReport = { sessionId, deletedAt: new Date().toISOString(), failedSends, loggedOut };
    const reportKey = registryKeys(prefix).deleted(sessionId);
    await lease.assertHeld();
    await redis.set(reportKey, JSON.stringify(report), 'EX', options.retentionSeconds, 'NX');
    if (failedSends.length > 0) logger.warn({ failed: failedSends.length }, `session deleted: ${failedSends.length} send(s) still waiting are reported failed (${SESSION_DELETED})`);

    await Promise.all([queues.control.obliterate({ force: true }), queues.outbox.obliterate({ force: true })]);
    await lease.release();
    const removed = await unlinkSessionKeys(redis, `${prefix}:{${sessionId}}:*`);
    const profile = await new SessionProfile(options.sessionDir, sessionId, logger).remove();
    await registry.remove(sessionId);
    logger.info({ keysRemoved: removed, profile }, 'session deleted: queues, keys and profile removed');
    return JSON.parse((await redis.get(reportKey)) ?? JSON.stringify(report)) as DeletionReport;
  } finally {
    await lease.release().catch(() => undefined);
    await connections.close();
  }
}

/**
 * UNLINKs every key matching `pattern`: one session's hash tag, so one slot, and one multi-key UNLINK
 * per batch is allowed on Redis Cluster too.
 */
async function unlinkSessionKeys(redis: RedisClient, pattern: string): Promise<number> {
  let removed = 0;
  for await (const keys of scanKeys(redis, pattern)) removed += await redis.unlink(...keys);
  return removed;
}
