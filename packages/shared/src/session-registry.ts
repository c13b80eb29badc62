/**
 * The session registry: which sessions an installation has, what each should be doing (`desired`:
 * `running` or `stopped`) and its per-session settings. Sessions are data: the API writes here, and the
 * worker pool claims what is wanted running (DESIGN.md, "Many sessions, many machines").
 *
 * One Redis hash, `<p>:sessions`, field = session id, value = the JSON record. A single key, so it works
 * on Redis Cluster without a hash tag; every per-session key keeps its own `{<s>}` tag (keys.ts). Every
 * change is one atomic command or script: two API processes creating the same id get one winner.
 * A record that does not parse (hand-edited, written by a newer waq) is reported, never thrown at a reader.
 */
import { z } from 'zod';

import { registryKeys, sessionKeys, type RegistryKeys } from './keys.js';
import { RedisScript } from './redis-script.js';
import type { RedisClient } from './redis.js';

/** Ids of new sessions: safe in Redis keys, file names (the profile) and URL paths, with no case ambiguity. */
export const SESSION_ID_PATTERN = /^[a-z0-9_-]{1,64}$/;

export const sessionIdSchema = z
  .string()
  .regex(SESSION_ID_PATTERN, { error: 'must be 1-64 characters: lowercase letters, digits, "-" and "_"' });

/**
 * Ids a registered session may have: new ones are lowercase (`sessionIdSchema`), but a deployment of
 * waq 0.1 may run a `SESSION_ID` with capitals, and its session (keys, held sends, profile) must
 * keep working after the upgrade without a rename.
 */
export const REGISTERED_SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const registeredSessionIdSchema = z
  .string()
  .regex(REGISTERED_SESSION_ID_PATTERN, { error: 'must be 1-64 characters: letters, digits, "-" and "_"' });

/** What an operator can ask of a session (`deleted` is set by a DELETE and is final). */
export const DESIRED_STATES = ['running', 'stopped'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number] | 'deleted';

/** Longest `messageTtlSeconds` (and a send's `ttlSeconds`): 30 days. */
export const MAX_MESSAGE_TTL_S = 30 * 86_400;

/** Per-session settings; an unset one takes the worker's configured value (SEND_INTERVAL_MS, …). */
export const sessionSettingsSchema = z.strictObject({
  sendIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
  sendJitterMs: z.number().int().min(0).max(3_600_000).optional(),
  /** A send without `expiresAt` or `ttlSeconds` expires this many seconds after it was accepted (unset: never). */
  messageTtlSeconds: z.number().int().min(1).max(MAX_MESSAGE_TTL_S).optional(),
  /** SEND_DAILY_CAP of this session (0: no cap). */
  dailyCap: z.number().int().min(0).max(1_000_000).optional(),
  /** SEND_NEW_CHATS_PER_DAY of this session (0: no budget). */
  newChatsPerDay: z.number().int().min(0).max(1_000_000).optional(),
  /** SEND_WARMUP_AFTER_S of this session. */
  warmupAfterSeconds: z.number().int().min(1).max(MAX_MESSAGE_TTL_S).optional(),
  /** SEND_WARMUP_MESSAGES of this session (0: no warm-up). */
  warmupMessages: z.number().int().min(0).max(10_000).optional(),
  /** SEND_WARMUP_INTERVAL_MS of this session. */
  warmupIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
  /** SEND_TYPING of this session. */
  typing: z.boolean().optional(),
});
export type SessionSettings = z.infer<typeof sessionSettingsSchema>;

export const sessionRecordSchema = z.object({
  id: registeredSessionIdSchema,
  desired: z.enum([...DESIRED_STATES, 'deleted']),
  settings: sessionSettingsSchema,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type SessionRecord = z.infer<typeof sessionRecordSchema>;

/** Why the sends of a deleted session were not sent (API and webhook consumers match on it). */
export const SESSION_DELETED = 'session_deleted';

/**
 * What deleting a session did, written by the worker that deleted it (`<p>:deleted:{<s>}`, kept
 * MESSAGE_RETENTION_S) and answered by `DELETE /v1/sessions/:id`: every send that was still waiting,
 * reported failed, so none disappears unreported.
 */
export const deletionReportSchema = z.object({
  sessionId: z.string(),
  deletedAt: z.iso.datetime(),
  /** Sends that were still waiting: none of them will be sent. */
  failedSends: z.array(z.object({ id: z.string(), to: z.string(), code: z.literal(SESSION_DELETED) })),
  /** Whether WhatsApp confirmed the unlink (only a session READY at deletion can log out). */
  loggedOut: z.boolean(),
});
export type DeletionReport = z.infer<typeof deletionReportSchema>;

/** A registry entry that does not parse: listed so an operator sees it, never used. */
export interface UnreadableSession {
  readonly id: string;
  readonly problem: string;
}

function decode(id: string, raw: string): SessionRecord | UnreadableSession {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { id, problem: 'not JSON' };
  }
  const result = sessionRecordSchema.safeParse(value);
  if (!result.success) return { id, problem: result.error.issues.map((issue) => `${issue.path.join('.') || 'record'}: ${issue.message}`).join('; ') };
  if (result.data.id !== id) return { id, problem: `the record names session "${result.data.id}"` };
  return result.data;
}

export const isReadable = (entry: SessionRecord | UnreadableSession): entry is SessionRecord => !('problem' in entry);

/**
 * KEYS[1] the registry; ARGV: id, JSON patch of top-level fields (settings merged field by field, a
 * `null` setting removes it), updatedAt. Returns the new record, or false when there is none.
 */
const UPDATE = new RedisScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local record = cjson.decode(raw)
local patch = cjson.decode(ARGV[2])
-- A deletion is final: nothing brings a session marked deleted back.
if patch.desired and record.desired ~= 'deleted' then record.desired = patch.desired end
if patch.settings then
  if type(record.settings) ~= 'table' then record.settings = {} end
  for name, value in pairs(patch.settings) do
    if value == cjson.null then record.settings[name] = nil else record.settings[name] = value end
  end
end
record.updatedAt = ARGV[3]
local encoded = cjson.encode(record)
-- cjson encodes an empty table as {}: the settings object stays an object.
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
`);

export interface SessionPatch {
  readonly desired?: (typeof DESIRED_STATES)[number];
  /** Settings to set; `null` removes one (back to the worker's configured value). */
  readonly settings?: { readonly [K in keyof SessionSettings]?: SessionSettings[K] | null };
}

/**
 * Besides its entry here, a registered session has a marker key in its own hash slot
 * (`SessionKeys.registered`), which the send script checks in the same call that claims the message:
 * a send to a session that does not exist (a typo, or one deleted) is refused at no extra round trip.
 * The two are written one after the other (they are in different slots on Redis Cluster): the entry
 * first on create, the marker first on delete, so a marker never outlives its entry for long, and
 * `create` and a worker's claim put a missing marker back.
 */
export class SessionRegistry {
  readonly key: string;
  private readonly keys: RegistryKeys;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.keys = registryKeys(prefix);
    this.key = this.keys.sessions;
  }

  /** Creates `id` (a new id: lowercase), wanted running unless said otherwise; an existing one is returned untouched, `created: false`. */
  async create(id: string, options: { desired?: (typeof DESIRED_STATES)[number]; settings?: SessionSettings } = {}): Promise<{ created: boolean; record: SessionRecord }> {
    return this.insert(sessionIdSchema.parse(id), options);
  }

  private async insert(id: string, { desired = 'running', settings = {} }: { desired?: (typeof DESIRED_STATES)[number]; settings?: SessionSettings }): Promise<{ created: boolean; record: SessionRecord }> {
    const at = this.now().toISOString();
    const record = sessionRecordSchema.parse({ id, desired, settings, createdAt: at, updatedAt: at });
    if ((await this.redis.hsetnx(this.key, id, JSON.stringify(record))) === 1) {
      // The report of an earlier session of that id would stand in for this one's (it is written NX).
      await Promise.all([this.markRegistered(record), this.redis.del(this.keys.deleted(id))]);
      return { created: true, record };
    }
    const existing = await this.get(id);
    if (existing === null) throw new Error(`session "${id}" exists but its registry entry is unreadable; fix or delete it (HDEL ${this.key} ${id})`);
    if (existing.desired !== 'deleted') await this.markRegistered(existing);
    return { created: false, record: existing };
  }

  /**
   * Registers the configured `SESSION_ID` once per installation (wanted running), so a deployment of
   * one session (waq 0.1) keeps running it after the upgrade, profile and held sends included. Once
   * seeded, a session an operator deleted stays deleted. The id may have capitals (waq 0.1 allowed
   * them). Returns whether this call registered it.
   */
  async seed(id: string): Promise<boolean> {
    const checked = registeredSessionIdSchema.parse(id);
    if ((await this.redis.set(this.keys.seeded, checked, 'NX')) !== 'OK') return false;
    return (await this.insert(checked, {})).created;
  }

  /**
   * Puts the session's marker key back, with the copy of its settings the send script reads in the
   * session's slot (idempotent): a worker calls it when it claims the session.
   */
  async markRegistered(record: Pick<SessionRecord, 'id' | 'createdAt' | 'settings'>): Promise<void> {
    const keys = sessionKeys({ prefix: this.prefix, sessionId: record.id });
    await this.redis.multi().set(keys.registered, record.createdAt).set(keys.settings, JSON.stringify(record.settings)).exec();
  }

  /** The record of `id`, or null when there is none or it is unreadable. */
  async get(id: string): Promise<SessionRecord | null> {
    const raw = await this.redis.hget(this.key, id);
    if (raw === null) return null;
    const entry = decode(id, raw);
    return isReadable(entry) ? entry : null;
  }

  /** Every session, sorted by id; unreadable entries are listed apart. */
  async list(): Promise<{ sessions: SessionRecord[]; unreadable: UnreadableSession[] }> {
    const entries = Object.entries(await this.redis.hgetall(this.key)).map(([id, raw]) => decode(id, raw));
    entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { sessions: entries.filter(isReadable), unreadable: entries.filter((entry): entry is UnreadableSession => !isReadable(entry)) };
  }

  /** Applies `patch` atomically; null when `id` does not exist. */
  async update(id: string, patch: SessionPatch): Promise<SessionRecord | null> {
    if (patch.desired !== undefined) z.enum(DESIRED_STATES).parse(patch.desired);
    if (patch.settings !== undefined) sessionSettingsSchema.parse(Object.fromEntries(Object.entries(patch.settings).filter(([, value]) => value !== null)));
    const encoded = (await UPDATE.run(this.redis, [this.key], [id, JSON.stringify(patch), this.now().toISOString()])) as string | null;
    if (encoded === null) return null;
    const entry = decode(id, encoded);
    if (!isReadable(entry)) throw new Error(`session "${id}": the updated registry entry does not parse (${entry.problem})`);
    // A session marked deleted has no marker any more, and must not get one back.
    if (patch.settings !== undefined && entry.desired !== 'deleted') await this.redis.set(sessionKeys({ prefix: this.prefix, sessionId: id }).settings, JSON.stringify(entry.settings));
    return entry;
  }

  /**
   * Marks `id` for deletion: no send is accepted from now on (the marker goes first), and the worker
   * that owns it (or the first to claim it) deletes it (session-deletion.ts in the worker). Null when
   * there is no such session.
   */
  async markDeleted(id: string): Promise<SessionRecord | null> {
    await this.redis.del(sessionKeys({ prefix: this.prefix, sessionId: id }).registered);
    const encoded = (await UPDATE.run(this.redis, [this.key], [id, JSON.stringify({ desired: 'deleted' }), this.now().toISOString()])) as string | null;
    if (encoded === null) return null;
    const entry = decode(id, encoded);
    return isReadable(entry) ? entry : null;
  }

  /** The report of the deletion of `id` (null while it has not finished, or past its retention). */
  async deletionReport(id: string): Promise<DeletionReport | null> {
    const raw = await this.redis.get(this.keys.deleted(id));
    if (raw === null) return null;
    try {
      const parsed = deletionReportSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** Removes `id` from the registry, marker first (its keys, queues and profile are the caller's to clean up). */
  async remove(id: string): Promise<boolean> {
    await this.redis.del(sessionKeys({ prefix: this.prefix, sessionId: id }).registered);
    return (await this.redis.hdel(this.key, id)) === 1;
  }
}
