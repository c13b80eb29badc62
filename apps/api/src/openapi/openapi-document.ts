/**
 * `/openapi.json` (OpenAPI 3.1), generated from the zod schemas the handlers validate with
 * (`http/schemas.ts`) by zod 4's native `z.toJSONSchema()`. Operations are listed here; a test checks
 * that every route the app serves is documented and vice versa, and another that `redocly lint`
 * (config: /redocly.yaml) finds nothing in the document.
 */
import { z } from 'zod';

import {
  connectQuerySchema,
  eventsQuerySchema,
  namedSchemas,
  qrQuerySchema,
} from '../http/schemas.js';

type JsonSchema = Record<string, unknown>;
const ref = (id: string): JsonSchema => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: JsonSchema) => ({ 'application/json': { schema } });
const errorResponse = (description: string) => ({ description, content: json(ref('Error')) });

/** The groups operations are listed under, with what each holds. */
const TAGS = {
  Messages: 'Sending text messages and reading what became of them.',
  Session: 'The WhatsApp session: its state, linking a phone (QR code), logging out, live events.',
  Sandbox: 'Sandbox mode only (`WAQ_SANDBOX=1`): drives the offline WhatsApp Web simulator.',
  Operations: 'Liveness, readiness and Prometheus metrics, for orchestrators and monitoring.',
} as const;

export interface Operation {
  readonly method: 'get' | 'post';
  readonly path: string;
  /**
   * camelCase, unique, and stable: client generators name their methods after it, so renaming one
   * breaks generated clients.
   */
  readonly operationId: string;
  readonly tag: keyof typeof TAGS;
  readonly summary: string;
  readonly description?: string;
  readonly query?: z.ZodObject;
  readonly pathParams?: Readonly<Record<string, string>>;
  readonly headers?: readonly { name: string; description: string; schema?: JsonSchema }[];
  readonly requestBody?: string;
  readonly responses: Readonly<Record<string, unknown>>;
  /** Public endpoints (no API key). */
  readonly public?: boolean;
}

const COMMON_ERRORS = {
  '401': errorResponse('No or wrong API key.'),
  '503': errorResponse('Redis is unreachable; retry after `Retry-After` seconds.'),
};

export const OPERATIONS: readonly Operation[] = [
  {
    method: 'post',
    path: '/v1/messages',
    operationId: 'sendMessage',
    tag: 'Messages',
    summary: 'Send a text message',
    description:
      'Accepts the message and queues it. Accepted whatever the session state: while it is not READY the message is `held` and goes out, in order, once it is. ' +
      'With an idempotency key (header or body) a repeat returns the same id and enqueues nothing; the same key with a different message is a 409.',
    headers: [{ name: 'Idempotency-Key', description: 'Same as the body field `idempotencyKey`; becomes the message id.' }],
    requestBody: 'SendMessageRequest',
    responses: {
      '202': { description: 'Accepted (also for a repeat of the same key: `duplicate` is true).', content: json(ref('Accepted')), headers: { Location: { description: 'The message URL.', schema: { type: 'string' } } } },
      '400': errorResponse('The body is not valid JSON.'),
      '409': errorResponse('The idempotency key was already used for a different message.'),
      '413': errorResponse('The body is too large.'),
      '415': errorResponse('The body is not `application/json`.'),
      '422': errorResponse('A field is invalid; `details` names it.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'get',
    path: '/v1/messages/{id}',
    operationId: 'getMessage',
    tag: 'Messages',
    summary: 'Read a message’s status',
    pathParams: { id: 'The message id (the idempotency key).' },
    responses: { '200': { description: 'The message.', content: json(ref('Message')) }, '404': errorResponse('No such message (never accepted, or past retention).'), ...COMMON_ERRORS },
  },
  {
    method: 'get',
    path: '/v1/session',
    operationId: 'getSession',
    tag: 'Session',
    summary: 'Read the session state',
    description: 'What the owning worker last published; WORKER_OFFLINE when no live worker holds the lease (none does, or its Redis connection is gone); STARTING while a new owner has not published yet.',
    responses: { '200': { description: 'The state.', content: json(ref('SessionState')) }, ...COMMON_ERRORS },
  },
  {
    method: 'post',
    path: '/v1/session/connect',
    operationId: 'connectSession',
    tag: 'Session',
    summary: 'Connect (show a QR code, or restore the saved session)',
    description: 'Queues a `connect` control job (idempotent in the worker). With `wait=true` the request waits up to QR_WAIT_MS for a QR code or READY and returns the state then.',
    query: connectQuerySchema,
    responses: {
      '200': { description: 'With wait: the wait ended with a QR code to scan, READY, or FAILED.', content: json(ref('ConnectResponse')) },
      '202': { description: 'Queued (without wait, or the wait ran out first).', content: json(ref('ConnectResponse')) },
      '422': errorResponse('Invalid query parameter.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'post',
    path: '/v1/session/logout',
    operationId: 'logoutSession',
    tag: 'Session',
    summary: 'Log out and unlink the gateway',
    description: 'Queues a `logout` control job. Queued messages stay held until a phone is linked again.',
    responses: { '202': { description: 'Queued.', content: json(ref('JobAccepted')) }, ...COMMON_ERRORS },
  },
  {
    method: 'get',
    path: '/v1/session/qr',
    operationId: 'getQrCode',
    tag: 'Session',
    summary: 'The QR code to scan',
    description: 'As PNG, SVG, text (for a terminal) or JSON. 404 with the reason when there is none: `already_linked` (READY), `not_started`, `qr_expired`, `qr_pending` (starting or already scanned).',
    query: qrQuerySchema,
    responses: {
      '200': {
        description: 'The QR code.',
        content: { 'image/png': { schema: { type: 'string', format: 'binary' } }, 'image/svg+xml': { schema: { type: 'string' } }, 'text/plain': { schema: { type: 'string' } }, ...json(ref('QrCode')) },
      },
      '404': errorResponse('No QR code now; `code` says why.'),
      '422': errorResponse('Invalid `format`.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'get',
    path: '/v1/session/events',
    operationId: 'streamSessionEvents',
    tag: 'Session',
    summary: 'Live session events (Server-Sent Events)',
    description:
      'A `text/event-stream`: each event has the stream id as `id`, its type as `event` (state, qr, message.sent, message.failed, message.ack, message.incoming) and a SessionEvent as JSON `data`. ' +
      'Resume after a disconnect with the `Last-Event-ID` header (EventSource does it by itself). A comment line is sent as a heartbeat while idle. Concurrent streams are capped: 503 when full.',
    query: eventsQuerySchema,
    headers: [{ name: 'Last-Event-ID', description: 'Resume after this event id.' }],
    responses: {
      '200': { description: 'The event stream.', content: { 'text/event-stream': { schema: ref('SessionEvent') } } },
      '422': errorResponse('Invalid `backlog` or `Last-Event-ID`.'),
      ...COMMON_ERRORS,
    },
  },
  {
    method: 'post',
    path: '/v1/sandbox/scan',
    operationId: 'simulateQrScan',
    tag: 'Sandbox',
    summary: 'Simulate scanning the QR code (sandbox mode only)',
    description: 'Asks the simulator phone (WAQ_SIM_URL) to scan the QR code on screen. 404 unless WAQ_SANDBOX is on.',
    responses: {
      '200': { description: 'Scanned.', content: json(ref('SandboxScan')) },
      '404': errorResponse('Sandbox mode is off.'),
      '409': errorResponse('There is no QR code to scan.'),
      '502': errorResponse('The simulator did not answer.'),
      '401': COMMON_ERRORS['401'],
    },
  },
  { method: 'get', path: '/healthz', operationId: 'getLiveness', tag: 'Operations', summary: 'Liveness: the process is up', public: true, responses: { '200': { description: 'Up.' } } },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    tag: 'Operations',
    summary: 'Readiness: Redis is reachable',
    public: true,
    responses: { '200': { description: 'Ready.' }, '503': COMMON_ERRORS['503'] },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    tag: 'Operations',
    summary: 'Prometheus metrics',
    description: 'HTTP requests by route and status (count and duration), queue depths by job state, the session status (one-hot), Redis reachability.',
    responses: { '200': { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } }, '401': COMMON_ERRORS['401'] },
  },
];

function queryParameters(schema: z.ZodObject): unknown[] {
  const object = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema> };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: 'query', required: false, ...(description === undefined ? {} : { description }), schema: rest };
  });
}

export function openApiDocument(version: string): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(namedSchemas, { io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` }) as { schemas: Record<string, JsonSchema> };
  for (const schema of Object.values(schemas)) {
    // Component schemas are named by their key; a `$id` or `$schema` inside them is noise to OpenAPI tools.
    delete schema['$schema'];
    delete schema['$id'];
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters = [
      ...Object.entries(op.pathParams ?? {}).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } })),
      ...(op.query === undefined ? [] : queryParameters(op.query)),
      ...(op.headers ?? []).map((h) => ({ name: h.name, in: 'header', required: false, description: h.description, schema: h.schema ?? { type: 'string' } })),
    ];
    (paths[op.path] ??= {})[op.method] = {
      operationId: op.operationId,
      tags: [op.tag],
      summary: op.summary,
      ...(op.description === undefined ? {} : { description: op.description }),
      ...(parameters.length === 0 ? {} : { parameters }),
      ...(op.requestBody === undefined ? {} : { requestBody: { required: true, content: json(ref(op.requestBody)) } }),
      responses: op.responses,
      ...(op.public === true ? { security: [] } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'waq API',
      version,
      description:
        'Self-hosted WhatsApp gateway. Authenticate with `Authorization: Bearer <API key>` or `X-Api-Key: <API key>` on every route but /healthz and /readyz. ' +
        'Errors are `{ "error": { "code", "message", "details" } }`.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { apiKey: [] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The API key as a bearer token.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
      },
      schemas,
    },
  };
}
