/**
 * Chooses the WhatsApp driver: whatsapp-web.js against WhatsApp Web, or, in sandbox mode
 * (WAQ_SANDBOX=1), the same whatsapp-web.js against the offline simulator. Sandbox sessions live in
 * their own profile directory so trying the sandbox never touches a real linked session, and every
 * session links to a simulated phone of its own (an account of the one simulator phone server).
 */
import path from 'node:path';

import { sandboxAccountUrl, type Config, type Logger } from '@waq/shared';

import type { DriverFactory } from './driver/driver.js';
import { CONSOLIDATED_CHROMIUM_ARGS, whatsappClientOptions } from './driver/whatsapp-client-options.js';
import { createWwebjsDriverFactory } from './driver/wwebjs-driver.js';

export interface DriverChoice {
  /** The driver factory of one session (its LocalAuth clientId is the session id). */
  readonly createDriver: (sessionId: string) => DriverFactory;
  /** Where the session profile lives for this choice. */
  readonly sessionDir: string;
}

export async function chooseDriver(config: Config, logger: Logger): Promise<DriverChoice> {
  const extraArgs = config.CHROMIUM_CONSOLIDATED ? CONSOLIDATED_CHROMIUM_ARGS : [];
  if (!config.WAQ_SANDBOX) {
    return {
      sessionDir: config.SESSION_DIR,
      createDriver: (sessionId) => createWwebjsDriverFactory({
        logger: logger.child({ sessionId }),
        clientOptions: () =>
          whatsappClientOptions({
            sessionId,
            sessionDir: config.SESSION_DIR,
            cacheDir: config.WWEBJS_CACHE_DIR,
            extraArgs,
            ...(config.CHROMIUM_PATH === undefined ? {} : { chromiumPath: config.CHROMIUM_PATH }),
          }),
      }),
    };
  }
  const phoneUrl = config.WAQ_SIM_URL;
  if (phoneUrl === undefined) {
    throw new Error('WAQ_SANDBOX=1 needs WAQ_SIM_URL, the simulator phone server (npm start with WAQ_SANDBOX=1 starts one and sets it)');
  }
  // Loaded only in sandbox mode: production never needs the simulator.
  const sim = await import('@waq/wa-sim');
  const sessionDir = path.join(config.SESSION_DIR, 'sandbox');
  const cacheDir = path.join(config.WWEBJS_CACHE_DIR, 'sandbox');
  logger.warn({ phoneUrl, sessionDir }, 'SANDBOX MODE: connected to the WhatsApp Web simulator, not to WhatsApp');
  return {
    sessionDir,
    createDriver: (sessionId) => createWwebjsDriverFactory({
      logger: logger.child({ sessionId }),
      clientOptions: () =>
        sim.prepareSimClientOptions({
          phoneUrl: sandboxAccountUrl(phoneUrl, sessionId, config.SESSION_ID),
          // One per session: whatsapp-web.js reads the page file (which names the account) in initialize().
          cacheDir: path.join(cacheDir, sessionId),
          dataPath: sessionDir,
          clientId: sessionId,
          extraArgs,
          ...(config.CHROMIUM_PATH === undefined ? {} : { chromiumPath: config.CHROMIUM_PATH }),
        }),
    }),
  };
}
