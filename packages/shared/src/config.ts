/**
 * Configuration: one zod schema over environment variables, parsed once by each process's `main.ts`
 * through `loadConfig()`. Nothing else in waq reads `process.env`.
 *
 * Every variable carries its meaning, unit and default in `.meta()`; `configReference()` turns that into
 * the README's configuration table and `.env.example`, and a test keeps both in step with this file.
 */
import { z } from 'zod';

import { ConfigError } from './errors.js';
import { parseClusterUrl } from './redis-url.js';
import { DEFAULT_WEBHOOK_EVENTS, WEBHOOK_EVENT_TYPES, webhookEventTypeSchema, webhookUrlSchema, type WebhookEventType } from './webhook-registry.js';
import { webhookSecretSchema } from './webhook-signature.js';

const port = (fallback: number) => z.coerce.number().int().min(1).max(65_535).default(fallback);
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const nonNegativeInt = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
/** "true/false/1/0/yes/no/on/off", case-insensitive. */
const bool = (fallback: boolean) => z.stringbool().default(fallback);
/** An unset or empty variable means "not set" (docker-compose passes `VAR=` for empty values). */
const optionalString = () => z.preprocess((value) => (value === '' ? undefined : value), z.string().optional());
const ID = /^[A-Za-z0-9_-]{1,64}$/;
/** The shortest API key accepted, configured or stored: a key is the only lock on the API. */
export const API_KEY_MIN_LENGTH = 32;

export const configSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?(\+cluster)?:\/\/.+/, { error: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379 (redis+cluster://host:port,host:port for a Redis Cluster)' })
    .superRefine((url, context) => {
      try {
        parseClusterUrl(url);
      } catch (error) {
        context.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      }
    })
    .default('redis://127.0.0.1:6379')
    .meta({
      description:
        'Redis connection URL (`rediss://` for TLS). A Redis Cluster: `redis+cluster://[user:password@]host:port[,host:port…]` (`rediss+cluster://` for TLS), one or more seed nodes. `npm start` starts an embedded Redis when unset.',
    }),
  WAQ_PREFIX: z
    .string()
    .regex(ID, { error: 'may only contain letters, digits, "_" and "-" (1-64 characters)' })
    .default('waq')
    .meta({ description: 'Prefix of every Redis key and queue; run several independent installations on one Redis with different prefixes.' }),
  SESSION_ID: z
    .string()
    .regex(ID, { error: 'may only contain letters, digits, "_" and "-" (1-64 characters)' })
    .default('default')
    .meta({ description: 'The session registered on the first start of an installation and addressed by the single-session routes (`/v1/session`, `/v1/messages`). Sessions are created with `POST /v1/sessions`.' }),
  SESSION_DIR: z
    .string()
    .min(1)
    .default('./.wwebjs_auth')
    .meta({ description: 'Directory of the saved WhatsApp sessions (Chromium profiles). Back it up; losing it means pairing again.' }),
  SESSION_STORE: z
    .enum(['local', 'redis'], { error: 'must be local (profiles on this machine only) or redis (profiles backed up to Redis, for workers on several hosts)' })
    .default('local')
    .meta({ description: 'Where session profiles live: `local` (SESSION_DIR only: one machine) or `redis` (also backed up to Redis, so a worker on another host takes a session over without a QR). See docs/operations.md.' }),
  SESSION_BACKUP_DELAY_MS: nonNegativeInt(5_000).meta({ description: 'With SESSION_STORE=redis: from READY to the first backup of a session, in ms.' }),
  SESSION_BACKUP_INTERVAL_MS: positiveInt(300_000).meta({ description: 'With SESSION_STORE=redis: how often a READY session is backed up, in ms (also on a graceful shutdown).' }),
  SESSION_BACKUP_WARN_BYTES: positiveInt(100 * 1024 * 1024).meta({ description: 'With SESSION_STORE=redis: a backup larger than this many bytes (compressed) is logged as a warning.' }),
  SESSION_BACKUP_MAX_AGE_MS: positiveInt(1_800_000).meta({ description: 'With SESSION_STORE=redis: a READY session whose last good backup is older than this (ms) is flagged on the status page and in the API.' }),
  WEBHOOK_URL: optionalString()
    .pipe(webhookUrlSchema.optional())
    .meta({ description: 'A webhook every session posts its events to, besides the ones made through the API (needs WEBHOOK_SECRET). Listed with them as `wh_configured222222`; its URL, events and secret follow this configuration.' }),
  WEBHOOK_EVENTS: optionalString()
    .pipe(
      z
        .string()
        .transform((list) => list.split(',').map((name) => name.trim()).filter((name) => name !== ''))
        .pipe(z.array(webhookEventTypeSchema, { error: `must be a comma-separated list of ${WEBHOOK_EVENT_TYPES.join(', ')}` }).min(1))
        .optional(),
    )
    .transform((events): WebhookEventType[] => events ?? [...DEFAULT_WEBHOOK_EVENTS])
    .meta({ description: 'The events of WEBHOOK_URL, comma-separated (default: all but `session.qr`).' }),
  WEBHOOK_SECRET: optionalString()
    .pipe(webhookSecretSchema.optional())
    .meta({ description: 'The signing secret of WEBHOOK_URL (Standard Webhooks: `whsec_` + base64 of 24–64 random bytes, e.g. `echo whsec_$(openssl rand -base64 32)`).' }),
  WEBHOOK_TIMEOUT_MS: positiveInt(10_000).meta({ description: 'How long one webhook delivery attempt waits for the receiver\'s answer (ms); no answer in time is retried.' }),
  WEBHOOK_RETRY_PERIOD_MS: positiveInt(86_400_000).meta({
    description: 'How long a webhook delivery is retried (exponential backoff with jitter, `Retry-After` honoured) after its first attempt before it becomes a dead letter (ms). Later events of the subscription wait behind it.',
  }),
  WEBHOOK_MAX_BODY_BYTES: positiveInt(1_048_576).meta({
    description: 'The largest webhook body posted (bytes). A larger event is not posted: it is kept at once as a dead letter saying so (raise the cap and redrive it); later events go on.',
  }),
  WEBHOOK_ALLOW_PRIVATE: bool(false).meta({
    description: 'Allow webhook URLs on loopback, private and link-local addresses (a receiver on the same host or network). Off, such addresses are refused, checked on the address each delivery connects to.',
  }),
  WWEBJS_CACHE_DIR: z
    .string()
    .min(1)
    .default('./.wwebjs_cache')
    .meta({ description: 'Directory where whatsapp-web.js caches WhatsApp Web versions.' }),
  DATA_DIR: z
    .string()
    .min(1)
    .default('./.data')
    .meta({ description: 'Directory for local state: the generated API key, embedded Redis data.' }),
  CHROMIUM_PATH: optionalString().meta({
    description: 'Chromium executable. Default: `/usr/bin/chromium-headless-shell`, else `/usr/bin/chromium`.',
  }),
  CHROMIUM_CONSOLIDATED: bool(false).meta({
    description:
      "Fewer Chromium processes per session: the GPU and network services inside the browser process, no zygote (`--in-process-gpu`, `NetworkServiceInProcess2`, `--no-zygote`). About a fifth less memory per session (docs/benchmarks.md), but a crash of either service ends that session's browser instead of being restarted by Chromium: the worker then restarts it (READY again without a QR, nothing lost).",
  }),
  API_HOST: z.string().min(1).default('0.0.0.0').meta({ description: 'Interface the API listens on.' }),
  API_PORT: port(3000).meta({ description: 'TCP port of the API, status page and Bull Board.' }),
  API_KEY: optionalString()
    .pipe(z.string().min(API_KEY_MIN_LENGTH, { error: `must be at least ${API_KEY_MIN_LENGTH} characters long: use a random one, e.g. \`openssl rand -base64 32\`, or unset it to have one generated` }).optional())
    .meta({ description: `API key for every route but /healthz and /readyz, at least ${API_KEY_MIN_LENGTH} characters. When unset, one is generated on first start and stored in \`DATA_DIR/api-key\`.` }),
  WORKER_MAX_SESSIONS: positiveInt(10).meta({ description: 'Most sessions one worker runs at once (each with its own Chromium). Workers share the sessions: run more workers for more.' }),
  WORKER_START_CONCURRENCY: positiveInt(2).meta({ description: 'Most sessions one worker starts at once (Chromiums starting together on few cores slow each other down).' }),
  WORKER_HOST: z.string().min(1).default('0.0.0.0').meta({ description: 'Interface of the worker health/metrics server.' }),
  WORKER_PORT: port(3001).meta({ description: 'TCP port of the worker health/metrics server (/healthz, /readyz, /metrics).' }),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta({ description: 'Log level: fatal, error, warn, info, debug, trace or silent.' }),
  LOG_FORMAT: z
    .enum(['auto', 'json', 'pretty'])
    .default('auto')
    .meta({ description: 'Log format: pretty on a terminal and JSON otherwise (`auto`), or forced.' }),
  LEASE_TTL_MS: z.coerce
    .number()
    .int()
    .min(2_000)
    .default(15_000)
    .meta({ description: 'Session lease time-to-live in ms. A standby takes over from a dead owner once the lease is half this old and unrenewed (its Redis connection gone), or when it expires.' }),
  QR_WAIT_MS: nonNegativeInt(20_000).meta({ description: 'How long a `connect` with wait blocks for a QR code or READY, in ms.' }),
  QR_MAX_RETRIES: positiveInt(5).meta({ description: 'Unscanned QR codes before the client is stopped (state FAILED, reason given).' }),
  RECONNECT_BASE_MS: positiveInt(1_000).meta({ description: 'First reconnect delay in ms; doubles per attempt, with jitter.' }),
  RECONNECT_MAX_MS: positiveInt(60_000).meta({ description: 'Longest reconnect delay in ms.' }),
  SEND_INTERVAL_MS: nonNegativeInt(1_000).meta({ description: 'Minimum pause between two sends of one session in ms (pacing; jobs wait, never fail).' }),
  SEND_JITTER_MS: nonNegativeInt(500).meta({ description: 'Random extra pause of up to this many ms added to each send interval.' }),
  SEND_DAILY_CAP: nonNegativeInt(1_000).meta({
    description: 'Most messages one session sends in any 24 hours (0: no cap). Past it, sends wait (`waiting`, `daily_cap`) until the oldest of the window is a day old; they never fail for it, unless they expire.',
  }),
  SEND_NEW_CHATS_PER_DAY: nonNegativeInt(50).meta({
    description: 'Most recipients one session writes to for the first time in any 24 hours (0: no budget). A send to a new chat past it waits (`waiting`, `new_chat_budget`) with the later sends to that recipient; the others go on.',
  }),
  SEND_WARMUP_AFTER_S: positiveInt(900).meta({ description: 'A session that was not READY for this many seconds (or is newly linked) sends its next SEND_WARMUP_MESSAGES messages at a warm-up rate.' }),
  SEND_WARMUP_MESSAGES: nonNegativeInt(20).meta({ description: 'How many messages the warm-up lasts (0: no warm-up): their pause goes down evenly from SEND_WARMUP_INTERVAL_MS to SEND_INTERVAL_MS.' }),
  SEND_WARMUP_INTERVAL_MS: nonNegativeInt(10_000).meta({ description: 'The pause before the first message of a warm-up, in ms.' }),
  SEND_TYPING: bool(false).meta({ description: 'Show "typing…" before every message (a send\'s `typing` decides for itself), for 1 s plus 50 ms per character, at most 8 s.' }),
  NUMBER_CHECK_TTL_S: positiveInt(86_400).meta({ description: 'How long WhatsApp\'s answer that a number has an account is kept (seconds): `GET /v1/sessions/:id/contacts/:number` and every send to that number use it.' }),
  NUMBER_CHECK_NEGATIVE_TTL_S: positiveInt(3_600).meta({ description: 'How long an answer that a number has no WhatsApp account is kept (seconds); meanwhile sends to it are refused at once (422 `recipient_not_on_whatsapp`).' }),
  SEND_MAX_ATTEMPTS: positiveInt(5).meta({ description: 'Attempts of a send before it fails (time held while not READY does not count).' }),
  JOB_LOCK_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .default(30_000)
    .meta({ description: 'Job lock in ms: a job held by a worker that died is taken up again after at most about twice this.' }),
  MESSAGE_RETENTION_S: positiveInt(86_400).meta({ description: 'How long sent messages, their records and idempotency keys are kept, in seconds.' }),
  MEDIA_MAX_BYTES: positiveInt(64 * 1024 * 1024).meta({ description: 'The largest file a send may carry, or an incoming file waq keeps (bytes); larger ones are refused as they arrive.' }),
  MEDIA_VIDEO_FALLBACK: z
    .enum(['document', 'fail'])
    .default('document')
    .meta({
      description:
        'What a video send does on a browser that cannot decode H.264/AAC (Chromium without proprietary codecs; WhatsApp Web needs them for videos): `document` sends the file as a document, `fail` fails it with `video_unsupported`. Google Chrome or Debian\'s Chromium (CHROMIUM_PATH) send videos as videos.',
    }),
  MEDIA_RETENTION_S: positiveInt(86_400).meta({
    description: 'How long files are kept in the media store (seconds): an uploaded one for its send (a send still waiting past it fails with media_not_found), a received one for GET /v1/sessions/:id/media/:mediaId.',
  }),
  EVENTS_MAX_LEN: positiveInt(10_000).meta({ description: 'Approximate length of the session event stream (oldest events are trimmed).' }),
  SHUTDOWN_TIMEOUT_MS: positiveInt(30_000).meta({ description: 'Deadline for a graceful shutdown in ms; a second signal forces.' }),
  WAQ_SANDBOX: bool(false).meta({ description: 'Run against the built-in WhatsApp Web simulator instead of WhatsApp (no phone needed).' }),
  WAQ_SIM_URL: optionalString()
    .pipe(z.url({ error: 'must be an http:// URL of the simulator phone server' }).optional())
    .meta({ description: 'Sandbox mode: URL of the simulator phone server (`npm start` starts one and sets this).' }),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigVariable = keyof Config;

/**
 * Parses `env` (default: `process.env`). Throws a `ConfigError` listing every bad variable, what is
 * wrong with it and what it should look like.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const known: Record<string, string | undefined> = {};
  // An empty value means unset (`VAR=` in a .env file, `${VAR:-}` in compose): coercing it would turn
  // SEND_INTERVAL_MS= into 0, pacing off, without a word.
  for (const name of Object.keys(configSchema.shape)) known[name] = env[name]?.trim() === '' ? undefined : env[name];
  const result = configSchema.safeParse(known);
  if (result.success) {
    if (result.data.WEBHOOK_URL !== undefined && result.data.WEBHOOK_SECRET === undefined) {
      throw new ConfigError([{ variable: 'WEBHOOK_SECRET', message: 'WEBHOOK_SECRET must be set with WEBHOOK_URL: receivers verify deliveries with it (e.g. echo whsec_$(openssl rand -base64 32))' }]);
    }
    return result.data;
  }
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    const value = env[name];
    const shown = value === undefined ? 'unset' : name === 'API_KEY' || name === 'WEBHOOK_SECRET' ? 'a value' : JSON.stringify(value);
    return { variable: name, message: `${name} ${issue.message} (got ${shown})` };
  });
  throw new ConfigError(problems);
}

/** EX_CONFIG (sysexits.h): the process cannot run as configured; restarting it will not help. */
export const EXIT_CONFIG = 78;

/**
 * For a process's `main.ts`: a `ConfigError` is printed as it is (what is wrong and what to do, no
 * stack trace) and the process exits with `EXIT_CONFIG`; anything else is thrown on.
 */
export function exitOnConfigError(service: string, error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`waq ${service}: ${error.message}\n`);
  process.exit(EXIT_CONFIG);
}

/** `loadConfig()` for a process's `main.ts` (see `exitOnConfigError`). */
export function loadConfigOrExit(service: string, env: Readonly<Record<string, string | undefined>> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    return exitOnConfigError(service, error);
  }
}

export interface ConfigReferenceRow {
  readonly name: ConfigVariable;
  readonly default: string | undefined;
  readonly description: string;
}

/** The documented variables, in schema order: the source of the README table and `.env.example`. */
export function configReference(): ConfigReferenceRow[] {
  const defaults = configSchema.parse({});
  return (Object.keys(configSchema.shape) as ConfigVariable[]).map((name) => {
    const description = configSchema.shape[name].meta()?.description;
    if (typeof description !== 'string') throw new Error(`config variable ${name} has no description`);
    const value = defaults[name];
    return { name, default: value === undefined ? undefined : String(value), description };
  });
}

/** The README's configuration table (between `<!-- config:start -->` and `<!-- config:end -->`). */
export function renderConfigTable(): string {
  const rows = configReference().map((row) => `| \`${row.name}\` | ${row.default === undefined ? '—' : `\`${row.default}\``} | ${row.description.replaceAll('|', '\\|')} |`);
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}
