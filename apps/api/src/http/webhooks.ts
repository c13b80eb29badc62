/**
 * A session's webhook subscriptions over HTTP: `POST|GET /v1/sessions/:session/webhooks`,
 * `GET|PATCH|DELETE /v1/sessions/:session/webhooks/:webhook`. The API writes the subscriptions
 * (shared/webhook-registry.ts); the secret is in the answer to the create only.
 *
 * A URL whose host is an IP literal the address policy refuses (loopback, private, link-local: see
 * shared/webhook-address.ts) is refused here with the field named; a name is checked where it matters,
 * on the address each delivery connects to.
 */
import {
  AddressRefusedError,
  assertAllowedHost,
  createWebhookInputSchema,
  listDeadLetters,
  redriveDeadLetters,
  webhookHealth,
  toFieldProblems,
  updateWebhookInputSchema,
  webhookIdSchema,
  type RedisClient,
  type SessionRegistry,
  type WebhookRegistry,
  type WebhookSubscription,
} from '@waq/shared';
import type { z } from 'zod';

import { errorResponse, type HttpResult } from './error-response.js';
import { sessionIdParam, sessionNotFound } from './sessions.js';

export interface WebhooksDependencies {
  readonly registry: SessionRegistry;
  readonly webhooks: WebhookRegistry;
  /** WEBHOOK_ALLOW_PRIVATE */
  readonly allowPrivate: boolean;
  readonly redis: RedisClient;
  /** WAQ_PREFIX */
  readonly prefix: string;
}

function invalidBody(details: Parameters<typeof errorResponse>[3]): HttpResult {
  return errorResponse(422, 'invalid_payload', 'the request is invalid: see details for the fields at fault', details);
}

/** The session's id when it exists (and is not being deleted), else the 404 answer. */
async function sessionOf(deps: WebhooksDependencies, raw: unknown): Promise<string | HttpResult> {
  const id = sessionIdParam(raw);
  const record = id === null ? null : await deps.registry.get(id);
  return record === null || record.desired === 'deleted' ? sessionNotFound(String(raw)) : record.id;
}

function webhookNotFound(session: string, raw: unknown): HttpResult {
  return errorResponse(404, 'webhook_not_found', `session ${JSON.stringify(session)} has no webhook ${JSON.stringify(String(raw).slice(0, 64))}: list them with GET /v1/sessions/${session}/webhooks`);
}

/** A URL the address policy refuses by its IP literal, as a field problem; undefined when it may be used. */
function refusedUrl(deps: WebhooksDependencies, url: string | undefined): HttpResult | undefined {
  if (url === undefined) return undefined;
  try {
    assertAllowedHost(new URL(url).hostname, { allowPrivate: deps.allowPrivate });
    return undefined;
  } catch (error) {
    if (error instanceof AddressRefusedError) return invalidBody([{ path: 'url', message: error.message }]);
    throw error;
  }
}

/** The body parsed by `schema` with its URL allowed, or the 422 answer. */
function parseBody<T extends { url?: string | undefined }>(deps: WebhooksDependencies, schema: z.ZodType<T>, body: unknown, example: string): T | HttpResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalidBody([{ path: '', message: `the body must be a JSON object such as ${example}` }]);
  const parsed = schema.safeParse(body);
  if (!parsed.success) return invalidBody(toFieldProblems(parsed.error));
  return refusedUrl(deps, parsed.data.url) ?? parsed.data;
}

/** A webhook as the API shows it: its subscription, and how its deliveries stand. */
async function view(deps: WebhooksDependencies, subscription: WebhookSubscription): Promise<WebhookSubscription & { deliveries: Awaited<ReturnType<typeof webhookHealth>> }> {
  return { ...subscription, deliveries: await webhookHealth({ redis: deps.redis, prefix: deps.prefix, sessionId: subscription.session }, subscription.id) };
}

const isResult = (value: unknown): value is HttpResult => typeof value === 'object' && value !== null && 'status' in value && typeof (value as HttpResult).status === 'number' && 'body' in value;

export async function createWebhook(deps: WebhooksDependencies, rawSession: unknown, body: unknown): Promise<HttpResult> {
  const input = parseBody(deps, createWebhookInputSchema, body, '{"url": "https://example.com/hooks/waq"}');
  if (isResult(input)) return input;
  const session = await sessionOf(deps, rawSession);
  if (isResult(session)) return session;
  const { subscription, secret } = await deps.webhooks.create(session, input);
  return { status: 201, body: { ...subscription, secret }, headers: { Location: `/v1/sessions/${session}/webhooks/${subscription.id}` } };
}

export async function listWebhooks(deps: WebhooksDependencies, rawSession: unknown): Promise<HttpResult> {
  const session = await sessionOf(deps, rawSession);
  if (isResult(session)) return session;
  return { status: 200, body: { webhooks: await Promise.all((await deps.webhooks.list(session)).map((subscription) => view(deps, subscription))) } };
}

export async function describeWebhook(deps: WebhooksDependencies, rawSession: unknown, rawId: unknown): Promise<HttpResult> {
  const session = await sessionOf(deps, rawSession);
  if (isResult(session)) return session;
  const id = webhookIdSchema.safeParse(rawId);
  const subscription = id.success ? await deps.webhooks.get(session, id.data) : null;
  return subscription === null ? webhookNotFound(session, rawId) : { status: 200, body: await view(deps, subscription) };
}

export async function updateWebhook(deps: WebhooksDependencies, rawSession: unknown, rawId: unknown, body: unknown): Promise<HttpResult> {
  const patch = parseBody(deps, updateWebhookInputSchema, body, '{"enabled": false}');
  if (isResult(patch)) return patch;
  const session = await sessionOf(deps, rawSession);
  if (isResult(session)) return session;
  const id = webhookIdSchema.safeParse(rawId);
  const subscription = id.success ? await deps.webhooks.update(session, id.data, patch) : null;
  return subscription === null ? webhookNotFound(session, rawId) : { status: 200, body: subscription };
}

export async function deleteWebhook(deps: WebhooksDependencies, rawSession: unknown, rawId: unknown): Promise<HttpResult> {
  const session = await sessionOf(deps, rawSession);
  if (isResult(session)) return session;
  const id = webhookIdSchema.safeParse(rawId);
  const removed = id.success && (await deps.webhooks.remove(session, id.data));
  return removed ? { status: 204, body: undefined } : webhookNotFound(session, rawId);
}

/** The session and subscription a `…/webhooks/:webhook/…` route names, or the 404 answer. */
async function subscriptionOf(deps: WebhooksDependencies, rawSession: unknown, rawId: unknown): Promise<{ session: string; id: string } | HttpResult> {
  const session = await sessionOf(deps, rawSession);
  if (isResult(session)) return session;
  const id = webhookIdSchema.safeParse(rawId);
  const subscription = id.success ? await deps.webhooks.get(session, id.data) : null;
  return subscription === null ? webhookNotFound(session, rawId) : { session, id: subscription.id };
}

/** The deliveries given up (dead letters), oldest first, each with its last answer. */
export async function listWebhookFailures(deps: WebhooksDependencies, rawSession: unknown, rawId: unknown): Promise<HttpResult> {
  const target = await subscriptionOf(deps, rawSession, rawId);
  if (isResult(target)) return target;
  return { status: 200, body: { failures: await listDeadLetters({ redis: deps.redis, prefix: deps.prefix, sessionId: target.session }, target.id) } };
}

/** Puts the dead letters back into the subscription's queue, in order, with their delivery ids. */
export async function redriveWebhook(deps: WebhooksDependencies, rawSession: unknown, rawId: unknown): Promise<HttpResult> {
  const target = await subscriptionOf(deps, rawSession, rawId);
  if (isResult(target)) return target;
  return { status: 200, body: { redriven: await redriveDeadLetters({ redis: deps.redis, prefix: deps.prefix, sessionId: target.session }, target.id) } };
}
