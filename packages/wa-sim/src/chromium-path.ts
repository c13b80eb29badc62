import { accessSync, constants } from 'node:fs';

/**
 * Debian's `chromium-headless-shell` first (about half the memory of new-headless `chromium`), then
 * `chromium`. Launch the shell with puppeteer `headless: 'shell'` and the full browser with `headless: true`.
 */
export const CHROMIUM_CANDIDATES = [
  '/usr/bin/chromium-headless-shell',
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
] as const;

export interface ResolvedChromium {
  executablePath: string;
  /** puppeteer's `headless` value for this binary. */
  headless: true | 'shell';
}

/** The override when given (it must exist), else the first installed candidate; throws with the fix. */
export function resolveChromium(override?: string): ResolvedChromium {
  const candidates = override ? [override] : CHROMIUM_CANDIDATES;
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return { executablePath: path, headless: path.includes('headless-shell') ? 'shell' : true };
    } catch {
      // try the next one
    }
  }
  throw new Error(
    override
      ? `Chromium not found or not executable at ${override} (CHROMIUM_PATH). Fix the path or unset it.`
      : `No Chromium found (tried ${CHROMIUM_CANDIDATES.join(', ')}). Install it: apt-get install chromium-headless-shell, or set CHROMIUM_PATH.`,
  );
}
