/**
 * One webhook delivery attempt: a signed POST of one envelope, and what its answer means.
 *
 * - 2xx: delivered. 408, 429 and 5xx: retry later (`Retry-After` honoured, in seconds or as a date).
 *   Other answers (4xx, and 3xx: redirects are not followed, a receiver must be given its final URL):
 *   failed for good, retrying would get the same answer.
 * - No answer within `timeoutMs`, a refused or reset connection, a name that does not resolve: retry.
 * - An address the policy refuses (webhook-address.ts, checked on the address connected to): failed.
 * - Only the first `maxAnswerBytes` of an answer are read (kept with a failure, for the operator).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { AddressRefusedError, assertAllowedHost, guardedLookup, type AddressPolicy, type WebhookHeaders } from '@waq/shared';

export interface WebhookPost {
  readonly url: string;
  /** The exact bytes signed. */
  readonly body: string;
  readonly headers: WebhookHeaders;
  readonly timeoutMs: number;
  readonly policy: AddressPolicy;
  /** `User-Agent`, e.g. `waq/0.1.0`. */
  readonly userAgent: string;
  /** @defaultValue 4096 */
  readonly maxAnswerBytes?: number;
}

export type WebhookOutcome =
  | { readonly kind: 'delivered'; readonly status: number; readonly ms: number }
  | { readonly kind: 'retry' | 'failed'; readonly status: number | null; readonly reason: string; readonly answer: string; readonly ms: number; readonly retryAfterMs?: number };

const RETRYABLE = new Set([408, 429]);

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1_000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

async function readAnswer(response: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= maxBytes) {
      response.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}

export async function postWebhook({ url, body, headers, timeoutMs, policy, userAgent, maxAnswerBytes = 4_096 }: WebhookPost): Promise<WebhookOutcome> {
  const started = Date.now();
  const ms = (): number => Date.now() - started;
  const target = new URL(url);
  try {
    assertAllowedHost(target.hostname, policy);
  } catch (error) {
    if (error instanceof AddressRefusedError) return { kind: 'failed', status: null, reason: error.message, answer: '', ms: ms() };
    throw error;
  }
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<WebhookOutcome>((resolve) => {
    const signal = AbortSignal.timeout(timeoutMs);
    const req = request(
      target,
      {
        method: 'POST',
        lookup: guardedLookup(policy),
        signal,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'User-Agent': userAgent, ...headers },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        readAnswer(response, maxAnswerBytes).then(
          (answer) => {
            if (status >= 200 && status < 300) return resolve({ kind: 'delivered', status, ms: ms() });
            const retry = RETRYABLE.has(status) || status >= 500;
            const after = retry ? retryAfterMs(response.headers['retry-after']) : undefined;
            const reason = status >= 300 && status < 400 ? `HTTP ${status}: redirects are not followed, give the webhook its final URL` : `HTTP ${status}`;
            resolve({ kind: retry ? 'retry' : 'failed', status, reason, answer, ms: ms(), ...(after === undefined ? {} : { retryAfterMs: after }) });
          },
          (error: unknown) => resolve({ kind: 'retry', status, reason: `the answer was cut off: ${error instanceof Error ? error.message : String(error)}`, answer: '', ms: ms() }),
        );
      },
    );
    req.on('error', (error: Error) => {
      if (error instanceof AddressRefusedError || error.cause instanceof AddressRefusedError) {
        return resolve({ kind: 'failed', status: null, reason: (error instanceof AddressRefusedError ? error : (error.cause as AddressRefusedError)).message, answer: '', ms: ms() });
      }
      const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : error.message;
      resolve({ kind: 'retry', status: null, reason, answer: '', ms: ms() });
    });
    req.end(body);
  });
}
