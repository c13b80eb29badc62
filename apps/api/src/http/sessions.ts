/**
 * The session registry over HTTP: `POST /v1/sessions`, `GET /v1/sessions`, `GET|PATCH|DELETE
 * /v1/sessions/:session`, `POST /v1/sessions/:session/start|stop`. The API only writes the registry
 * (shared/session-registry.ts); the worker pool acts on it: claims what is wanted running, lets go of
 * what is stopped, and deletes what is marked deleted (apps/worker/src/session-deletion.ts).
 */
import { setTimeout as delay } from 'node:timers/promises';

import {
  registeredSessionIdSchema,
  SessionStore,
  toFieldProblems,
  WAITING_JOB_STATES,
  pacingPolicy,
  readPacingUsage,
  type PacingConfig,
  type PacingPolicy,
  type PacingUsage,
  type DesiredState,
  type Producer,
  type RedisClient,
  type ReportedSessionState,
  type SessionRecord,
  type SessionRegistry,
  type SessionSettings,
} from '@waq/shared';

import { errorResponse, type HttpResult } from './error-response.js';
import { createSessionBodySchema, patchSessionBodySchema } from './schemas.js';

export interface SessionView extends SessionRecord {
  readonly state: ReportedSessionState;
  /** The worker holding the lease, or null. */
  readonly owner: string | null;
  /** Sends accepted and not sent yet: held while the session is not READY, else queued. */
  readonly waitingSends: number;
  /** Its newest good backup in the session store (SESSION_STORE=redis), or null. */
  readonly backup: BackupView | null;
  /** Its sending policy (its settings over the configuration) and how much of its budgets it used. */
  readonly pacing: PacingPolicy & PacingUsage;
}

export interface BackupView {
  readonly generation: number;
  readonly bytes: number;
  readonly completedAt: string;
  readonly ageSeconds: number;
  /** READY, and the backup is older than SESSION_BACKUP_MAX_AGE_MS: a takeover now would lose what changed since. */
  readonly stale: boolean;
}


export interface SessionsDependencies {
  readonly registry: SessionRegistry;
  /** The API's producer: `producer.session(id)` for each session. */
  readonly producer: Producer;
  readonly redis: RedisClient;
  /** How long a `DELETE` waits for a worker to finish the deletion. */
  readonly deleteWaitMs: number;
  /** SESSION_STORE and SESSION_BACKUP_MAX_AGE_MS: whether sessions have backups to show, and when one is stale. */
  readonly backups: { readonly store: 'local' | 'redis'; readonly maxAgeMs: number };
  /** Called when a session stops existing for the API (deleted), so caches let go of it. */
  readonly onDeleted?: (id: string) => void;
  /** The SEND_* configuration, under a session's settings (the policy its worker applies). */
  readonly pacing: PacingConfig;
}

export function sessionNotFound(id: string): HttpResult {
  return errorResponse(404, 'session_not_found', `there is no session ${JSON.stringify(id.slice(0, 64))}: create it with POST /v1/sessions, or list them with GET /v1/sessions`);
}

/** Error answers of the registry's `desired: deleted` (a deletion is final). */
function beingDeleted(id: string): HttpResult {
  return errorResponse(409, 'session_deleting', `session ${JSON.stringify(id)} is being deleted: wait for the deletion to finish (GET /v1/sessions/${id} answers 404), then create it again if you want it back`);
}

/** A `:session` path parameter: a registered id (capitals only for a waq 0.1 SESSION_ID), else null. */
export function sessionIdParam(raw: unknown): string | null {
  const result = registeredSessionIdSchema.safeParse(raw);
  return result.success ? result.data : null;
}

export async function sessionView(deps: Pick<SessionsDependencies, 'producer' | 'redis' | 'backups' | 'pacing'>, record: SessionRecord): Promise<SessionView> {
  const session = deps.producer.session(record.id);
  const store = deps.backups.store === 'redis' ? new SessionStore(deps.redis, session.queues.keys, record.id) : undefined;
  const [state, holder, counts, stored, usage] = await Promise.all([
    session.getState(),
    deps.redis.get(session.queues.keys.lease),
    session.queues.outbox.getJobCounts(...WAITING_JOB_STATES),
    store?.state(),
    readPacingUsage(deps.redis, session.queues.keys),
  ]);
  const waitingSends = Object.values(counts).reduce((sum, n) => sum + n, 0);
  const current = stored?.current ?? null;
  const ageMs = current === null ? 0 : Math.max(0, Date.now() - current.completedAt.getTime());
  const backup =
    current === null
      ? null
      : { generation: current.generation, bytes: current.bytes, completedAt: current.completedAt.toISOString(), ageSeconds: Math.round(ageMs / 1_000), stale: state.status === 'READY' && ageMs > deps.backups.maxAgeMs };
  return { ...record, state, owner: state.status === 'WORKER_OFFLINE' ? null : holder, waitingSends, backup, pacing: { ...pacingPolicy(record.settings, deps.pacing), ...usage } };
}

function invalidBody(details: Parameters<typeof errorResponse>[3]): HttpResult {
  return errorResponse(422, 'invalid_payload', 'the request is invalid: see details for the fields at fault', details);
}

function objectBody(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}

export async function createSession(deps: SessionsDependencies, body: unknown): Promise<HttpResult> {
  if (!objectBody(body)) return invalidBody([{ path: '', message: 'the body must be a JSON object such as {"id": "sales"}' }]);
  const parsed = createSessionBodySchema.safeParse(body);
  if (!parsed.success) return invalidBody(toFieldProblems(parsed.error));
  const { id, desired, settings } = parsed.data;
  const { created, record } = await deps.registry.create(id, { ...(desired === undefined ? {} : { desired }), ...(settings === undefined ? {} : { settings }) });
  if (!created) {
    if (record.desired === 'deleted') return beingDeleted(id);
    return errorResponse(409, 'session_exists', `session ${JSON.stringify(id)} already exists: change it with PATCH /v1/sessions/${id}, or pick another id`, [{ path: 'id', message: 'already exists' }]);
  }
  return { status: 201, body: await sessionView(deps, record), headers: { Location: `/v1/sessions/${id}` } };
}

export async function listSessions(deps: SessionsDependencies): Promise<HttpResult> {
  const { sessions, unreadable } = await deps.registry.list();
  return { status: 200, body: { sessions: await Promise.all(sessions.map((record) => sessionView(deps, record))), unreadable } };
}

/** The record of a session that exists (a deleted one is gone for readers), or the 404 answer. */
async function existing(deps: SessionsDependencies, raw: unknown): Promise<SessionRecord | HttpResult> {
  const id = sessionIdParam(raw);
  const record = id === null ? null : await deps.registry.get(id);
  return record === null ? sessionNotFound(String(raw)) : record;
}

const isAnswer = (value: SessionRecord | HttpResult): value is HttpResult => 'status' in value && typeof value.status === 'number';

export async function describeSession(deps: SessionsDependencies, raw: unknown): Promise<HttpResult> {
  const record = await existing(deps, raw);
  if (isAnswer(record)) return record;
  return { status: 200, body: await sessionView(deps, record) };
}

export async function updateSession(deps: SessionsDependencies, raw: unknown, body: unknown): Promise<HttpResult> {
  if (!objectBody(body)) return invalidBody([{ path: '', message: 'the body must be a JSON object such as {"settings": {"sendIntervalMs": 2000}}' }]);
  const parsed = patchSessionBodySchema.safeParse(body);
  if (!parsed.success) return invalidBody(toFieldProblems(parsed.error));
  const record = await existing(deps, raw);
  if (isAnswer(record)) return record;
  if (record.desired === 'deleted') return beingDeleted(record.id);
  const settings = Object.fromEntries(Object.entries(parsed.data.settings).filter(([, value]) => value !== undefined)) as { [K in keyof SessionSettings]?: SessionSettings[K] | null };
  const updated = await deps.registry.update(record.id, { settings });
  if (updated === null) return sessionNotFound(record.id);
  return { status: 200, body: await sessionView(deps, updated) };
}

export async function setDesired(deps: SessionsDependencies, raw: unknown, desired: Exclude<DesiredState, 'deleted'>): Promise<HttpResult> {
  const record = await existing(deps, raw);
  if (isAnswer(record)) return record;
  if (record.desired === 'deleted') return beingDeleted(record.id);
  const updated = await deps.registry.update(record.id, { desired });
  if (updated === null) return sessionNotFound(record.id);
  return { status: 200, body: await sessionView(deps, updated) };
}

/** How often a waiting `DELETE` looks whether the worker is done (the registry entry is gone). */
const DELETE_POLL_MS = 200;

/**
 * Marks the session deleted (no send is accepted from this moment), then, with `wait`, waits for a
 * worker to finish: 200 with its report of the sends it failed, or 202 while it is still going (no
 * worker running, or a slow logout). A repeat of a finished deletion answers the report again.
 */
export async function deleteSession(deps: SessionsDependencies, raw: unknown, { wait, signal }: { wait: boolean; signal: AbortSignal }): Promise<HttpResult> {
  const id = sessionIdParam(raw);
  if (id === null) return sessionNotFound(String(raw));
  const marked = await deps.registry.markDeleted(id);
  if (marked === null) {
    const report = await deps.registry.deletionReport(id);
    return report === null ? sessionNotFound(id) : { status: 200, body: { deleted: true, report } };
  }
  deps.onDeleted?.(id);
  const deadline = Date.now() + (wait ? deps.deleteWaitMs : 0);
  while (Date.now() < deadline && !signal.aborted) {
    await delay(DELETE_POLL_MS, undefined, { signal }).catch(() => undefined);
    if ((await deps.registry.get(id)) === null) {
      return { status: 200, body: { deleted: true, report: await deps.registry.deletionReport(id) } };
    }
  }
  return { status: 202, body: { deleted: false, report: null }, headers: { Location: `/v1/sessions/${id}` } };
}
