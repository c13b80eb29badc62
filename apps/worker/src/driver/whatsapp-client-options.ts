/**
 * whatsapp-web.js Client options for the real WhatsApp Web (production). Sandbox mode and tests build
 * theirs with `prepareSimClientOptions()` from `@waq/wa-sim` instead; both go to `WwebjsDriver`.
 */
import wwebjs from 'whatsapp-web.js';

import { resolveChromium } from './chromium.js';

/**
 * Flags for a server-side Chromium. `--no-sandbox`: containers rarely allow the user namespaces the
 * sandbox needs. `--disable-dev-shm-usage`: Docker's 64 MB `/dev/shm` crashes renderers. The rest keep
 * Chromium from phoning home or updating itself in the background.
 */
export const SERVER_CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--mute-audio',
] as const;

/**
 * CHROMIUM_CONSOLIDATED: the GPU and network services run inside the browser process, and renderers
 * are started without the zygote, so a session's Chromium is about 3 processes instead of 7 (measured in
 * bench/, case 8). puppeteer merges `--enable-features` with its own.
 */
export const CONSOLIDATED_CHROMIUM_ARGS = ['--no-zygote', '--in-process-gpu', '--enable-features=NetworkServiceInProcess2'] as const;

export interface WhatsAppClientSettings {
  /** `SESSION_ID`: the LocalAuth `clientId`; the profile is `<sessionDir>/session-<sessionId>`. */
  readonly sessionId: string;
  /** `SESSION_DIR`: LocalAuth `dataPath`. */
  readonly sessionDir: string;
  /** `WWEBJS_CACHE_DIR`: where WhatsApp Web versions are cached. */
  readonly cacheDir: string;
  /** `CHROMIUM_PATH`. @defaultValue chromium-headless-shell, else chromium (see `resolveChromium`) */
  readonly chromiumPath?: string;
  /** Appended to {@link SERVER_CHROMIUM_ARGS}. */
  readonly extraArgs?: readonly string[];
}

/**
 * Options for one Client: call it once per Client (a LocalAuth instance binds to the Client it is given).
 * Throws when no Chromium is found, naming the fix.
 */
export function whatsappClientOptions(settings: WhatsAppClientSettings): wwebjs.ClientOptions {
  const chromium = resolveChromium(settings.chromiumPath);
  return {
    authStrategy: new wwebjs.LocalAuth({ clientId: settings.sessionId, dataPath: settings.sessionDir }),
    webVersionCache: { type: 'local', path: settings.cacheDir },
    puppeteer: {
      executablePath: chromium.executablePath,
      headless: chromium.headless,
      args: [...SERVER_CHROMIUM_ARGS, ...(settings.extraArgs ?? [])],
    },
  };
}
