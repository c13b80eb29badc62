// @ts-check
/** TCP ports: a free one for the embedded Redis and the simulator, and a check that a configured one is free. */
import net from 'node:net';

import { UserError } from './errors.mjs';

/**
 * A port the OS considers free right now on `host` (a tiny race remains until the child binds it).
 * @param {string} [host]
 * @returns {Promise<number>}
 */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Fails with a clear message when `port` is already taken: otherwise the health check would talk to
 * whatever holds it (an earlier `npm start`, say) and report success.
 * @param {number} port
 * @param {string} host
 * @param {string} variable the variable that sets it
 */
export async function assertPortFree(port, host, variable) {
  const problem = await new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.on('error', (/** @type {NodeJS.ErrnoException} */ error) => resolve(error.code ?? error.message));
    server.listen(port, host, () => server.close(() => resolve(undefined)));
  });
  if (problem === 'EADDRINUSE') {
    throw new UserError(
      `Port ${port} (${variable}) is already in use on ${host}: another waq may be running.\n` +
        `Stop it (find it with: ss -ltnp 'sport = :${port}'), or set ${variable} to a free port.`,
    );
  }
  if (problem) throw new UserError(`Cannot listen on ${host}:${port} (${variable}): ${problem}. Set ${variable} to another port.`);
}

/**
 * @param {string | undefined} value
 * @param {number} fallback
 * @param {string} variable
 */
export function parsePort(value, fallback, variable) {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UserError(`${variable} must be a TCP port between 1 and 65535 (got ${JSON.stringify(value)}).`);
  }
  return port;
}

/**
 * The address to reach a server listening on `host`: a wildcard is reached through loopback.
 * @param {string} host
 */
export function reachableHost(host) {
  if (host === '0.0.0.0' || host === '' ) return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}
