/**
 * Client options that point the unmodified whatsapp-web.js at the simulator.
 *
 * How it works (verified with whatsapp-web.js 1.34.7): with `webVersionCache: { type: 'local', strict: true }`
 * and a `webVersion` whose `<version>.html` exists in the cache dir, `Client.initWebVersionCache()` answers
 * the request for exactly `https://web.whatsapp.com/` with that file through puppeteer request
 * interception. The page's origin is then really `https://web.whatsapp.com`, so its IndexedDB lives in the
 * LocalAuth profile like WhatsApp Web's does.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import wwebjs from 'whatsapp-web.js';
import { resolveChromium } from './chromium-path.js';
import { renderSimPage } from './page/render-sim-page.js';

/**
 * The fake WhatsApp Web version the simulator reports (`window.Debug.VERSION`) and is cached under.
 * Numeric and above any real 2.3000 build, so the library's version comparisons take their newest path.
 */
export const SIM_WEB_VERSION = '2.3000.1999999999';

/** The whatsapp-web.js version this simulator was checked against (the package pins it exactly). */
export const CHECKED_WWEBJS_VERSION = '1.34.7';

export interface SimClientConfig {
  /**
   * The account's URL: `PhoneServer.url` (the default account) or `simAccountUrl(url, id)` (account
   * `id`); the page opens `<phoneUrl>/ws`.
   */
  phoneUrl: string;
  /**
   * Web-version cache dir; the page is written there as `<SIM_WEB_VERSION>.html`, with `phoneUrl` in it.
   * One per account: whatsapp-web.js reads the file in `initialize()`, so clients of two accounts sharing
   * a dir could both end up on the account written last.
   */
  cacheDir: string;
  /** LocalAuth `dataPath` (the profile is `<dataPath>/session-<clientId>`). */
  dataPath: string;
  /** LocalAuth `clientId` (the session id). */
  clientId?: string;
  /** Chromium binary; default: chromium-headless-shell, then chromium (see resolveChromium). */
  chromiumPath?: string;
  /** Extra Chromium flags appended to the offline set. */
  extraArgs?: readonly string[];
}

/**
 * Flags for a Chromium that must not touch the network. `LocalNetworkAccessChecks` is disabled because
 * Chromium (v13x+) otherwise blocks the page's WebSocket from the public origin web.whatsapp.com to loopback.
 */
export const OFFLINE_CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=LocalNetworkAccessChecks',
] as const;

/** Write the simulator page into `cacheDir` (atomically) and return whatsapp-web.js Client options for it. */
export function prepareSimClientOptions(config: SimClientConfig): wwebjs.ClientOptions {
  writeSimPage(config.cacheDir, config.phoneUrl);
  const chromium = resolveChromium(config.chromiumPath);
  return {
    webVersion: SIM_WEB_VERSION,
    webVersionCache: { type: 'local', path: config.cacheDir, strict: true },
    authStrategy: new wwebjs.LocalAuth({ dataPath: config.dataPath, ...(config.clientId ? { clientId: config.clientId } : {}) }),
    puppeteer: {
      executablePath: chromium.executablePath,
      headless: chromium.headless,
      args: [...OFFLINE_CHROMIUM_ARGS, ...(config.extraArgs ?? [])],
    },
  };
}

/** Write `<cacheDir>/<SIM_WEB_VERSION>.html`; returns its path. */
export function writeSimPage(cacheDir: string, phoneUrl: string): string {
  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, `${SIM_WEB_VERSION}.html`);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, renderSimPage({ phoneUrl, version: SIM_WEB_VERSION }));
  renameSync(tmp, file);
  return file;
}
