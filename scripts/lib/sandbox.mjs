// @ts-check
/**
 * Sandbox mode (`WAQ_SANDBOX=1`): the WhatsApp Web simulator's phone server runs next to the gateway and
 * the worker is pointed at it with `WAQ_SIM_URL`.
 *
 * HOOK: packages/wa-sim is being written. Until `packages/wa-sim/src/cli.ts` exists this does nothing
 * but say so. Contract expected from the CLI: `--port <n>` on the command line, listen on 127.0.0.1:<n>,
 * print a ready line, stop on SIGTERM. Readiness is detected by the port accepting connections, so the
 * exact wording of the ready line does not matter.
 */
import fs from 'node:fs';

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
 * @param {{ supervisor: import('./processes.mjs').Supervisor, env: NodeJS.ProcessEnv, log: import('./log.mjs').Log, abort: AbortSignal }} options
 * @returns {Promise<{ url: string, service: import('./processes.mjs').Service } | undefined>}
 */
export async function startSimulator({ supervisor, env, log, abort }) {
  const entry = fromRoot(env.WAQ_SIM_ENTRY ?? 'packages/wa-sim/src/cli.ts');
  if (!fs.existsSync(entry)) {
    log.warn(`WAQ_SANDBOX is on, but the simulator (${shown(entry)}) does not exist yet: starting without it.`);
    return undefined;
  }
  const port = await freePort();
  const service = supervisor.spawn('sim', process.execPath, ['--conditions=waq-source', '--import', 'tsx', entry, '--port', String(port)], {
    env,
  });
  const ready = await Promise.race([
    waitForPort('127.0.0.1', port, { timeoutMs: 30_000, abort }),
    service.exited.then(() => false),
  ]);
  if (!ready) {
    const what = service.running ? `did not listen on port ${port} within 30 s` : service.describeExit();
    throw new UserError(`The simulator ${what} (its output is above, tagged [sim]).\nFix it, or start without WAQ_SANDBOX.`);
  }
  return { url: `http://127.0.0.1:${port}`, service };
}
