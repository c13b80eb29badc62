// @ts-check
/**
 * Redis for `npm start` and `npm test`, without dependencies: a PING over a raw socket (RESP, with AUTH
 * and TLS when the URL asks for them) and a `redis-server` child — either the embedded default of
 * `npm start` (AOF under `DATA_DIR/redis`, kept across runs) or a throwaway one for a test run.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import { UserError } from './errors.mjs';
import { which } from './executables.mjs';
import { freePort } from './ports.mjs';
import { waitOrKill } from './processes.mjs';
import { poll } from './wait.mjs';

/** @returns {import('./system-packages.mjs').Requirement} */
export function redisServerRequirement() {
  return {
    name: 'redis-server',
    packages: ['redis-server'],
    find: () => which('redis-server'),
    help:
      'Install it: sudo apt-get install redis-server (Debian/Ubuntu),\n' +
      'or set REDIS_URL to a Redis you run yourself, e.g. REDIS_URL=redis://127.0.0.1:6379.',
  };
}

/**
 * The URL for messages: the password replaced by `***`.
 * @param {string} url
 */
export function redactUrl(url) {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable URL)';
  }
}

/** @param {string[]} parts */
function resp(parts) {
  return `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
}

/**
 * Sends PING (after AUTH when the URL has credentials) and waits for +PONG.
 * @param {string} url redis:// or rediss://
 * @param {number} [timeoutMs]
 * @returns {Promise<{ ok: true } | { ok: false, reason: string }>}
 */
export function pingRedis(url, timeoutMs = 1_500) {
  /** @type {URL} */
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, reason: 'not a valid URL (expected redis://host:port)' });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return Promise.resolve({ ok: false, reason: 'must start with redis:// or rediss://' });
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(parsed.port || 6379);
  /** @type {string[]} */
  const commands = [];
  if (parsed.password) {
    const user = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    commands.push(resp(user ? ['AUTH', user, password] : ['AUTH', password]));
  }
  commands.push(resp(['PING']));

  return new Promise((resolve) => {
    const socket =
      parsed.protocol === 'rediss:'
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
        : net.connect({ host, port });
    /** @param {{ ok: true } | { ok: false, reason: string }} result */
    const finish = (result) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    let received = '';
    socket.once(parsed.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => socket.write(commands.join('')));
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      const error = received.split('\r\n').find((line) => line.startsWith('-'));
      if (error) finish({ ok: false, reason: `Redis answered: ${error.slice(1)}` });
      else if (received.includes('+PONG\r\n')) finish({ ok: true });
    });
    socket.on('error', (/** @type {NodeJS.ErrnoException} */ error) => finish({ ok: false, reason: error.code ?? error.message }));
    socket.on('close', () => finish({ ok: false, reason: 'connection closed without an answer' }));
  });
}

/**
 * @typedef {object} LocalRedisOptions
 * @property {import('./processes.mjs').Supervisor} supervisor
 * @property {string} redisServer  path of the redis-server binary
 * @property {string} dir          its working directory (AOF files live here)
 * @property {boolean} persistent  AOF (`npm start`) or no persistence at all (tests)
 */

/**
 * Starts `redis-server` as a supervised child on a free loopback port and waits until it answers PING.
 * Not daemonized: it lives and dies with the script; SIGTERM makes it flush the AOF and exit.
 * @param {LocalRedisOptions} options
 * @returns {Promise<{ url: string, service: import('./processes.mjs').Service }>}
 */
export async function startLocalRedis({ supervisor, redisServer, dir, persistent }) {
  fs.mkdirSync(dir, { recursive: true });
  // Two tries: the free port can be taken between our check and redis-server's bind.
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--daemonize', 'no',
      '--logfile', '',
      '--save', '',
      ...(persistent ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
    ];
    const service = supervisor.spawn('redis', redisServer, args);
    const url = `redis://127.0.0.1:${port}`;
    const ready = await poll(async () => ((await pingRedis(url, 500)).ok ? true : !service.running ? false : undefined), {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    if (ready === true) return { url, service };
    if (service.running) service.signal('SIGKILL');
    await service.exited;
    supervisor.services.delete(service);
    if (attempt >= 2) {
      throw new UserError(
        `redis-server did not start (it ${service.describeExit()}; its output is above, tagged [redis]).\n` +
          `Fix what it reports, or set REDIS_URL to a Redis you run yourself.`,
      );
    }
  }
}

/**
 * Stops a local Redis: SIGTERM (Redis shuts down cleanly and fsyncs the AOF), SIGKILL after 10 s.
 * @param {import('./processes.mjs').Supervisor} supervisor
 * @param {import('./processes.mjs').Service} service
 */
export async function stopLocalRedis(supervisor, service) {
  service.signal('SIGTERM');
  return waitOrKill(supervisor, service, 10_000);
}

/** A fresh temporary directory for a throwaway Redis. */
export function makeTempRedisDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'waq-test-redis-'));
}
