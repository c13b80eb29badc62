// @ts-check
/**
 * Sandbox mode (`WAQ_SANDBOX=1`): the WhatsApp Web simulator's phone server (`packages/wa-sim/src/cli.ts`)
 * runs next to the gateway and the worker is pointed at it with `WAQ_SIM_URL`. It listens on
 * 127.0.0.1:<free port> and stops on SIGTERM; readiness is detected by the port accepting connections, so
 * the wording of its ready line does not matter.
 *
 * The simulated phone keeps its account (linked devices, message history, identity) in
 * `<DATA_DIR>/sandbox-phone` (`--state-dir`), so a restart restores the linked sandbox session without a
 * QR code, as WhatsApp remembers linked devices. Why DATA_DIR and not SESSION_DIR: that directory is the
 * gateway's side of the pairing (the worker's Chromium profiles, resolved by the worker), while the phone
 * is the other party — WhatsApp keeps linked devices on its servers, not in the gateway's profile — and
 * DATA_DIR is where `npm start` keeps the state of the services it runs for you (the embedded Redis is
 * next to it). Deleting the directory is "unlink every device on the phone": the next start shows a QR.
 */
import fs from 'node:fs';
import path from 'node:path';

import { UserError } from './errors.mjs';
import { fromRoot, shown } from './paths.mjs';
import { freePort } from './ports.mjs';
import { waitForPort } from './wait.mjs';

/**
 * "true/1/yes/on", case-insensitive: the values the apps' config (zod `stringbool`) accepts as true.
 * @param {string | undefined} value
 */
export function isTrue(value) {
  return /^(true|1|yes|on|y|enabled)$/i.test(value?.trim() ?? '');
}

/**
 * Where the simulated phone keeps its account.
 * @param {string} dataDir  DATA_DIR, resolved
 */
export function simulatorStateDir(dataDir) {
  return path.join(dataDir, 'sandbox-phone');
}

/**
 * @param {{ supervisor: import('./processes.mjs').Supervisor, env: NodeJS.ProcessEnv, log: import('./log.mjs').Log, abort: AbortSignal, dataDir: string }} options
 * @returns {Promise<{ url: string, stateDir: string, service: import('./processes.mjs').Service } | undefined>}
 */
export async function startSimulator({ supervisor, env, log, abort, dataDir }) {
  const entry = fromRoot(env.WAQ_SIM_ENTRY ?? 'packages/wa-sim/src/cli.ts');
  if (!fs.existsSync(entry)) {
    log.warn(`WAQ_SANDBOX is on, but the simulator (${shown(entry)}) does not exist yet: starting without it.`);
    return undefined;
  }
  const port = await freePort();
  const stateDir = simulatorStateDir(dataDir);
  const args = ['--conditions=waq-source', '--import', 'tsx', entry, '--port', String(port), '--state-dir', stateDir];
  const service = supervisor.spawn('sim', process.execPath, args, { env });
  const ready = await Promise.race([
    waitForPort('127.0.0.1', port, { timeoutMs: 30_000, abort }),
    service.exited.then(() => false),
  ]);
  if (!ready) {
    const what = service.running ? `did not listen on port ${port} within 30 s` : service.describeExit();
    throw new UserError(`The simulator ${what} (its output is above, tagged [sim]).\nFix it, or start without WAQ_SANDBOX.`);
  }
  return { url: `http://127.0.0.1:${port}`, stateDir, service };
}
