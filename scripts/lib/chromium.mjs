// @ts-check
/**
 * Which Chromium the worker will run: `CHROMIUM_PATH` when set, else Debian's `chromium-headless-shell`
 * (about half the memory of new-headless `chromium`), else `chromium`. Same order as the worker's config.
 */
import { UserError } from './errors.mjs';
import { isExecutable } from './executables.mjs';

/** Debian's full Chromium (package `chromium`). */
export const FULL_CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium-headless-shell', FULL_CHROMIUM];

/**
 * @param {NodeJS.ProcessEnv} env
 * @returns {import('./system-packages.mjs').Requirement}
 */
export function chromiumRequirement(env) {
  const configured = env.CHROMIUM_PATH;
  if (configured) {
    // An explicit choice that is wrong is the person's to fix: installing another Chromium would not help.
    if (!isExecutable(configured)) {
      throw new UserError(
        `CHROMIUM_PATH=${configured} is not an executable file.\n` +
          `Point it at a Chromium/Chrome binary, or unset it to use ${CHROMIUM_CANDIDATES.join(' or ')}.`,
      );
    }
  }
  return {
    name: 'Chromium',
    packages: ['chromium', 'chromium-headless-shell'],
    find: () => (configured ? configured : CHROMIUM_CANDIDATES.find(isExecutable)),
    help:
      'Install it: sudo apt-get install chromium-headless-shell chromium (Debian/Ubuntu),\n' +
      'or set CHROMIUM_PATH to an installed Chromium or Chrome executable.',
  };
}
