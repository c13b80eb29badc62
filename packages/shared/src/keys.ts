/**
 * Every Redis key waq uses, built in one place.
 *
 * Key grammar (`<p>` = WAQ_PREFIX, default `waq`; `<s>` = session id, default `default`):
 *
 *   <p>:{<s>}:session            string  present while the session is registered (sends to a session without it are refused)
 *   <p>:{<s>}:state              string  JSON SessionState, written by the session owner only
 *   <p>:{<s>}:lease              string  id of the owning worker; PX = lease TTL (SET NX, Lua renew)
 *   <p>:{<s>}:events             stream  session events (XADD MAXLEN ~ EVENTS_MAX_LEN)
 *   <p>:{<s>}:msg:<id>           hash    record of one outbound message (phase, WA id, ack, fingerprint)
 *   <p>:{<s>}:messages           zset    message ids by acceptance time in ms (the message list; trimmed past retention)
 *   <p>:{<s>}:expiries           zset    ids of messages with an expiry, by expiry in ms (the owner withdraws them when due)
 *   <p>:{<s>}:settings           string  JSON copy of the session's settings from the registry, for scripts in the session's slot
 *   <p>:{<s>}:pacing             hash    the owner's pacing state: readyUntil, warm-up left/total, dailyCapUntil (send-budget.ts)
 *   <p>:{<s>}:pacing:sends       zset    ids of the messages sent in the last 24 h, by send time in ms (with a daily cap)
 *   <p>:{<s>}:pacing:newchats    zset    recipients written to for the first time in the last 24 h, by that time in ms
 *   <p>:{<s>}:pacing:parked:<r>  zset    ids of sends to recipient r waiting for the new-chat budget, by acceptance in ms
 *   <p>:{<s>}:contacts:known     set     recipients the session has a chat with (no new-chat budget for them)
 *   <p>:{<s>}:number:<digits>    string  JSON answer of WhatsApp on whether a number has an account (NUMBER_CHECK_TTL_S)
 *   <p>:{<s>}:wamsg:<waId>       string  message id of a WhatsApp message id (acks, crash-dedupe)
 *   <p>:{<s>}:control:…          BullMQ  control queue (connect / logout / restart)
 *   <p>:{<s>}:outbox:…           BullMQ  outbox queue (send)
 *   <p>:{<s>}:store              hash    the session store: current and previous backup generations (session-store.ts)
 *   <p>:{<s>}:store:gens         set     the generations that have keys
 *   <p>:{<s>}:store:<g>          hash    manifest of backup generation g (state, size, checksum, writer)
 *   <p>:{<s>}:store:<g>:<i>      string  chunk i of backup generation g
 *   <p>:{<s>}:webhooks           hash    the session's webhook subscriptions: id → JSON (webhook-registry.ts)
 *   <p>:{<s>}:webhooks:order     string  counter of the subscriptions created (their order)
 *   <p>:{<s>}:webhook:<w>:cursor string  id of the last event of the session's stream dispatched to subscription w
 *   <p>:{<s>}:webhook:<w>:seq    hash    subscription w's next seq (`#next`) and the seq of each event being dispatched
 *   <p>:{<s>}:webhook:<w>:dead   list    dead letters of subscription w, oldest first (JSON)
 *   <p>:{<s>}:webhook-<w>:…      BullMQ  subscription w's delivery queue
 *   <p>:login:<address>          hash    wrong sign-ins from one client address (API login throttle)
 *   <p>:sessions                 hash    the session registry: id → JSON record (desired state, settings)
 *   <p>:sessions:seeded          string  set once the configured SESSION_ID was registered (a deleted one stays deleted)
 *   <p>:deleted:{<s>}            string  JSON report of a deleted session (the sends it failed), kept MESSAGE_RETENTION_S
 *   <p>:workers                  hash    the worker registry: worker id → JSON record (host, capacity, sessions, heartbeat)
 *
 * `{<s>}` is a Redis Cluster hash tag: every key of one session lives in one slot, so the session's
 * MULTI blocks, Lua scripts and BullMQ queues (whose scripts touch many keys) work on Redis Cluster.
 */

export interface KeyScope {
  /** WAQ_PREFIX */
  readonly prefix: string;
  /** SESSION_ID */
  readonly sessionId: string;
}

export interface SessionKeys {
  /** BullMQ `prefix` option for this session's queues (`<p>:{<s>}`). */
  readonly bullPrefix: string;
  /** Present while the session is registered: the send script refuses a session without it. */
  readonly registered: string;
  readonly state: string;
  readonly lease: string;
  /** Message ids by acceptance time (ms): the message list. */
  readonly messages: string;
  /** Ids of messages that expire, by expiry (ms). */
  readonly expiries: string;
  /** The session's settings, copied from the registry into the session's slot (read by the send script). */
  readonly settings: string;
  /** The owner's pacing state (readyUntil, warm-up, dailyCapUntil). */
  readonly pacing: string;
  readonly pacingSends: string;
  readonly pacingNewChats: string;
  pacingParked(recipient: string): string;
  readonly knownContacts: string;
  /** The cached answer on whether a phone number (digits, country code first) is on WhatsApp. */
  numberCheck(digits: string): string;
  readonly events: string;
  message(id: string): string;
  waMessage(waMessageId: string): string;
  /** The session store's index (current, previous, next generation). */
  readonly store: string;
  readonly storeGenerations: string;
  storeGeneration(generation: number): string;
  storeChunk(generation: number, index: number): string;
  /** The session's webhook subscriptions (webhook-registry.ts). */
  readonly webhooks: string;
  readonly webhookOrder: string;
  webhookCursor(webhookId: string): string;
  webhookSeq(webhookId: string): string;
  webhookDead(webhookId: string): string;
  /** A stored media file's manifest (media-store.ts) and its chunks. */
  media(mediaId: string): string;
  mediaChunk(mediaId: string, index: number): string;
  /**
   * Set by the owner of a session being deleted once it has logged out of WhatsApp, before it gives the
   * lease up: whichever worker then runs the deletion reports the logout (session-deletion.ts).
   */
  readonly deletionLoggedOut: string;
}

export function sessionKeys({ prefix, sessionId }: KeyScope): SessionKeys {
  const base = `${prefix}:{${sessionId}}`;
  return {
    bullPrefix: base,
    registered: `${base}:session`,
    state: `${base}:state`,
    lease: `${base}:lease`,
    messages: `${base}:messages`,
    expiries: `${base}:expiries`,
    settings: `${base}:settings`,
    pacing: `${base}:pacing`,
    pacingSends: `${base}:pacing:sends`,
    pacingNewChats: `${base}:pacing:newchats`,
    pacingParked: (recipient) => `${base}:pacing:parked:${recipient}`,
    knownContacts: `${base}:contacts:known`,
    numberCheck: (digits) => `${base}:number:${digits}`,
    events: `${base}:events`,
    message: (id) => `${base}:msg:${id}`,
    waMessage: (waMessageId) => `${base}:wamsg:${waMessageId}`,
    store: `${base}:store`,
    storeGenerations: `${base}:store:gens`,
    storeGeneration: (generation) => `${base}:store:${generation}`,
    storeChunk: (generation, index) => `${base}:store:${generation}:${index}`,
    webhooks: `${base}:webhooks`,
    webhookOrder: `${base}:webhooks:order`,
    webhookCursor: (webhookId) => `${base}:webhook:${webhookId}:cursor`,
    webhookSeq: (webhookId) => `${base}:webhook:${webhookId}:seq`,
    webhookDead: (webhookId) => `${base}:webhook:${webhookId}:dead`,
    media: (mediaId) => `${base}:media:${mediaId}`,
    mediaChunk: (mediaId, index) => `${base}:media:${mediaId}:${index}`,
    deletionLoggedOut: `${base}:deletion:logged-out`,
  };
}

/**
 * Wrong `/login` attempts from one client address (`failures`, `lockedUntil` in ms): shared by every
 * API process of the installation, so a second process is no way around the throttle. Not session-scoped.
 */
export function loginThrottleKey(prefix: string, address: string): string {
  return `${prefix}:login:${address}`;
}

/** Installation-wide keys (not session-scoped: single keys, so they need no hash tag on Redis Cluster). */
export interface RegistryKeys {
  /** The session registry (session-registry.ts). */
  readonly sessions: string;
  /** Set once the configured SESSION_ID has been registered (`SessionRegistry.seed`). */
  readonly seeded: string;
  /** The worker registry (worker-registry.ts). */
  readonly workers: string;
  /** The report of a deleted session, read by the API's DELETE (session-deletion.ts in the worker). */
  deleted(sessionId: string): string;
}

export function registryKeys(prefix: string): RegistryKeys {
  return {
    sessions: `${prefix}:sessions`,
    seeded: `${prefix}:sessions:seeded`,
    workers: `${prefix}:workers`,
    deleted: (sessionId) => `${prefix}:deleted:{${sessionId}}`,
  };
}
