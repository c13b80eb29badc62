// @ts-check
/** Waiting for things to become ready, always with a deadline and a way to give up early. */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

/**
 * Calls `check` every `intervalMs` until it returns a value other than undefined, the deadline passes
 * (→ undefined) or `abort` fires (→ undefined).
 * @template T
 * @param {() => Promise<T | undefined> | T | undefined} check
 * @param {{ timeoutMs: number, intervalMs?: number, abort?: AbortSignal }} options
 * @returns {Promise<T | undefined>}
 */
export async function poll(check, { timeoutMs, intervalMs = 200, abort }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (abort?.aborted) return undefined;
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() + intervalMs > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * One GET; resolves with the status code, or an error text when nothing answered.
 * @param {string} url
 * @param {number} [timeoutMs]
 * @returns {Promise<{ status: number } | { error: string }>}
 */
export function httpGet(url, timeoutMs = 2_000) {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: timeoutMs }, (response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0 });
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (error) => resolve({ error: /** @type {NodeJS.ErrnoException} */ (error).code ?? error.message }));
  });
}

/**
 * Polls `url` until it answers 2xx. Returns the last answer (for the error message) when it gives up.
 * @param {string} url
 * @param {{ timeoutMs: number, abort?: AbortSignal }} options
 */
export async function waitForHttpOk(url, options) {
  /** @type {{ status: number } | { error: string }} */
  let last = { error: 'not tried' };
  const ok = await poll(async () => {
    last = await httpGet(url);
    return 'status' in last && last.status >= 200 && last.status < 300 ? true : undefined;
  }, { ...options, intervalMs: 250 });
  return { ok: ok === true, last: 'status' in last ? `HTTP ${last.status}` : last.error };
}

/**
 * Polls until something accepts TCP connections on host:port.
 * @param {string} host
 * @param {number} port
 * @param {{ timeoutMs: number, abort?: AbortSignal }} options
 */
export async function waitForPort(host, port, options) {
  const ok = await poll(
    () =>
      /** @type {Promise<true | undefined>} */ (new Promise((resolve) => {
        const socket = net.connect({ host, port });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(undefined));
      })),
    options,
  );
  return ok === true;
}

/**
 * Waits for a non-empty file and returns its trimmed content.
 * @param {string} file
 * @param {{ timeoutMs: number, abort?: AbortSignal }} options
 */
export function waitForFile(file, options) {
  return poll(() => {
    try {
      const content = fs.readFileSync(file, 'utf8').trim();
      return content === '' ? undefined : content;
    } catch {
      return undefined;
    }
  }, options);
}
